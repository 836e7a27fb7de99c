"""Decides what to send after a scan, and queues it in the outbox in the
scan's own transaction: the notifications exist exactly when the history
that caused them does. The first scan of a database is a baseline: each
recipient gets one overview of what needs action, not a message per finding."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, select

from alerts import outbox
from alerts.config import AlertsConfig
from alerts.digest_content import DigestContent
from alerts.digests import (
    Contents,
    collect,
    digest_rows,
    due_digests,
    max_keys,
    overview_rows,
)
from alerts.events import (
    KeyFacts,
    changed_since,
    new_fingerprints,
    reminder_for,
    transition_events,
)
from alerts.expiring import approver_rows, exception_reminders
from alerts.facts import accepted_findings, usage_of
from alerts.news import gather, news_rows
from alerts.open_keys import open_keys
from alerts.routing import ConfiguredOwners, OwnerResolver, Router, Target
from scanner.store.audit import last_restrictions_removed
from scanner.store.tables import Scan


@dataclass
class PlanStats:
    queued: Counter[str] = field(default_factory=Counter)  # new notifications by kind
    unowned_keys: int = 0
    baseline: bool = False  # the first scan: one overview per recipient

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


def plan(
    conn: Connection,
    config: AlertsConfig,
    owners: OwnerResolver,
    scan_id: int,
    at: datetime,
) -> PlanStats:
    """Queue this scan's events (one message per key for receivers with a
    digest, one batch per scan for the others), the digests whose period
    began, and on the baseline one overview per recipient. One pass over the
    open findings serves reminders, digests and the count of unowned keys."""
    stats = PlanStats()
    router = Router(config, owners)
    previous = _previous_scan(conn, scan_id)
    stats.baseline = baseline = previous is None
    since = previous.evaluated_at if previous is not None else None
    removed_at = last_restrictions_removed(conn)
    expiring = exception_reminders(conn, scan_id, at, since)
    events = [] if baseline else [*transition_events(conn, scan_id), *expiring.events]
    new = set() if baseline else new_fingerprints(conn, scan_id)
    reminders = config.reminders
    offsets = reminders.offsets_days
    every = timedelta(seconds=reminders.overdue_every)
    cap = timedelta(seconds=reminders.max_overdue)
    due = due_digests(conn, config, at)
    listed = set(due) | ({r.name for r in config.receivers} if baseline else set())
    # On the baseline everything is new: none is marked.
    changed = {} if baseline else _changed_per_period(conn, config, due, at, scan_id)

    def make(target: Target) -> DigestContent | None:
        if target.receiver not in listed:
            return None
        digest = config.receiver(target.receiver).digest
        fresh = changed.get(digest.every, frozenset()) if digest is not None else frozenset()
        return DigestContent(config, target, max_keys(config, target.receiver), fresh)

    contents: Contents = {}
    for found, findings in open_keys(conn, scan_id):
        key = _with_history(found, removed_at)
        if not baseline:
            for finding in findings:
                is_new = finding.fingerprint in new
                reminder = reminder_for(key, finding, at, since, is_new, offsets, every, cap)
                if reminder is not None:
                    events.append(reminder)
        collect(contents, make, key, router.key_targets(key, findings))
    usage = usage_of(conn, scan_id, (e.key.name for e in events))
    events = [replace(e, key=_with_usage(_with_history(e.key, removed_at), usage)) for e in events]
    immediate, batched = gather(config, router, events, set(due))
    rows = news_rows(config, immediate, batched, scan_id, at)
    rows += approver_rows(config, router, expiring.approvers, scan_id, at)
    accepted = _accepted_per_target(conn, router, scan_id, set(due))
    for target, content in sorted(contents.items(), key=lambda item: str(item[0])):
        receiver = config.receiver(target.receiver)
        if receiver.name in due and receiver.digest is not None:
            period, n_accepted = due[receiver.name], len(accepted.get(target, ()))
            rows += digest_rows(config, target, period, content, scan_id, at, baseline, n_accepted)
        elif baseline and receiver.digest is None:
            rows += overview_rows(config, target, content, scan_id, at)
    for kind in sorted({r["kind"] for r in rows}):
        stats.queued[kind] = outbox.enqueue(conn, [r for r in rows if r["kind"] == kind])
    stats.unowned_keys = len(router.unowned)
    return stats


def _changed_per_period(
    conn: Connection, config: AlertsConfig, due: dict[str, int], at: datetime, scan_id: int
) -> dict[float, frozenset[str]]:
    """Per digest period of the receivers due: the findings new or worse within
    it, which their digests lead with."""
    changed: dict[float, frozenset[str]] = {}
    for name in sorted(due):
        digest = config.receiver(name).digest
        if digest is not None and digest.every not in changed:
            since = at - timedelta(seconds=digest.every)
            changed[digest.every] = changed_since(conn, since, scan_id)
    return changed


def _with_history(key: KeyFacts, removed: dict[str, tuple[str | None, datetime]]) -> KeyFacts:
    """The key with the last removal of its restrictions, when the audit log has one."""
    change = removed.get(key.name)
    return key if change is None else replace(key, restrictions_removed=change)


def _with_usage(key: KeyFacts, usage: dict[str, tuple[datetime | None, int]]) -> KeyFacts:
    figures = usage.get(key.name)
    if figures is None or key.requests_7d is not None:
        return key
    return replace(key, last_used=figures[0], requests_7d=figures[1])


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


def scan_hook(
    config: AlertsConfig, owners: OwnerResolver | None = None
) -> Callable[[Connection, int, datetime], dict[str, Any]]:
    """What run_scan calls with its open transaction once history is written."""
    resolver = owners or ConfiguredOwners(config.owners)

    def hook(conn: Connection, scan_id: int, at: datetime) -> dict[str, Any]:
        return plan(conn, config, resolver, scan_id, at).as_counts()

    return hook
