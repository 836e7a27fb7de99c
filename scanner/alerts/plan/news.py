"""A scan's events grouped into messages: the findings of one key that
changed in one scan go out together. A receiver with a digest gets at once
only the events that bypass it, as one message per key and day; a receiver
without one gets one batch message per scan with every key's events."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from scanner.alerts.content.limits import split
from scanner.alerts.content.payload import news_document, news_subject
from scanner.alerts.content.why import why
from scanner.alerts.facts import Event, KeyFacts, Target
from scanner.alerts.plan.expiring import KIND as EXPIRING
from scanner.alerts.plan.routing import Router
from scanner.alerts.store import outbox
from scanner.config.alerts import AlertsConfig, ReceiverConfig
from scanner.core.models import Severity
from scanner.rules.catalog import ALL_RULES

ALWAYS_IMMEDIATE = frozenset(meta.id for meta in ALL_RULES if meta.always_immediate)

# Per target, per key name: the key and its events, in arrival order.
News = dict[Target, dict[str, tuple[KeyFacts, list[Event]]]]


def bypasses_digest(event: Event, receiver: ReceiverConfig) -> bool:
    digest = receiver.digest
    if digest is None:
        return True
    if event.kind == "opened" and event.finding.rule in ALWAYS_IMMEDIATE:
        return True
    if event.kind == EXPIRING:
        return True  # digests leave accepted findings out: this is the only word of it
    if event.kind == "reminder" or digest.bypass_severity is None:
        return False
    return Severity(event.finding.severity).rank >= digest.bypass_severity.rank


# What a digest shows of itself: open findings, the new ones first.
IN_DIGEST = frozenset({"opened", "escalated", "reminder"})


def gather(
    config: AlertsConfig, router: Router, events: list[Event], digests_due: set[str]
) -> tuple[News, News]:
    """(immediate, batched): events for receivers with a digest that bypass
    it, and events for receivers without one. A receiver whose digest goes
    out with this scan finds its new findings there, not in a message of
    their own: one message per key and day."""
    immediate: News = {}
    batched: News = {}
    for event in events:
        for target in router.targets(event.key, event.finding):
            receiver = config.receiver(target.receiver)
            if receiver.digest is None:
                into = batched
            elif receiver.name in digests_due and event.kind in IN_DIGEST:
                continue
            elif bypasses_digest(event, receiver):
                into = immediate
            else:
                continue
            per_key = into.setdefault(target, {})
            per_key.setdefault(event.key.name, (event.key, []))[1].append(event)
    return immediate, batched


def news_rows(
    config: AlertsConfig, immediate: News, batched: News, scan_id: int, at: datetime
) -> list[dict[str, Any]]:
    rows = []
    day = at.date().isoformat()
    for target, per_key in sorted(immediate.items(), key=lambda item: str(item[0])):
        for name, (key, events) in sorted(per_key.items()):
            # At most one message per key and day: later events wait for the digest.
            identity = f"k:{name}:{day}"
            rows += _rows(config, target, False, [(key, events)], identity, scan_id, at)
    for target, per_key in sorted(batched.items(), key=lambda item: str(item[0])):
        news = [per_key[name] for name in sorted(per_key)]
        rows += _rows(config, target, True, news, f"b:{scan_id}", scan_id, at)
    return rows


def _rows(
    config: AlertsConfig,
    target: Target,
    batch: bool,
    news: list[tuple[KeyFacts, list[Event]]],
    identity: str,
    scan_id: int,
    at: datetime,
) -> list[dict[str, Any]]:
    reason = why(config, target, [key for key, _ in news])
    document = news_document(config, batch, target.receiver, reason, news, scan_id, at)
    rows = []
    parts = split(config, target, document, news_subject)
    for index, part in enumerate(parts):
        subject = news_subject(part) + (f" ({index + 1}/{len(parts)})" if len(parts) > 1 else "")
        kind = part["kind"]
        key = outbox.target_key(target, kind, f"{identity}:{index}")
        rows.append(outbox.target_row(target, key, kind, subject, part, scan_id, at))
    return rows
