"""The report of one stored scan: what was known at that scan. Keys are
streamed from the store in report order, so a report of a large organization
never holds every key in memory at once."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, Engine

from scanner.core.models import KeyStatus, LeakEvidence, Severity
from scanner.report.filters import KeyFilter
from scanner.report.records import AcceptedBy, ReportFinding, ReportKey
from scanner.store.audit import last_restrictions_removed
from scanner.store.configs import config_document
from scanner.store.leaks import leaks_by_key_name, project_numbers
from scanner.store.queries import scan_for_report, scan_in
from scanner.store.report_rows import finding_rows, key_batches, left_inventory, project_findings
from scanner.store.tables import Scan

__all__ = ["AcceptedBy", "Report", "ReportFinding", "ReportKey", "build_report", "fails"]

SCHEMA = "keysentry.report/v1"
FAIL_ON_LEVELS = ("never", "high", "critical", "blocked")
_SEVERITY = {s.value: s for s in Severity}
_STATUS = {s.value: s for s in KeyStatus}


# Not frozen: a report builds hundreds of thousands, and frozen init costs 3x.
Connect = Callable[[], AbstractContextManager[Connection]]


@dataclass(frozen=True, slots=True)
class Report:
    """The report of SCAN, read through CONNECT: everything in it is what
    was known when that scan ran, so a later scan never changes it."""

    scan: Scan
    connect: Connect
    dry_run: bool = False
    only: KeyFilter | None = None  # the keys shown; counts stay the scan's

    @property
    def evaluated_at(self) -> datetime:
        return self.scan.evaluated_at

    def counts(self, kind: str) -> dict[str, int]:
        """by_status or by_severity, as recorded on the scan row."""
        return dict((self.scan.counts or {}).get(kind, {}))

    def _known(self, name: str) -> Any:
        return ((self.scan.counts or {}).get("known") or {}).get(name)

    def in_force(self) -> dict[str, Any] | None:
        """The configuration, timeline and rule catalog the scan was judged under."""
        with self.connect() as conn:
            return config_document(conn, self.scan.config_digest)

    def left_inventory(self) -> list[dict[str, Any]]:
        """Keys this scan no longer saw, with the last scan that did."""
        with self.connect() as conn:
            return left_inventory(conn, self.scan.id)

    def project_findings(self) -> list[dict[str, Any]]:
        """Findings about projects rather than keys (subject projects/N)."""
        with self.connect() as conn:
            return project_findings(conn, self.scan.id)

    def exceptions(self) -> dict[str, AcceptedBy]:
        """The exceptions in force at the scan, by id."""
        document = self.in_force() or {}
        entries = (document.get("exceptions") or {}).get("entries") or []
        return {
            e["id"]: AcceptedBy(
                e["id"],
                e.get("reason"),
                e.get("approved_by"),
                date.fromisoformat(e["expires"]) if e.get("expires") else None,
                e.get("ticket"),
            )
            for e in entries
        }

    def iter_keys(self) -> Iterator[ReportKey]:
        """The keys, worst first: by status, then score, project and name.
        Findings are read for a batch of keys at a time, by name, so that the
        report holds the findings of one batch, not of the whole scan."""
        exceptions = self.exceptions()
        today = self.scan.evaluated_at.date()
        scan_id = self.scan.id
        with self.connect() as conn:
            removed = last_restrictions_removed(conn, scan_id)
            numbers = project_numbers(conn, scan_id)
            leaks = leaks_by_key_name(conn, numbers, self._known("leak_reports_through"))
            for rows in key_batches(conn, scan_id):
                names = [row[0] for row in rows]
                findings = _findings_of(conn, names, scan_id, today, exceptions)
                for row in rows:
                    name = row[0]
                    found = findings.get(name, [])
                    key = _key(row, found, removed.get(name), leaks.get(name, ()))
                    if self.only is None or self.only.matches(key):
                        yield key


def _findings_of(
    conn: Connection,
    names: list[str],
    scan_id: int,
    today: date,
    exceptions: dict[str, AcceptedBy],
) -> dict[str, list[ReportFinding]]:
    """The findings of the keys NAMES at SCAN_ID, each key's worst first."""
    grouped: dict[str, list[ReportFinding]] = defaultdict(list)
    # Rows unpacked and a dict for the enum, not attribute access and
    # Severity(value), which cost more than the query.
    rows = finding_rows(conn, names, scan_id)
    for name, rule, severity, deadline, kind, summary, checklist, accepted_by in rows:
        days = (deadline - today).days if deadline else None
        accepted = None
        if accepted_by is not None:  # an id the document lacks still shows
            accepted = exceptions.get(accepted_by) or AcceptedBy(
                accepted_by, None, None, None, None
            )
        grouped[name].append(
            ReportFinding(
                rule, _SEVERITY[severity], deadline, days, summary, checklist, accepted, kind
            )
        )
    for items in grouped.values():
        if len(items) > 1:
            items.sort(key=_finding_order)
    return grouped


def _finding_order(f: ReportFinding) -> tuple[int, str]:
    return -f.severity.rank, f.rule


def _key(
    row: tuple[Any, ...],
    findings: list[ReportFinding],
    removed: tuple[str | None, datetime] | None,
    leaks: tuple[LeakEvidence, ...],
) -> ReportKey:
    # Positional, in the order of iter_keys' columns: a Row's attribute access
    # costs more than the rest of building the key.
    (
        name, uid, project, project_number, display_name, key_type, service_account,
        api_targets, application_restriction, gemini_enabled, created_at, status, score,
        owners, creator, key_admins, last_used, requests_7d, requests_30d, gemini_rejected_7d,
        requests_1d, daily_median_28d, services, covered_days, api_methods,
    ) = row  # fmt: skip
    return ReportKey(
        name=name,
        uid=uid,
        project=project,
        project_number=project_number,
        display_name=display_name,
        key_type=key_type,
        service_account=service_account,
        api_targets=list(api_targets),
        api_methods=dict(api_methods or {}),
        application_restriction=application_restriction,
        gemini_enabled=gemini_enabled,
        created=created_at,
        last_used=last_used,
        status=_STATUS[status],
        score=score,
        findings=[f for f in findings if f.accepted is None],
        owners=list(owners or []),
        requests_7d=requests_7d,
        requests_30d=requests_30d,
        gemini_rejected_7d=gemini_rejected_7d,
        requests_1d=requests_1d,
        daily_median_28d=daily_median_28d,
        leaks=list(leaks),
        creator=creator,
        key_admins=list(key_admins or []),
        restrictions_removed=removed,
        accepted=[f for f in findings if f.accepted is not None],
        services=services or [],
        usage_covered_days=covered_days,
    )


def build_report(
    engine: Engine, scan_id: int | None = None, only: KeyFilter | None = None
) -> Report:
    return Report(scan_for_report(engine, scan_id), engine.connect, only=only or None)


def dry_run_report(conn: Connection, scan_id: int) -> Report:
    """The report of a scan still inside its (dry run's) transaction."""
    return Report(scan_in(conn, scan_id), lambda: nullcontext(conn), dry_run=True)


def fails(report: Report, level: str) -> bool:
    """True when a key at or above LEVEL exists (for --fail-on), from the scan's counts."""
    if level == "never":
        return False
    if level == "blocked":
        return report.counts("by_status").get(KeyStatus.BLOCKED.value, 0) > 0
    threshold = Severity(level).rank
    by_severity = report.counts("by_severity")
    return any(n > 0 and Severity(s).rank >= threshold for s, n in by_severity.items())
