"""Digests and overviews: the keys that need action, per recipient, split
within the channel's limits. A digest goes once per receiver and period; an
overview is the first scan's single message to a recipient without one."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from alerts import outbox
from alerts.config import AlertsConfig, DigestConfig
from alerts.events import FindingFacts, KeyFacts, open_findings
from alerts.limits import split
from alerts.payload import digest_document, digest_subject
from alerts.routing import Router, Target
from alerts.why import why

PerTarget = dict[Target, dict[str, tuple[KeyFacts, list[FindingFacts]]]]


def collect(
    per_target: PerTarget,
    targets: list[Target],
    receivers: set[str],
    key: KeyFacts,
    finding: FindingFacts,
) -> None:
    """File FINDING under KEY for each target of RECEIVERS (a digest's content)."""
    for target in targets:
        if target.receiver in receivers:
            keys = per_target.setdefault(target, {})
            keys.setdefault(key.name, (key, []))[1].append(finding)


def due_digests(conn: Connection, config: AlertsConfig, at: datetime) -> dict[str, int]:
    """Receivers whose digest for the current period is not queued yet: period."""
    due = {}
    for receiver in config.receivers:
        if receiver.digest is None:
            continue
        period = int(at.timestamp() // receiver.digest.every)
        if not outbox.digest_period_done(conn, receiver.name, period):
            due[receiver.name] = period
    return due


def _document(
    config: AlertsConfig,
    target: Target,
    keys: dict[str, tuple[KeyFacts, list[FindingFacts]]],
    scan_id: int,
    at: datetime,
    changed: frozenset[str] = frozenset(),
    overview: bool = False,
) -> dict[str, Any]:
    receiver = config.receiver(target.receiver)
    limit = receiver.digest.max_keys if receiver.digest else DigestConfig().max_keys
    reason = why(config, target, [k for k, _ in keys.values()])
    return digest_document(
        config, receiver.name, reason, keys, scan_id, at, limit, changed, overview
    )


def _parts(
    config: AlertsConfig, target: Target, document: dict[str, Any]
) -> list[tuple[str, dict[str, Any]]]:
    parts = split(config, target, document, digest_subject)
    total = len(parts)
    return [
        (digest_subject(p) + (f" ({i}/{total})" if total > 1 else ""), p)
        for i, p in enumerate(parts, 1)
    ]


def digest_rows(
    config: AlertsConfig,
    target: Target,
    period: int,
    keys: dict[str, tuple[KeyFacts, list[FindingFacts]]],
    scan_id: int,
    at: datetime,
    changed: frozenset[str],
    overview: bool,
    accepted_keys: int,
) -> list[dict[str, Any]]:
    document = _document(config, target, keys, scan_id, at, changed, overview)
    document["accepted_keys"] = accepted_keys
    rows = []
    for index, (subject, part) in enumerate(_parts(config, target, document)):
        key = outbox.digest_key(target.receiver, period, target.channel, target.address)
        key = key if index == 0 else f"{key}:{index}"
        rows.append(outbox.target_row(target, key, "digest", subject, part, scan_id, at))
    return rows


def overview_rows(
    config: AlertsConfig,
    target: Target,
    keys: dict[str, tuple[KeyFacts, list[FindingFacts]]],
    scan_id: int,
    at: datetime,
) -> list[dict[str, Any]]:
    document = _document(config, target, keys, scan_id, at, overview=True)
    rows = []
    for index, (subject, part) in enumerate(_parts(config, target, document)):
        key = outbox.target_key(target, "overview", f"overview:{scan_id}:{index}")
        rows.append(outbox.target_row(target, key, "overview", subject, part, scan_id, at))
    return rows


def digests(
    conn: Connection,
    config: AlertsConfig,
    router: Router,
    scan_id: int,
    at: datetime,
    receivers: set[str],
) -> list[tuple[Target, str, dict[str, Any]]]:
    """What each target of RECEIVERS would get as a digest now (the preview)."""
    per_target: PerTarget = {}
    for key, finding in open_findings(conn, scan_id):
        collect(per_target, router.targets(key, finding), receivers, key, finding)
    found: list[tuple[Target, str, dict[str, Any]]] = []
    for target, keys in sorted(per_target.items(), key=lambda item: str(item[0])):
        document = _document(config, target, keys, scan_id, at)
        found.extend((target, subject, part) for subject, part in _parts(config, target, document))
    return found
