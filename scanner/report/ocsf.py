"""`report --format ocsf`: every finding open at a scan, accepted ones as
suppressed, as OCSF Compliance Finding events (scanner.ocsf.compliance)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from scanner.ocsf.compliance import IN_PROGRESS, NEW, SUPPRESSED, Judged, Subject, event
from scanner.report.build import Report
from scanner.report.records import ReportFinding, ReportKey
from scanner.store.history.rows import fingerprint

Opened = dict[str, tuple[int, datetime]]  # finding uid -> (scan, instant) it last opened


def events(report: Report, opened: Opened) -> Iterator[dict[str, Any]]:
    """Every finding of REPORT's keys; OPENED: when each finding last opened,
    at or before the scan (store.report_rows.opened_findings)."""
    scan = report.scan
    for key in report.iter_keys():
        subject = _subject(key)
        for f in (*key.findings, *key.accepted):
            judged = _judged(key, f)
            opened_at_scan, since = opened.get(judged.uid, (scan.id, scan.evaluated_at))
            stage = (
                SUPPRESSED
                if f.accepted is not None
                else NEW
                if opened_at_scan == scan.id
                else IN_PROGRESS
            )
            yield event(subject, judged, stage, scan.evaluated_at, scan.id, since)


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


def _judged(key: ReportKey, f: ReportFinding) -> Judged:
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
        fingerprint(f.rule, key.name),
        f.rule,
        f.severity.value,
        f.summary,
        f.checklist,
        f.deadline.isoformat() if f.deadline else None,
        f.deadline_kind,
        exception,
    )
