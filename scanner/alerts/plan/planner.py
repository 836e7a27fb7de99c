"""Decides what to send after a scan, and queues it in the outbox in the
scan's own transaction: the notifications exist exactly when the history
that caused them does. The first scan of a database is a baseline: each
recipient gets one overview of what needs action, not a message per finding.

Planning is an explicit list of small stages (STAGES), in the order they
run, each reading and adding to one Planning: the events of the scan, the
digest lines brought up to date, what the events' keys carry, the news
routed and grouped, the approvers' reminders, the digests and the
overviews, then the outbox and the count of keys nobody owns."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from scanner.alerts.content.digest_content import DigestContent
from scanner.alerts.facts import Event, FindingFacts, KeyFacts, Target
from scanner.alerts.plan import lines
from scanner.alerts.plan.digests import (
    Contents,
    collect,
    digest_rows,
    due_digests,
    max_keys,
    overview_rows,
)
from scanner.alerts.plan.events import transition_events
from scanner.alerts.plan.expiring import Reminders, approver_rows, exception_reminders
from scanner.alerts.plan.lines import Kept
from scanner.alerts.plan.news import gather, news_rows
from scanner.alerts.plan.reminders import reminder_events
from scanner.alerts.plan.routing import ConfiguredOwners, OwnerResolver, Router
from scanner.alerts.plan.stored_digest import Fresh, fresh_keys, in_full, read_digests
from scanner.alerts.store import outbox
from scanner.alerts.store.digest_lines import DigestLines
from scanner.alerts.store.facts import usage_of
from scanner.alerts.store.moves import changed_since, new_fingerprints, previous_scan
from scanner.config.alerts import AlertsConfig
from scanner.store.audit import last_restrictions_removed


@dataclass
class PlanStats:
    queued: Counter[str] = field(default_factory=Counter)  # new notifications by kind
    unowned_keys: int = 0
    baseline: bool = False  # the first scan: one overview per recipient
    lines_redone: int = 0  # keys whose digest lines were redone (scanner.alerts.plan.lines)
    lines_rebuilt: bool = False  # all of them, from history

    def as_counts(self) -> dict[str, Any]:
        return {
            "queued": dict(self.queued),
            "unowned_keys": self.unowned_keys,
            "baseline": self.baseline,
            "lines_redone": self.lines_redone,
            "lines_rebuilt": self.lines_rebuilt,
        }


@dataclass
class Planning:
    """What one scan's planning knows, stage by stage."""

    conn: Connection
    config: AlertsConfig
    router: Router
    scan_id: int
    at: datetime
    previous: Any  # the last succeeded scan before this one (id, evaluated_at), or None
    stats: PlanStats = field(default_factory=PlanStats)
    expiring: Reminders | None = None  # exceptions about to lapse
    events: list[Event] = field(default_factory=list)
    overviews: Contents = field(default_factory=dict)  # gathered on the baseline
    targets: dict[Target, Kept] = field(default_factory=dict)  # those with digest lines
    due: dict[str, int] = field(default_factory=dict)  # receiver -> its digest period due
    removed_at: dict[str, tuple[str | None, datetime]] = field(default_factory=dict)
    routed_unowned: set[str] = field(default_factory=set)  # unowned keys the lines routed
    maybe_closed: set[str] = field(default_factory=set)  # keys of events that may be closed
    rows: list[dict[str, Any]] = field(default_factory=list)  # notifications to queue

    @property
    def baseline(self) -> bool:
        return self.previous is None

    @property
    def with_digest(self) -> set[str]:
        return {r.name for r in self.config.receivers if r.digest is not None}


def read_events(run: Planning) -> None:
    """Transitions, exceptions about to lapse and deadline reminders; none on
    the baseline, whose overviews say it all."""
    since = run.previous.evaluated_at if run.previous else None
    run.expiring = exception_reminders(run.conn, run.scan_id, run.at, since)
    if run.previous is None:
        return
    new = new_fingerprints(run.conn, run.scan_id)
    run.events += [*transition_events(run.conn, run.scan_id), *run.expiring.events]
    run.events += reminder_events(
        run.conn, run.scan_id, run.at, run.previous.evaluated_at, new, run.config.reminders
    )


def read_transitions(run: Planning) -> None:
    """A feed scan's events: what its keys' findings did. Reminders, digests
    and approvers' notices are the full scans' (scanner.feed)."""
    run.events += transition_events(run.conn, run.scan_id)


def refresh_lines(run: Planning) -> None:
    """Digest lines brought to this scan (scanner.alerts.plan.lines); the baseline
    routes every key anyway, and gathers its overviews on the way."""
    config, with_digest = run.config, run.with_digest

    def make_overview(target: Target) -> DigestContent | None:
        if target.receiver in with_digest:
            return None
        return DigestContent(config, target, max_keys(config, target.receiver), frozenset())

    def overview(
        key: KeyFacts, routed: dict[Target, list[FindingFacts]], orders: dict[int, Any]
    ) -> None:
        collect(run.overviews, make_overview, key, routed, orders)

    refreshed = lines.refresh(
        run.conn, config, run.router, run.scan_id, with_digest, overview if run.baseline else None
    )
    run.targets = refreshed.targets
    run.stats.lines_redone, run.stats.lines_rebuilt = refreshed.redone, refreshed.rebuilt
    run.routed_unowned = set(run.router.unowned)


def find_due_digests(run: Planning) -> None:
    run.due = due_digests(run.conn, run.config, run.at)


def add_key_context(run: Planning) -> None:
    """Each event's key with its usage and the last removal of its
    restrictions (the audit log), which the messages show."""
    run.removed_at = last_restrictions_removed(run.conn)
    usage = usage_of(run.conn, run.scan_id, (e.key.name for e in run.events))
    run.events = [
        replace(e, key=_with_usage(_with_history(e.key, run.removed_at), usage)) for e in run.events
    ]
    # A reminder is about an open finding of an open key: its lines say if nobody owns it.
    run.maybe_closed = {e.key.name for e in run.events if e.kind != "reminder"}


def route_news(run: Planning) -> None:
    """Route each event and group it: a message per key for receivers with a
    digest, one batch per scan for the others."""
    immediate, batched = gather(run.config, run.router, run.events, set(run.due))
    run.rows += news_rows(run.config, immediate, batched, run.scan_id, run.at)


def mail_approvers(run: Planning) -> None:
    assert run.expiring is not None
    run.rows += approver_rows(run.config, run.router, run.expiring.approvers, run.scan_id, run.at)


def read_due_digests(run: Planning) -> None:
    """The digests whose period began, read from their lines and leading
    with the keys new or worse within the period (none on the baseline,
    where everything is new)."""
    conn, config, router = run.conn, run.config, run.router
    fresh = {} if run.baseline else _fresh_per_receiver(run)
    digests = read_digests(conn, config, router, run.scan_id, run.targets, set(run.due), fresh)
    for content in digests:
        content.shown = [(_with_history(k, run.removed_at), fs, n) for k, fs, n in content.shown]
        target = content.target
        period, accepted = run.due[target.receiver], content.accepted
        run.rows += digest_rows(
            config, target, period, content, run.scan_id, run.at, run.baseline, accepted
        )


def write_overviews(run: Planning) -> None:
    """On the baseline, one overview per recipient without a digest."""
    for content in in_full(run.conn, run.router, run.scan_id, run.overviews):
        content.shown = [(_with_history(k, run.removed_at), fs, n) for k, fs, n in content.shown]
        run.rows += overview_rows(run.config, content.target, content, run.scan_id, run.at)


def enqueue(run: Planning) -> None:
    for kind in sorted({r["kind"] for r in run.rows}):
        kept = [r for r in run.rows if r["kind"] == kind]
        run.stats.queued[kind] = outbox.enqueue(run.conn, kept)


def count_unowned(run: Planning) -> None:
    also = (run.router.unowned - run.routed_unowned) & run.maybe_closed
    run.stats.unowned_keys = DigestLines(run.conn).unowned_count(also)


STAGES: tuple[Callable[[Planning], None], ...] = (
    read_events,
    refresh_lines,
    find_due_digests,
    add_key_context,
    route_news,
    mail_approvers,
    read_due_digests,
    write_overviews,
    enqueue,
    count_unowned,
)


# A feed scan's: its keys' news, at once, grouped as a full scan groups them.
FEED_STAGES: tuple[Callable[[Planning], None], ...] = (
    read_transitions,
    refresh_lines,
    add_key_context,
    route_news,
    enqueue,
    count_unowned,
)


def plan(
    conn: Connection,
    config: AlertsConfig,
    owners: OwnerResolver,
    scan_id: int,
    at: datetime,
    stages: tuple[Callable[[Planning], None], ...] = STAGES,
) -> PlanStats:
    """Run STAGES for scan SCAN_ID, evaluated at AT, in its transaction."""
    previous = previous_scan(conn, scan_id)
    run = Planning(conn, config, Router(config, owners), scan_id, at, previous)
    run.stats.baseline = run.baseline
    for stage in stages:
        stage(run)
    return run.stats


def _fresh_per_receiver(run: Planning) -> dict[str, Fresh]:
    """Per receiver due, the keys with findings new or worse within its
    digest's period, which its digests lead with."""
    per_period = _changed_per_period(run)
    found = {
        every: fresh_keys(run.conn, run.router, run.scan_id, changed)
        for every, changed in per_period.items()
    }
    fresh: dict[str, Fresh] = {}
    for name in run.due:
        digest = run.config.receiver(name).digest
        if digest is not None:
            fresh[name] = found[digest.every]
    return fresh


def _changed_per_period(run: Planning) -> dict[float, frozenset[str]]:
    """Per digest period of the receivers due: the findings new or worse within
    it, which their digests lead with."""
    changed: dict[float, frozenset[str]] = {}
    for name in sorted(run.due):
        digest = run.config.receiver(name).digest
        if digest is not None and digest.every not in changed:
            since = run.at - timedelta(seconds=digest.every)
            changed[digest.every] = changed_since(run.conn, since, run.scan_id)
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


PlanHook = Callable[[Connection, int, datetime], dict[str, Any]]


def scan_hook(
    config: AlertsConfig,
    owners: OwnerResolver | None = None,
    stages: tuple[Callable[[Planning], None], ...] = STAGES,
) -> PlanHook:
    """What run_scan (or a feed scan, with FEED_STAGES) calls with its open
    transaction once history is written."""
    resolver = owners or ConfiguredOwners(config.owners)

    def hook(conn: Connection, scan_id: int, at: datetime) -> dict[str, Any]:
        return plan(conn, config, resolver, scan_id, at, stages).as_counts()

    return hook
