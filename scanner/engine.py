"""run_scan: source -> records -> findings -> store."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine

from scanner.audit.source import AuditSource
from scanner.config import Config
from scanner.errors import InputError, KeysentryError
from scanner.inventory.source import InventorySource
from scanner.models import (
    InventoryContext,
    KeyAssessment,
    KeyEvent,
    KeyRecord,
    KeyUsage,
    ScanStats,
)
from scanner.ownership import OwnerDirectory, with_creator
from scanner.rules.base import RuleContext
from scanner.rules.catalog import VERDICT_RULES
from scanner.rules.selection import (
    enabled,
    enabled_rules,
    project_findings,
    scan_notes,
    usage_notes,
)
from scanner.rules.verdict import assess
from scanner.store import scans
from scanner.store.audit import creators, record_events
from scanner.store.history import HistoryWriter
from scanner.store.leaks import leaks_by_key_name
from scanner.store.queries import latest_succeeded_scan
from scanner.store.tables import Scan
from scanner.store.usage import record_usage
from scanner.usage.source import UsageSource


class ScanCancelled(Exception):
    """The worker is shutting down and its grace period for this scan is over."""


class InventoryShrank(KeysentryError):
    """The inventory is much smaller than the last successful scan's."""


def shrink_problem(seen: int, before: int | None, max_shrink: float, what: str) -> str | None:
    """Why SEEN is too few against BEFORE (None: nothing to compare with)."""
    if not before:
        return None
    if seen == 0:
        return f"0 {what} seen, {before} in the last successful scan"
    floor = before * (1 - max_shrink)
    if seen < floor:
        return (
            f"{seen} {what} seen, {before} in the last successful scan "
            f"(inventory.max_shrink {max_shrink:g} allows {floor:g} or more)"
        )
    return None


class _Stage:
    """Where a scan is, so that a failure can say which stage it stopped in."""

    def __init__(self) -> None:
        self.name = "inventory"


def _stop_if_cancelled(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise ScanCancelled("cancelled: the worker is shutting down; nothing was recorded")


def _keys(
    keys: Iterator[KeyRecord], stage: _Stage, cancel: threading.Event | None
) -> Iterator[KeyRecord]:
    while True:
        stage.name = "inventory"
        _stop_if_cancelled(cancel)
        key = next(keys, None)
        if key is None:
            return
        stage.name = "evaluate"
        yield key


AfterHistory = Callable[[Connection, int, datetime], dict[str, Any]]


@dataclass(frozen=True, slots=True)
class ScanOutcome:
    scan_id: int
    stats: ScanStats


def run_scan(
    source: InventorySource,
    engine: Engine,
    config: Config,
    evaluated_at: datetime,
    cancel: threading.Event | None = None,
    after_history: AfterHistory | None = None,
    usage: UsageSource | None = None,
    audit: AuditSource | None = None,
    accept_shrink: bool = False,
) -> ScanOutcome:
    """Scan SOURCE into the store. On any failure the scan row records the
    error and its stage, nothing else in history changes, and the exception
    propagates. Setting CANCEL makes the scan stop at the next key. USAGE,
    when given, is queried for every project while the keys stream in; AUDIT,
    for key events since the last successful scan.
    AFTER_HISTORY runs in the scan's transaction once its history is written
    (the alert planner); what it returns is kept in the scan's counts. A scan
    that sees far fewer keys or projects than the last successful one fails
    (stage "shrink") unless ACCEPT_SHRINK."""
    scan_id = scans.begin_scan(engine, source.description, None, evaluated_at)
    run = _ScanRun(
        source,
        engine,
        config,
        evaluated_at,
        scan_id,
        cancel,
        after_history,
        usage,
        audit,
        accept_shrink,
    )
    try:
        stats = run.execute()
    except BaseException as exc:
        message = str(exc) or type(exc).__name__
        if isinstance(exc, KeyboardInterrupt):
            message = "interrupted"
        if isinstance(exc, ScanCancelled | KeyboardInterrupt):
            run.stage.name = "shutdown"
        try:
            scans.fail_scan(engine, scan_id, message, run.stage.name, source.assets_read)
        except Exception as record_error:  # the scan's own error matters more
            exc.add_note(f"the failure could not be recorded on scan {scan_id}: {record_error}")
        raise
    return ScanOutcome(scan_id, stats)


@dataclass
class _ScanRun:
    source: InventorySource
    engine: Engine
    config: Config
    evaluated_at: datetime
    scan_id: int
    cancel: threading.Event | None
    after_history: AfterHistory | None
    usage: UsageSource | None
    audit: AuditSource | None
    accept_shrink: bool
    stage: _Stage = field(default_factory=_Stage)
    events: list[KeyEvent] = field(default_factory=list)
    latest: Scan | None = None  # the last successful scan before this one
    notes: list[str] = field(default_factory=list)

    def execute(self) -> ScanStats:
        # Read before the history writer opens its transaction: a second SQLite
        # connection reading during it costs a page cache of its own.
        self.latest = latest_succeeded_scan(self.engine)
        context = self.source.load_context()
        scans.set_scope(self.engine, self.scan_id, context.scope)
        if self.audit is not None:
            self._read_audit(context)
        if self.usage is not None:
            self.usage.start(context.projects.values(), self.evaluated_at)
        try:
            return self._assess_and_store(context)
        finally:
            if self.usage is not None:
                self.usage.close()

    def _check_shrink(self, keys: int, projects: int) -> None:
        latest = self.latest
        if latest is None or self.accept_shrink:
            return
        limit = self.config.inventory.max_shrink
        before_projects = (latest.counts or {}).get("inventory", {}).get("projects")
        problems = [
            p
            for p in (
                shrink_problem(keys, latest.keys_total, limit, "keys"),
                shrink_problem(projects, before_projects, limit, "projects"),
            )
            if p
        ]
        if problems:
            self.stage.name = "shrink"
            raise InventoryShrank(
                f"the inventory shrank: {'; '.join(problems)}; nothing was recorded. If the "
                "organization really shrank, scan again with --accept-shrink"
            )

    def _read_audit(self, context: InventoryContext) -> None:
        assert self.audit is not None
        latest = self.latest
        first = self.evaluated_at - timedelta(days=self.config.audit.first_lookback_days)
        since = latest.evaluated_at if latest is not None else first
        self.events = self.audit.read(context.projects.values(), since, self.evaluated_at)
        if self.audit.errors:
            shown = "; ".join(f"{p}: {e}" for p, e in sorted(self.audit.errors.items())[:3])
            self.notes.append(f"key events missing for some projects: {shown}")

    def _creators(self) -> dict[str, str]:
        with self.engine.connect() as conn:
            found = creators(conn)
        for event in self.events:
            if event.method == "CreateKey" and event.principal and event.key_name not in found:
                found[event.key_name] = event.principal
        return found

    def _enricher(self, context: InventoryContext) -> Callable[[KeyRecord], KeyRecord]:
        """Adds to each listed key what the other sources know of it."""
        created_by = self._creators() if self.audit is not None else {}
        with self.engine.connect() as conn:
            numbers = {p.project_id: p.number for p in context.projects.values() if p.project_id}
            leaks = leaks_by_key_name(conn, numbers)
        owners = OwnerDirectory(context.projects, context.iam, self.config.ownership)
        usage = self.usage

        def enrich(listed: KeyRecord) -> KeyRecord:
            creator = created_by.get(listed.name)
            return replace(
                listed,
                owners=with_creator(owners.owners(listed.project_number), creator),
                usage=usage.for_key(listed) if usage is not None else None,
                creator=creator,
                key_admins=owners.key_admins(listed.project_number),
                leaks=leaks.get(listed.name, ()),
            )

        return enrich

    def _store(self, writer: HistoryWriter, assessment: KeyAssessment) -> None:
        try:
            writer.add(assessment)
        except InputError as exc:  # the same key twice: say where the second is
            where = self.source.position
            raise InputError(f"{where}: {exc}" if where else str(exc)) from None

    def _assess_and_store(self, context: InventoryContext) -> ScanStats:
        config, usage = self.config, self.usage
        usage_available = usage is not None
        iam_available = context.iam is not None
        ctx = RuleContext(config, self.evaluated_at, usage_available, context.iam, context.projects)
        rules = enabled_rules(config, usage_available, iam_available)
        after = enabled(VERDICT_RULES, config, usage_available, iam_available)
        notes = scan_notes(config, usage_available, context.services_known, iam_available)
        stats = ScanStats(notes=notes + self.notes)
        enrich = self._enricher(context)
        by_status: Counter[str] = Counter()
        by_severity: Counter[str] = Counter()
        usage_rows: list[tuple[str, KeyUsage]] = []
        stage = self.stage
        stage.name = "store"
        with HistoryWriter(self.engine, self.scan_id, self.evaluated_at) as writer:
            for listed in _keys(iter(self.source.iter_keys(context)), stage, self.cancel):
                key = enrich(listed)
                assessment = assess(key, rules, ctx, after)
                if key.usage is not None:
                    usage_rows.append((key.name, key.usage))
                stage.name = "store"
                self._store(writer, assessment)
                by_status[assessment.status.value] += 1
                by_severity.update(f.severity.value for f in assessment.findings)
            stage.name = "evaluate"
            of_projects = project_findings(context, config, ctx)
            stage.name = "store"
            writer.add_findings(of_projects)
            by_severity.update(f.severity.value for f in of_projects)
            if usage is not None:
                stats.notes.extend(usage_notes(usage.errors, usage.unmatched_series()))
            stats.keys_total = sum(by_status.values())
            self._check_shrink(stats.keys_total, len(context.projects))
            stats.assets_read = self.source.assets_read
            stats.by_status = dict(by_status)
            stats.by_severity = dict(by_severity)
            writer.finish(stats)
            scans.add_counts(
                writer.connection, self.scan_id, "inventory", {"projects": len(context.projects)}
            )
            record_usage(writer.connection, self.scan_id, usage_rows)
            record_events(writer.connection, self.scan_id, self.events)
            if self.after_history is not None:
                stage.name = "alerts"
                extra = self.after_history(writer.connection, self.scan_id, self.evaluated_at)
                stats.alerts = extra
                scans.add_counts(writer.connection, self.scan_id, "alerts", extra)
        return stats
