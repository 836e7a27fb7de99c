"""Decides what to send after a scan, and queues it in the outbox in the
scan's own transaction: the notifications exist exactly when the history
that caused them does."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, select

from alerts import outbox
from alerts.config import AlertsConfig, DigestConfig, ReceiverConfig
from alerts.events import (
    Event,
    FindingFacts,
    KeyFacts,
    open_findings,
    reminder_events,
    transition_events,
)
from alerts.payload import digest_document, digest_subject, event_document, event_subject
from alerts.routing import ConfiguredOwners, OwnerResolver, Router, Target
from scanner.models import Severity
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


def _bypasses_digest(event: Event, receiver: ReceiverConfig) -> bool:
    digest = receiver.digest
    if digest is None:
        return True
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
    whose period began, for every target the routes give."""
    stats = PlanStats()
    router = Router(config, owners)
    previous = _previous_scan(conn, scan_id)
    stats.baseline = previous is None
    events = [] if previous is None else transition_events(conn, scan_id)
    reminders = config.reminders
    events += reminder_events(
        conn,
        scan_id,
        at,
        previous.evaluated_at if previous is not None else None,
        reminders.offsets_days,
        timedelta(seconds=reminders.overdue_every),
    )
    rows = []
    for event in events:
        for target in router.targets(event.key, event.finding):
            receiver = config.receiver(target.receiver)
            if not _bypasses_digest(event, receiver):
                continue
            document = event_document(config, event, receiver.name, scan_id, at)
            kind = document["kind"]
            key = outbox.dedupe_key(
                kind, event.identity, target.receiver, target.channel, target.address
            )
            rows.append(
                outbox.notification_row(
                    key,
                    kind,
                    receiver.name,
                    target.channel,
                    target.address,
                    event_subject(event),
                    document,
                    scan_id,
                    at,
                )
            )
    stats.queued["transition"] = outbox.enqueue(
        conn, [r for r in rows if r["kind"] == "transition"]
    )
    stats.queued["reminder"] = outbox.enqueue(conn, [r for r in rows if r["kind"] == "reminder"])
    stats.queued["digest"] = _plan_digests(conn, config, router, scan_id, at)
    stats.unowned_keys = len(router.unowned)
    return stats


def _plan_digests(
    conn: Connection, config: AlertsConfig, router: Router, scan_id: int, at: datetime
) -> int:
    due = {}
    for receiver in config.receivers:
        if receiver.digest is None:
            continue
        period = int(at.timestamp() // receiver.digest.every)
        if not outbox.digest_period_done(conn, receiver.name, period):
            due[receiver.name] = period
    if not due:
        return 0
    rows = [
        outbox.notification_row(
            outbox.digest_key(
                target.receiver, due[target.receiver], target.channel, target.address
            ),
            "digest",
            target.receiver,
            target.channel,
            target.address,
            subject,
            document,
            scan_id,
            at,
        )
        for target, subject, document in digests(conn, config, router, scan_id, at, set(due))
    ]
    return outbox.enqueue(conn, rows)


def digests(
    conn: Connection,
    config: AlertsConfig,
    router: Router,
    scan_id: int,
    at: datetime,
    receivers: set[str],
) -> list[tuple[Target, str, dict[str, Any]]]:
    """For each target of RECEIVERS: its keys with open findings, as a digest."""
    per_target: dict[Target, dict[str, tuple[KeyFacts, list[FindingFacts]]]] = {}
    for key, finding in open_findings(conn, scan_id):
        for target in router.targets(key, finding):
            if target.receiver in receivers:
                keys = per_target.setdefault(target, {})
                keys.setdefault(key.name, (key, []))[1].append(finding)
    found = []
    for target, keys in sorted(per_target.items(), key=lambda item: str(item[0])):
        receiver = config.receiver(target.receiver)
        limit = receiver.digest.max_keys if receiver.digest else DigestConfig().max_keys
        document = digest_document(config, receiver.name, keys, scan_id, at, limit)
        found.append((target, digest_subject(document), document))
    return found


def scan_hook(
    config: AlertsConfig, owners: OwnerResolver | None = None
) -> Callable[[Connection, int, datetime], dict[str, Any]]:
    """What run_scan calls with its open transaction once history is written."""
    resolver = owners or ConfiguredOwners(config.owners)

    def hook(conn: Connection, scan_id: int, at: datetime) -> dict[str, Any]:
        return plan(conn, config, resolver, scan_id, at).as_counts()

    return hook
