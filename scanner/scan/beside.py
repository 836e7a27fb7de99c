"""What a scan reads and records beside the keys: the key events of the
audit log before it judges them, and its counts of each source after."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Connection

from scanner.config import Config
from scanner.core.models import InventoryContext, KeyEvent
from scanner.exceptions.matching import ExceptionsInForce
from scanner.scan.coverage import coverage
from scanner.sources.audit.source import AuditSource
from scanner.sources.usage.source import UsageSource
from scanner.store import scans
from scanner.store.audit import record_events
from scanner.store.contexts import Judged, record_context
from scanner.store.tables import Scan


def read_key_events(
    audit: AuditSource,
    context: InventoryContext,
    config: Config,
    latest: Scan | None,
    evaluated_at: datetime,
) -> tuple[list[KeyEvent], list[str]]:
    """Key events since LATEST (the last successful scan), or over the first
    lookback; and a note when some projects' events could not be read."""
    first = evaluated_at - timedelta(days=config.audit.first_lookback_days)
    since = latest.evaluated_at if latest is not None else first
    events = audit.read(context.projects.values(), since, evaluated_at)
    notes = []
    if audit.errors:
        shown = "; ".join(f"{p}: {e}" for p, e in sorted(audit.errors.items())[:3])
        notes.append(f"key events missing for some projects: {shown}")
    return events, notes


def record_beside(
    conn: Connection,
    scan_id: int,
    context: InventoryContext,
    usage: UsageSource | None,
    audit: AuditSource | None,
    events: list[KeyEvent],
    leaks_through: int | None,
    exceptions: ExceptionsInForce,
) -> None:
    """The scan's counts of its sources, and the key events it read."""
    scans.add_counts(conn, scan_id, "inventory", {"projects": len(context.projects)})
    usage_errors = usage.errors if usage is not None else None
    audit_errors = audit.errors if audit is not None else None
    covered = coverage(context, usage_errors, audit_errors, leaks_through is not None)
    scans.add_counts(conn, scan_id, "coverage", covered)
    scans.add_counts(conn, scan_id, "known", {"leak_reports_through": leaks_through})
    scans.add_counts(conn, scan_id, "accepted", {"findings": sum(exceptions.accepted.values())})
    record_events(conn, scan_id, events)
    # What feed scans judge the keys they change with, until the next full scan.
    record_context(conn, scan_id, Judged(context, usage is not None, audit is not None))
