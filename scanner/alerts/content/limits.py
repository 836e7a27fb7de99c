"""Each channel's documented size limits, and the split of a message that
exceeds them into parts that each fit (up to alerts.overflow.max_parts; the
keys left over are counted in the last part, "and N more", with
alerts.links.report when set).

Limits: Slack accepts at most 50 blocks per message and 3,000 characters per
section text (https://api.slack.com/reference/block-kit/blocks); Google Chat
messages at most 32,000 bytes
(https://developers.google.com/workspace/chat/create-messages); Teams
webhook messages at most 28 KB
(https://learn.microsoft.com/en-us/microsoftteams/platform/webhooks-and-connectors/how-to/connectors-using).
Emails are kept under 100 KB, below Gmail's clipping at about 102 KB."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import orjson

from scanner.alerts.content.message import build_message
from scanner.alerts.content.render import EmailRenderer
from scanner.alerts.content.webhook_formats import webhook_body
from scanner.alerts.facts import Target
from scanner.config.alerts import AlertsConfig

SLACK_BLOCKS = 50
CHAT_BYTES = 32_000
TEAMS_BYTES = 28_000
EMAIL_BYTES = 100_000
GENERIC_BYTES = 1_000_000  # no documented limit; receivers' request limits are near 1 MB
_RENDERER = EmailRenderer()


def fullness(config: AlertsConfig, target: Target, document: dict[str, Any], subject: str) -> float:
    """How much of TARGET's limit DOCUMENT fills as sent: it fits at 1 or below."""
    if target.channel == "email":
        rendered = _RENDERER.render(subject, document)
        message = build_message(config.smtp, target.address, rendered, "size-check", False)
        return (len(message.as_bytes()) + 1) / EMAIL_BYTES  # under the limit, not at it
    receiver = config.receiver(target.receiver)
    webhook = next((w for w in receiver.webhooks if w.name == target.address), None)
    fmt = webhook.format if webhook is not None else "generic"
    body = webhook_body(fmt, document, subject, "size-check")
    if fmt == "slack":
        return len(json.loads(body)["blocks"]) / SLACK_BLOCKS
    limit = {"google_chat": CHAT_BYTES, "msteams": TEAMS_BYTES}.get(fmt, GENERIC_BYTES)
    return len(body) / limit


def split(
    config: AlertsConfig,
    target: Target,
    document: dict[str, Any],
    subject_of: Callable[[dict[str, Any]], str],
) -> list[dict[str, Any]]:
    """DOCUMENT as one or more parts, each within TARGET's limits."""

    def part(keys: list[dict[str, Any]], omitted: int) -> dict[str, Any]:
        return document | {"keys": keys, "omitted_keys": omitted}

    def load(candidate: dict[str, Any]) -> float:
        return fullness(config, target, candidate, subject_of(candidate))

    whole = load(document)
    if whole <= 1:
        return [document]
    keys = document["keys"]
    extra = document.get("omitted_keys", 0)
    parts: list[dict[str, Any]] = []
    start = 0
    # A message grows with each key about as the key's own JSON does: a guess
    # from each key's share of the whole lands within a key or two of the
    # answer, which a few renders confirm.
    empty = load(part([], len(keys) + extra))
    weights = [len(orjson.dumps(key)) for key in keys]
    per_byte = max(whole - empty, 0.0) / max(sum(weights), 1)
    while start < len(keys):
        rest = keys[start:]

        def fit(n: int, rest: list[dict[str, Any]] = rest) -> bool:
            return load(part(rest[:n], len(rest) - n + extra)) <= 1

        guess = _fitting(weights[start:], per_byte, 1 - empty)
        size = largest(fit, len(rest), guess, step=1)
        if len(parts) + 1 == config.overflow.max_parts:
            parts.append(part(rest[:size], len(rest) - size + extra))
            break
        parts.append(part(rest[:size], 0))
        start += size
    if not parts[-1]["omitted_keys"]:
        parts[-1]["omitted_keys"] = extra
    total = len(parts)
    return [p | {"part": {"index": i + 1, "of": total}} for i, p in enumerate(parts)]


def _fitting(weights: list[int], per_byte: float, room: float) -> int:
    """How many keys of these WEIGHTS fill ROOM at PER_BYTE: at least one."""
    used, n = 0.0, 0
    for weight in weights:
        used += weight * per_byte
        if used > room:
            break
        n += 1
    return max(n, 1)


def largest(fit: Callable[[int], bool], most: int, guess: int = 1, step: int = 0) -> int:
    """The largest n in 1..MOST with FIT(n) (FIT true up to some n, false
    after), galloping from GUESS by STEP (default: a 32nd of it), doubling,
    and then bisecting; at least 1, so that a key too large alone still goes
    (its channel decides)."""
    n = min(max(guess, 1), most)
    step = step or max(1, n // 32)
    if fit(n):
        good, bad = n, most + 1
        while good < most:
            probe = min(good + step, most)
            if not fit(probe):
                bad = probe
                break
            good, step = probe, step * 2
    else:
        good, bad = 0, n
        while bad > 1:
            probe = max(bad - step, 1)
            if fit(probe):
                good = probe
                break
            bad, step = probe, step * 2
        good = max(good, 1)
    while bad - good > 1:
        middle = (good + bad) // 2
        if fit(middle):
            good = middle
        else:
            bad = middle
    return good
