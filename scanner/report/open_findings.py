"""Every finding open at a report's scan, accepted ones included, with its
fingerprint and when it last opened: what the exporters of findings (OCSF,
Security Command Center) each need of it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from scanner.report.build import Report
from scanner.report.records import ReportFinding, ReportKey
from scanner.store.history.rows import fingerprint
from scanner.store.report_rows import opened_findings


@dataclass(frozen=True, slots=True)
class OpenFinding:
    key: ReportKey
    finding: ReportFinding
    uid: str  # the finding's fingerprint: its id in every scan
    since: datetime  # when it last opened (or reopened)
    new: bool  # it opened at this scan


def open_findings(report: Report) -> Iterator[OpenFinding]:
    scan = report.scan
    with report.connect() as conn:
        opened = opened_findings(conn, scan.id)
    for key in report.iter_keys():
        for f in (*key.findings, *key.accepted):
            uid = fingerprint(f.rule, key.name)
            at_scan, since = opened.get(uid, (scan.id, scan.evaluated_at))
            yield OpenFinding(key, f, uid, since, at_scan == scan.id)
