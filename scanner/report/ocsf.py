"""`report --format ocsf`: every finding open at a scan, accepted ones as
suppressed, as OCSF Compliance Finding events (scanner.ocsf.compliance)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from scanner.ocsf.compliance import IN_PROGRESS, NEW, SUPPRESSED, Judged, Subject, event
from scanner.report.build import Report
from scanner.report.open_findings import open_findings
from scanner.report.records import ReportFinding, ReportKey


def events(report: Report) -> Iterator[dict[str, Any]]:
    scan = report.scan
    for o in open_findings(report):
        stage = SUPPRESSED if o.finding.accepted is not None else NEW if o.new else IN_PROGRESS
        judged = _judged(o.uid, o.finding)
        yield event(_subject(o.key), judged, stage, scan.evaluated_at, scan.id, o.since)


def _subject(key: ReportKey) -> Subject:
    return Subject(
        key.name,
        key.display_name or key.uid,
        key.project,
        key.project_number,
        tuple(key.owners),
        key.key_type,
        key.status.value,
    )


def _judged(uid: str, f: ReportFinding) -> Judged:
    accepted = f.accepted
    exception = (
        {
            "id": accepted.id,
            "reason": accepted.reason,
            "expires": accepted.expires.isoformat() if accepted.expires else None,
            "ticket": accepted.ticket,
        }
        if accepted is not None
        else None
    )
    return Judged(
        uid,
        f.rule,
        f.severity.value,
        f.summary,
        f.checklist,
        f.deadline.isoformat() if f.deadline else None,
        f.deadline_kind,
        exception,
    )
