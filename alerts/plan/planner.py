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

from sqlalchemy import Connection, func, select

from alerts.content.digest_content import DigestContent
from alerts.facts import Event, FindingFacts, KeyFacts, Target
from alerts.plan import lines
from alerts.plan.digests import Contents, collect, digest_rows, due_digests, max_keys, overview_rows
from alerts.plan.events import changed_since, new_fingerprints, transition_events
from alerts.plan.expiring import approver_rows, exception_reminders
from alerts.plan.news import gather, news_rows
from alerts.plan.reminders import reminder_events
from alerts.plan.routing import ConfiguredOwners, OwnerResolver, Router
from alerts.plan.stored_digest import Fresh, fresh_keys, in_full, read_digests
from alerts.store import outbox
from alerts.store.facts import CHUNK, usage_of
from scanner.config.alerts import AlertsConfig
from scanner.store.audit import last_restrictions_removed
from scanner.store.tables import Scan, UnownedKey


@dataclass
class PlanStats:
    queued: Counter[str] = field(default_factory=Counter)  # new notifications by kind
    unowned_keys: int = 0
    baseline: bool = False  # the first scan: one overview per recipient
    lines_redone: int = 0  # keys whose digest lines were redone (alerts.plan.lines)
    lines_rebuilt: bool = False  # all of them, from history

    def as_counts(self) -> dict[str, Any]:
        return {
            "queued": dict(self.queued),
            "unowned_keys": self.unowned_keys,
            "baseline": self.baseline,
            "lines_redone": self.lines_redone,
            "lines_rebuilt": self.lines_rebuilt,
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
    began, and on the baseline one overview per recipient. Digests read the
    digest lines (alerts.plan.lines), brought up to date from the keys that moved."""
    stats = PlanStats()
    router = Router(config, owners)
    previous = _previous_scan(conn, scan_id)
    stats.baseline = baseline = previous is None
    removed_at = last_restrictions_removed(conn)
    expiring = exception_reminders(conn, scan_id, at, previous.evaluated_at if previous else None)
    events: list[Event] = []
    if previous is not None:
        new = new_fingerprints(conn, scan_id)
        events += [*transition_events(conn, scan_id), *expiring.events]
        events += reminder_events(conn, scan_id, at, previous.evaluated_at, new, config.reminders)
    with_digest = {r.name for r in config.receivers if r.digest is not None}
    overviews: Contents = {}

    def overview(
        key: KeyFacts, routed: dict[Target, list[FindingFacts]], orders: dict[int, Any]
    ) -> None:
        collect(overviews, make_overview, key, routed, orders)

    def make_overview(target: Target) -> DigestContent | None:
        if target.receiver in with_digest:
            return None
        return DigestContent(config, target, max_keys(config, target.receiver), frozenset())

    # The baseline routes every key anyway: its overviews are gathered on the way.
    refreshed = lines.refresh(
        conn, config, router, scan_id, with_digest, overview if baseline else None
    )
    targets = refreshed.targets
    stats.lines_redone, stats.lines_rebuilt = refreshed.redone, refreshed.rebuilt
    due = due_digests(conn, config, at)
    usage = usage_of(conn, scan_id, (e.key.name for e in events))
    events = [replace(e, key=_with_usage(_with_history(e.key, removed_at), usage)) for e in events]
    routed = set(router.unowned)
    # A reminder is about an open finding of an open key: its lines say if nobody owns it.
    maybe_closed = {e.key.name for e in events if e.kind != "reminder"}
    immediate, batched = gather(config, router, events, set(due))
    rows = news_rows(config, immediate, batched, scan_id, at)
    rows += approver_rows(config, router, expiring.approvers, scan_id, at)
    # On the baseline everything is new: none is marked.
    fresh = {} if baseline else _fresh_per_receiver(conn, config, router, due, at, scan_id)
    digests = read_digests(conn, config, router, scan_id, targets, set(due), fresh)
    firsts = in_full(conn, router, scan_id, overviews)
    for content in [*digests, *firsts]:
        content.shown = [(_with_history(k, removed_at), fs, new) for k, fs, new in content.shown]
    for content in digests:
        target = content.target
        period, n_accepted = due[target.receiver], content.accepted
        rows += digest_rows(config, target, period, content, scan_id, at, baseline, n_accepted)
    for content in firsts:
        rows += overview_rows(config, content.target, content, scan_id, at)
    for kind in sorted({r["kind"] for r in rows}):
        stats.queued[kind] = outbox.enqueue(conn, [r for r in rows if r["kind"] == kind])
    stats.unowned_keys = _unowned(conn, (router.unowned - routed) & maybe_closed)
    return stats


def _unowned(conn: Connection, also: set[str]) -> int:
    """Open keys routed to owners nobody knows, and those of ALSO (keys of
    events that may be closed) that are not among them."""
    found = conn.scalar(select(func.count()).select_from(UnownedKey)) or 0
    ordered = sorted(also)
    for start in range(0, len(ordered), CHUNK):
        chunk = ordered[start : start + CHUNK]
        known = conn.scalar(
            select(func.count()).select_from(UnownedKey).where(UnownedKey.key_name.in_(chunk))
        )
        found += len(chunk) - (known or 0)
    return found


def _fresh_per_receiver(
    conn: Connection,
    config: AlertsConfig,
    router: Router,
    due: dict[str, int],
    at: datetime,
    scan_id: int,
) -> dict[str, Fresh]:
    """Per receiver due, the keys with findings new or worse within its
    digest's period, which its digests lead with."""
    per_period = _changed_per_period(conn, config, due, at, scan_id)
    found = {
        every: fresh_keys(conn, router, scan_id, changed) for every, changed in per_period.items()
    }
    fresh: dict[str, Fresh] = {}
    for name in due:
        digest = config.receiver(name).digest
        if digest is not None:
            fresh[name] = found[digest.every]
    return fresh


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
    return key if change is None else key._replace(restrictions_removed=change)


def _with_usage(key: KeyFacts, usage: dict[str, tuple[datetime | None, int]]) -> KeyFacts:
    figures = usage.get(key.name)
    if figures is None or key.requests_7d is not None:
        return key
    return key._replace(last_used=figures[0], requests_7d=figures[1])


def scan_hook(
    config: AlertsConfig, owners: OwnerResolver | None = None
) -> Callable[[Connection, int, datetime], dict[str, Any]]:
    """What run_scan calls with its open transaction once history is written."""
    resolver = owners or ConfiguredOwners(config.owners)

    def hook(conn: Connection, scan_id: int, at: datetime) -> dict[str, Any]:
        return plan(conn, config, resolver, scan_id, at).as_counts()

    return hook
