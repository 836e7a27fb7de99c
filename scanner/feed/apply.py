"""Applies Cloud Asset feed messages to history: a scan of kind `feed` that
judges only the keys the messages name, with the inventory context last
stored (the last full scan's, as feed scans since have edited it), the
usage that scan read, and the leak reports and key creators history holds;
writes what moved, plans the alerts and seals its chain entry, in one
transaction. Messages about what the rules read besides keys (services,
IAM) edit that context (scanner.feed.context_edit): the scan judges again
the open keys they reach, as history holds them (scanner.feed.keys), and
stores the edited context for the feed scans after it.

Messages come at least once and in any order: of several about one key the
newest counts, and one no newer than what history holds of the key changes
nothing. Keys are judged as a full scan would judge them with the same
inputs; the next full scan is the reconciliation, and counts a key it finds
changed that no feed scan recorded (`counts.feed.missed`)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Engine

from scanner.alerts.plan.planner import PlanHook
from scanner.config import Config
from scanner.core.errors import KeysentryError
from scanner.core.models import ScanStats
from scanner.exceptions.matching import ExceptionsInForce
from scanner.feed.context_edit import ContextEdit
from scanner.feed.keys import FeedKeys
from scanner.feed.messages import Change
from scanner.rules.base import RuleContext
from scanner.rules.catalog import VERDICT_RULES
from scanner.rules.selection import enabled, enabled_rules, project_findings, resolution_for
from scanner.rules.verdict import assess
from scanner.scan.in_force import in_force_document, judging_changed
from scanner.store import scans
from scanner.store.chain import seal
from scanner.store.configs import record_config
from scanner.store.contexts import Judged, last_judged, record_context
from scanner.store.feed_keys import Held, latest_versions
from scanner.store.history.writer import HistoryWriter
from scanner.store.queries import latest_succeeded_scan
from scanner.store.tables import Scan

FEED = "feed"


class FeedError(KeysentryError):
    """The feed cannot be applied (no full scan to judge with yet)."""


@dataclass
class FeedOutcome:
    scan_id: int | None = None  # None: nothing to write
    outcomes: Counter[str] = field(default_factory=Counter)  # per message: applied, stale, ...
    stats: ScanStats | None = None
    applied: list[Change] = field(default_factory=list)


def newest(changes: Sequence[Change]) -> dict[tuple[str, str], Change]:
    """The newest change of each asset (a deletion wins a tie), by subject."""
    found: dict[tuple[str, str], Change] = {}
    for change in changes:
        held = found.get(change.subject)
        if held is None or (change.at, change.deleted) > (held.at, held.deleted):
            found[change.subject] = change
    return found


def _news(change: Change, held: Held | None) -> str:
    """applied, or why the change is not: stale (older than what history
    holds) or duplicate (what history already holds)."""
    if held is None:
        return "duplicate" if change.deleted else "applied"
    if held.updated is not None and change.at < held.updated:
        return "stale"
    if held.left is not None:  # the key is gone from history
        if change.deleted:
            return "duplicate"
        return "stale" if change.at <= held.left else "applied"
    if change.deleted:
        return "applied"
    return "duplicate" if change.at == held.updated else "applied"


def apply_changes(
    engine: Engine,
    config: Config,
    changes: Sequence[Change],
    at: datetime,
    source: str,
    plan: PlanHook | None = None,
) -> FeedOutcome:
    """CHANGES into history as one feed scan evaluated at AT (from SOURCE, a
    subscription or a file); PLAN queues the alerts in its transaction."""
    outcome = FeedOutcome()
    latest = latest_succeeded_scan(engine)
    if latest is None:
        raise FeedError("no full scan yet: run `keysentry scan` first; the feed changes its keys")
    with engine.connect() as conn:
        judged = last_judged(conn)
        if judged is None:
            raise FeedError(
                f"scan {latest.id} stored no inventory context (it ran before this version): "
                "the next full scan stores one"
            )
        wanted = newest(changes)
        outcome.outcomes["superseded"] = len(changes) - len(wanted)
        keys = {c.name: c for c in wanted.values() if c.is_key}
        held = latest_versions(conn, sorted(keys))
        news = {name: _news(c, held.get(name)) for name, c in keys.items()}
    outcome.outcomes.update(news.values())
    edit = ContextEdit(judged, latest.evaluated_at, config.gemini.project_services)
    for change in sorted((c for c in wanted.values() if not c.is_key), key=lambda c: c.at):
        outcome.outcomes[edit.apply(change)] += 1
    applied = sorted(name for name, what in news.items() if what == "applied")
    edited = bool(edit.applied)
    if not applied and not edited:
        return outcome
    outcome.applied = [keys[n] for n in applied] + edit.applied
    if edited:
        judged = edit.judged()
    judging = FeedKeys(engine, config, judged, [keys[n] for n in applied], edit.reach)
    work = _Work(judged, edited, judging, sorted(edit.reach.projects))
    outcome.scan_id, outcome.stats = _write(engine, config, work, latest, at, source, plan)
    return outcome


@dataclass(frozen=True)
class _Work:
    """What a feed scan writes: KEYS judged with JUDGED, stored when EDITED;
    the PROJECTS whose project findings it judges again."""

    judged: Judged
    edited: bool
    keys: FeedKeys
    projects: list[str]


def _write(
    engine: Engine,
    config: Config,
    work: _Work,
    latest: Scan,
    at: datetime,
    source: str,
    plan: PlanHook | None,
) -> tuple[int, ScanStats]:
    context = work.judged.context
    usage_read, iam_read = work.judged.usage_read, context.iam is not None
    rules = enabled_rules(config, usage_read, iam_read)
    after = enabled(VERDICT_RULES, config, usage_read, iam_read)
    ctx = RuleContext(config, at, usage_read, context.iam, context.projects)
    exceptions = ExceptionsInForce(config.exceptions.entries, at.date())
    subjects = [f"projects/{n}" for n in work.projects]
    with engine.begin() as conn:
        names = work.keys.names(conn)
        stats = ScanStats(assets_read=len(names))
        scan_id = scans.insert_scan(conn, source, context.scope, at, kind=FEED)
        document = in_force_document(config)
        digest = record_config(conn, scan_id, document)
        resolution = resolution_for(
            config,
            usage_read,
            iam_read,
            frozenset(f"projects/{p.number}" for p in context.projects.values()),
            config_changed=judging_changed(conn, latest.config_digest, digest, document),
            lapsed_exceptions=frozenset(exceptions.lapsed),
        )
        resolution.deleted.update(work.keys.deleted)
        writer = HistoryWriter(conn, scan_id, at, resolution, only=names + subjects)
        by_status: Counter[str] = Counter()
        by_severity: Counter[str] = Counter()
        for record in work.keys.records(conn):
            assessment = assess(record, rules, ctx, after, exceptions)
            # A key judged again as history holds it keeps the digest it was listed with.
            held = writer.open_version(record.name)
            writer.add(assessment, held.source_hash if held is not None else None)
            by_status[assessment.status.value] += 1
            by_severity.update(
                f.severity.value for f in assessment.findings if f.accepted_by is None
            )
        if work.projects:
            writer.add_findings(project_findings(context, config, ctx, exceptions, work.projects))
        stats.keys_total = by_status.total()
        stats.by_status, stats.by_severity = dict(by_status), dict(by_severity)
        writer.finish(stats)
        scans.set_whole_counts(conn, scan_id)
        scans.set_config(conn, scan_id, digest)
        if work.edited:
            record_context(conn, scan_id, work.judged)
        if plan is not None:
            stats.alerts = plan(conn, scan_id, at)
            scans.add_counts(conn, scan_id, "alerts", stats.alerts)
        seal(conn, scan_id)
    return scan_id, stats
