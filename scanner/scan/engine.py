"""run_scan: source -> records -> findings -> store."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Connection, Engine

from scanner.config import Config
from scanner.core.errors import InputError
from scanner.core.models import InventoryContext, KeyEvent, ScanStats
from scanner.exceptions.matching import ExceptionsInForce
from scanner.exceptions.notes import exception_notes
from scanner.rules.base import Rule, RuleContext, VerdictRule
from scanner.rules.catalog import VERDICT_RULES
from scanner.rules.selection import (
    enabled,
    enabled_rules,
    project_findings,
    resolution_for,
    scan_notes,
    usage_notes,
)
from scanner.rules.verdict import assess
from scanner.scan.beside import read_key_events, record_beside
from scanner.scan.enrich import Enricher, enricher
from scanner.scan.figures_tally import FiguresTally
from scanner.scan.guards import check_order, check_shrink, shrink_problems
from scanner.scan.in_force import in_force_document, judging_changed
from scanner.scan.outcome import AfterHistory, DryRunView, ScanOutcome
from scanner.scan.progress import Cancellation, ScanCancelled, Stage, keys_of
from scanner.scan.reuse import (
    COUNTS_ENTRY,
    Kept,
    Reuse,
    count_kept,
    counted,
    judging_code,
    judging_of,
)
from scanner.sources.audit.source import AuditSource
from scanner.sources.inventory.source import InventorySource
from scanner.sources.usage.source import UsageSource
from scanner.store import scans
from scanner.store.chain import seal
from scanner.store.configs import record_config
from scanner.store.contexts import changed_since
from scanner.store.figures import record_figures
from scanner.store.history.writer import HistoryWriter
from scanner.store.queries import latest_succeeded_scan
from scanner.store.tables import Scan

DRY_RUN_NOTE = "dry run: nothing was recorded and no alerts were queued"


def run_scan(
    source: InventorySource,
    engine: Engine,
    config: Config,
    evaluated_at: datetime,
    cancel: Cancellation | None = None,
    after_history: AfterHistory | None = None,
    usage: UsageSource | None = None,
    audit: AuditSource | None = None,
    accept_shrink: bool = False,
    dry_run: DryRunView | None = None,
    reuse_judgements: bool = True,
) -> ScanOutcome:
    """Scan SOURCE into the store. On any failure the scan row records the
    error and its stage, nothing else in history changes, and the exception
    propagates. CANCEL stops the scan at the next key. USAGE is queried for
    every project while keys stream in; AUDIT, for key events since the last
    successful scan. AFTER_HISTORY (the alert planner) runs in the scan's
    transaction once its history is written; what it returns is kept in the
    scan's counts. A scan that sees far fewer keys or projects than the last
    successful one fails (stage "shrink") unless ACCEPT_SHRINK; one evaluated
    before it is refused. DRY_RUN sees the scan's transaction, which is then
    rolled back: nothing recorded, no alert queued, any instant allowed.
    REUSE_JUDGEMENTS False judges every key, even one whose last judgement
    still holds (scanner.scan.reuse)."""
    # Read before the history transaction opens: a second SQLite connection
    # reading during it costs a page cache of its own.
    latest = latest_succeeded_scan(engine)
    scan_id: int | None = None
    if dry_run is None:
        check_order(evaluated_at, latest)
        scan_id = scans.begin_scan(engine, source.description, None, evaluated_at)
    run = _ScanRun(
        source,
        engine,
        config,
        evaluated_at,
        scan_id,
        cancel,
        None if dry_run else after_history,
        usage,
        audit,
        accept_shrink,
        dry_run,
        latest,
        reuse_judgements,
    )
    if cancel is not None:
        cancel.begin()
    try:
        return run.execute()
    except BaseException as exc:
        message = str(exc) or type(exc).__name__
        if isinstance(exc, KeyboardInterrupt):
            message = "interrupted"
        if isinstance(exc, ScanCancelled | KeyboardInterrupt):
            run.stage.name = "shutdown"
        if scan_id is not None:
            try:
                scans.fail_scan(engine, scan_id, message, run.stage.name, source.assets_read)
            except Exception as record_error:  # the scan's own error matters more
                exc.add_note(f"the failure could not be recorded on scan {scan_id}: {record_error}")
        raise


@dataclass
class _ScanRun:
    source: InventorySource
    engine: Engine
    config: Config
    evaluated_at: datetime
    scan_id: int | None  # None until a dry run's transaction gives it one
    cancel: Cancellation | None
    after_history: AfterHistory | None
    usage: UsageSource | None
    audit: AuditSource | None
    accept_shrink: bool
    dry_run: DryRunView | None
    latest: Scan | None  # the last successful scan before this one
    reuse_judgements: bool
    stage: Stage = field(default_factory=Stage)
    events: list[KeyEvent] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def execute(self) -> ScanOutcome:
        context = self.source.load_context()
        if self.scan_id is not None:
            scans.set_scope(self.engine, self.scan_id, context.scope)
        if self.audit is not None:
            self.events, missing = read_key_events(
                self.audit, context, self.config, self.latest, self.evaluated_at
            )
            self.notes.extend(missing)
        if self.usage is not None:
            self.usage.start(context.projects.values(), self.evaluated_at)
        try:
            return self._assess_and_store(context)
        finally:
            if self.usage is not None:
                self.usage.close()

    def _assess_and_store(self, context: InventoryContext) -> ScanOutcome:
        # Before the transaction opens (see run_scan).
        enrich, leaks_through = enricher(
            self.engine, context, self.config, self.usage, self.events, self.audit is not None
        )
        with self.engine.connect() as conn:
            transaction = conn.begin()
            try:
                outcome = self._write(conn, context, enrich, leaks_through)
                if self.dry_run is not None:
                    self.dry_run(conn, outcome.scan_id)
                    transaction.rollback()
                elif self.cancel is None:
                    transaction.commit()
                else:
                    with self.cancel.commit():
                        transaction.commit()
            except BaseException:
                transaction.rollback()
                raise
        return outcome

    def _assess_all(
        self,
        writer: HistoryWriter,
        tally: FiguresTally,
        context: InventoryContext,
        ctx: RuleContext,
        reuse: Reuse,
        exceptions: ExceptionsInForce,
        rules: tuple[Rule, ...],
        after: tuple[VerdictRule, ...],
    ) -> None:
        """Each key as listed, kept (REUSE decides) or judged and written, then
        every project; each handed to the tally."""
        stage = self.stage
        for listed in keys_of(iter(self.source.iter_listed(context)), stage, self.cancel):
            stage.name = "inventory"  # where a key that cannot be read fails
            decided = reuse.consider(listed)
            if isinstance(decided, Kept):
                tally.add_kept(decided.name, decided.version)
                continue
            stage.name = "evaluate"
            assessment = assess(decided.record, rules, ctx, after, exceptions)
            stage.name = "store"
            try:
                writer.add(assessment, decided.source_hash)
            except InputError as exc:  # the same key twice: say where the second is
                where = self.source.position
                raise InputError(f"{where}: {exc}" if where else str(exc)) from None
            tally.add(assessment)
        stage.name = "evaluate"
        of_projects = project_findings(context, self.config, ctx, exceptions)
        stage.name = "store"
        writer.add_findings(of_projects)
        tally.add_findings(of_projects)

    def _shrank(self, conn: Connection, keys: int, projects: int) -> bool:
        """Whether the inventory shrank past inventory.max_shrink (allowed
        only with ACCEPT_SHRINK: else the scan fails here)."""
        inventory = self.config.inventory
        baseline = scans.shrink_baseline(conn, self.evaluated_at, inventory.shrink_window)
        problems = shrink_problems(keys, projects, baseline, inventory.max_shrink)
        if not self.accept_shrink:
            check_shrink(problems, self.stage)
        return bool(problems)

    def _reusable(self, conn: Connection) -> Scan | None:
        """The scan whose judgements this one may keep; None: judge every key."""
        latest = self.latest if self.reuse_judgements else None
        if latest is not None and changed_since(conn, latest.id):
            # A feed scan judged keys with a context LATEST did not read: what
            # they hold is no judgement of LATEST's to keep.
            return None
        return latest

    def _write(
        self,
        conn: Connection,
        context: InventoryContext,
        enrich: Enricher,
        leaks_through: int | None,
    ) -> ScanOutcome:
        config, usage = self.config, self.usage
        if self.scan_id is None:
            self.scan_id = scans.insert_scan(
                conn, self.source.description, context.scope, self.evaluated_at
            )
        scan_id = self.scan_id
        usage_available = usage is not None
        iam_available = context.iam is not None
        ctx = RuleContext(config, self.evaluated_at, usage_available, context.iam, context.projects)
        notes = scan_notes(config, usage_available, context.services_known, iam_available)
        stats = ScanStats(notes=notes + self.notes)
        if self.dry_run is not None:
            stats.notes.insert(0, DRY_RUN_NOTE)
        document = in_force_document(config)
        config_digest = record_config(conn, scan_id, document)
        before = self.latest.config_digest if self.latest is not None else None
        exceptions = ExceptionsInForce(config.exceptions.entries, self.evaluated_at.date())
        resolution = resolution_for(
            config,
            usage_available,
            iam_available,
            frozenset(f"projects/{p.number}" for p in context.projects.values()),
            config_changed=judging_changed(conn, before, config_digest, document),
            lapsed_exceptions=frozenset(exceptions.lapsed),
        )
        rules = enabled_rules(config, usage_available, iam_available)
        after = enabled(VERDICT_RULES, config, usage_available, iam_available)
        latest = self._reusable(conn)
        judging, window = judging_of(
            judging_code((self.source, self.usage, self.audit)),
            config_digest,
            config,
            context,
            (rules, after),
            (usage_available, iam_available, self.audit is not None),  # the sources read
            latest,
            self.evaluated_at,
        )
        writer = HistoryWriter(
            conn, scan_id, self.evaluated_at, resolution, since=_instant(self.latest)
        )
        reuse = Reuse(window, enrich, writer)
        tally = FiguresTally(self.evaluated_at.date())
        self._assess_all(writer, tally, context, ctx, reuse, exceptions, rules, after)
        count_kept(conn, tally, exceptions)
        # Accepted findings are no open risk: --fail-on and the counts leave them out.
        by_status, by_severity = tally.by_status(), tally.by_severity()
        stats.notes.extend(exception_notes(exceptions))
        if usage is not None:
            stats.notes.extend(usage_notes(usage.errors, usage.unmatched_series()))
        stats.keys_total = sum(by_status.values())
        shrank = self._shrank(conn, stats.keys_total, len(context.projects))
        stats.assets_read = self.source.assets_read
        stats.by_status = dict(by_status)
        stats.by_severity = dict(by_severity)
        writer.finish(stats)
        scans.set_config(conn, scan_id, config_digest)
        scans.add_counts(conn, scan_id, COUNTS_ENTRY, counted(judging, tally.kept, reuse))
        record_beside(
            conn, scan_id, context, self.usage, self.audit, self.events, leaks_through, exceptions
        )
        if shrank:  # accepted: the scans after this one compare with it, not before it
            inventory = {"projects": len(context.projects), "shrink_accepted": True}
            scans.add_counts(conn, scan_id, "inventory", inventory)
        record_figures(conn, scan_id, tally.document(), self.latest)
        if self.after_history is not None:
            self.stage.name = "alerts"
            extra = self.after_history(conn, scan_id, self.evaluated_at)
            stats.alerts = extra
            scans.add_counts(conn, scan_id, "alerts", extra)
        if self.dry_run is not None:
            return ScanOutcome(scan_id, stats, None, dry_run=True)
        self.stage.name = "store"
        head = seal(conn, scan_id)
        return ScanOutcome(scan_id, stats, head)


def _instant(scan: Scan | None) -> datetime | None:
    return scan.evaluated_at if scan is not None else None
