"""Decides what to send after a scan, and queues it in the outbox in the
scan's own transaction: the notifications exist exactly when the history
that caused them does."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, select

from alerts import outbox
from alerts.config import AlertsConfig, DigestConfig, ReceiverConfig
from alerts.events import (
    Event,
    FindingFacts,
    KeyFacts,
    new_fingerprints,
    open_findings,
    reminder_for,
    transition_events,
)
from alerts.expiring import KIND as EXPIRING
from alerts.expiring import approver_rows, exception_reminders
from alerts.facts import accepted_findings
from alerts.payload import digest_document, digest_subject, event_document, event_subject
from alerts.routing import ConfiguredOwners, OwnerResolver, Router, Target
from scanner.models import Severity
from scanner.rules.catalog import ALL_RULES
from scanner.store.audit import last_restrictions_removed
from scanner.store.tables import Scan


@dataclass
class PlanStats:
    queued: Counter[str] = field(default_factory=Counter)  # new notifications by kind
    unowned_keys: int = 0
    baseline: bool = False  # the first scan: its transitions are not news

    def as_counts(self) -> dict[str, Any]:
        return {
            "queued": dict(self.queued),
            "unowned_keys": self.unowned_keys,
            "baseline": self.baseline,
        }


def _previous_scan(conn: Connection, scan_id: int) -> Any:
    return conn.execute(
        select(Scan.id, Scan.evaluated_at)
        .where(Scan.status == "succeeded", Scan.id < scan_id)
        .order_by(Scan.id.desc())
        .limit(1)
    ).first()


ALWAYS_IMMEDIATE = frozenset(meta.id for meta in ALL_RULES if meta.always_immediate)


def _bypasses_digest(event: Event, receiver: ReceiverConfig) -> bool:
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


def plan(
    conn: Connection,
    config: AlertsConfig,
    owners: OwnerResolver,
    scan_id: int,
    at: datetime,
) -> PlanStats:
    """Queue this scan's transitions, the reminders now due and the digests
    whose period began, for every target the routes give. One pass over the
    open findings serves reminders, digests and the count of unowned keys."""
    stats = PlanStats()
    router = Router(config, owners)
    previous = _previous_scan(conn, scan_id)
    stats.baseline = previous is None
    since = previous.evaluated_at if previous is not None else None
    removed_at = last_restrictions_removed(conn)
    events = [] if previous is None else transition_events(conn, scan_id)
    expiring = exception_reminders(conn, scan_id, at, since)
    events += expiring.events
    events = [replace(e, key=_with_history(e.key, removed_at)) for e in events]
    new = new_fingerprints(conn, scan_id)
    offsets = config.reminders.offsets_days
    every = timedelta(seconds=config.reminders.overdue_every)
    due = _due_digests(conn, config, at)
    per_target: PerTarget = {}
    digest_receivers = set(due)
    for found, finding in open_findings(conn, scan_id):
        key = _with_history(found, removed_at)
        targets = router.targets(key, finding)
        reminder = reminder_for(key, finding, at, since, finding.fingerprint in new, offsets, every)
        if reminder is not None:
            events.append(reminder)
        _collect(per_target, targets, digest_receivers, key, finding)
    accepted = _accepted_per_target(conn, router, scan_id, digest_receivers)
    rows = [row for event in events for row in _event_rows(config, router, event, scan_id, at)]
    rows += approver_rows(config, router, expiring.approvers, scan_id, at)
    for kind in ("transition", "reminder"):
        stats.queued[kind] = outbox.enqueue(conn, [r for r in rows if r["kind"] == kind])
    digest_rows = [
        _digest_row(
            config, target, due[target.receiver], keys, scan_id, at, len(accepted.get(target, ()))
        )
        for target, keys in sorted(per_target.items(), key=lambda item: str(item[0]))
    ]
    stats.queued["digest"] = outbox.enqueue(conn, digest_rows)
    stats.unowned_keys = len(router.unowned)
    return stats


PerTarget = dict[Target, dict[str, tuple[KeyFacts, list[FindingFacts]]]]


def _with_history(key: KeyFacts, removed: dict[str, tuple[str | None, datetime]]) -> KeyFacts:
    """The key with the last removal of its restrictions, when the audit log has one."""
    change = removed.get(key.name)
    return key if change is None else replace(key, restrictions_removed=change)


def _accepted_per_target(
    conn: Connection, router: Router, scan_id: int, receivers: set[str]
) -> dict[Target, set[str]]:
    """Per digest target, the keys with findings an exception accepts: a digest
    counts them and lists none."""
    if not receivers:
        return {}
    found: dict[Target, set[str]] = {}
    for key, finding, _ in accepted_findings(conn, scan_id):
        for target in router.targets(key, finding):
            if target.receiver in receivers:
                found.setdefault(target, set()).add(key.name)
    return found


def _collect(
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


def _event_rows(
    config: AlertsConfig, router: Router, event: Event, scan_id: int, at: datetime
) -> list[dict[str, Any]]:
    rows = []
    for target in router.targets(event.key, event.finding):
        receiver = config.receiver(target.receiver)
        if not _bypasses_digest(event, receiver):
            continue
        document = event_document(config, event, receiver.name, scan_id, at)
        kind = document["kind"]
        key = outbox.dedupe_key(
            kind, event.identity, target.receiver, target.channel, target.address
        )
        subject = event_subject(event)
        rows.append(
            outbox.notification_row(
                key,
                kind,
                receiver.name,
                target.channel,
                target.address,
                subject,
                document,
                scan_id,
                at,
            )
        )
    return rows


def _due_digests(conn: Connection, config: AlertsConfig, at: datetime) -> dict[str, int]:
    """Receivers whose digest for the current period is not queued yet: period."""
    due = {}
    for receiver in config.receivers:
        if receiver.digest is None:
            continue
        period = int(at.timestamp() // receiver.digest.every)
        if not outbox.digest_period_done(conn, receiver.name, period):
            due[receiver.name] = period
    return due


def _digest_row(
    config: AlertsConfig,
    target: Target,
    period: int,
    keys: dict[str, tuple[KeyFacts, list[FindingFacts]]],
    scan_id: int,
    at: datetime,
    accepted_keys: int = 0,
) -> dict[str, Any]:
    subject, document = _digest(config, target, keys, scan_id, at)
    document["accepted_keys"] = accepted_keys
    return outbox.notification_row(
        outbox.digest_key(target.receiver, period, target.channel, target.address),
        "digest",
        target.receiver,
        target.channel,
        target.address,
        subject,
        document,
        scan_id,
        at,
    )


def _digest(
    config: AlertsConfig,
    target: Target,
    keys: dict[str, tuple[KeyFacts, list[FindingFacts]]],
    scan_id: int,
    at: datetime,
) -> tuple[str, dict[str, Any]]:
    receiver = config.receiver(target.receiver)
    limit = receiver.digest.max_keys if receiver.digest else DigestConfig().max_keys
    document = digest_document(config, receiver.name, keys, scan_id, at, limit)
    return digest_subject(document), document


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
        _collect(per_target, router.targets(key, finding), receivers, key, finding)
    return [
        (target, *_digest(config, target, keys, scan_id, at))
        for target, keys in sorted(per_target.items(), key=lambda item: str(item[0]))
    ]


def scan_hook(
    config: AlertsConfig, owners: OwnerResolver | None = None
) -> Callable[[Connection, int, datetime], dict[str, Any]]:
    """What run_scan calls with its open transaction once history is written."""
    resolver = owners or ConfiguredOwners(config.owners)

    def hook(conn: Connection, scan_id: int, at: datetime) -> dict[str, Any]:
        return plan(conn, config, resolver, scan_id, at).as_counts()

    return hook
