"""Builds the report of one stored scan: what was known at that scan."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Engine

from scanner.models import KeyStatus, Severity
from scanner.store.queries import findings_at, keys_at, scan_for_report
from scanner.store.tables import FindingVersion, KeyVersion, Scan

SCHEMA = "keysentry.report/v1"
FAIL_ON_LEVELS = ("never", "high", "critical", "blocked")


@dataclass(frozen=True, slots=True)
class ReportFinding:
    rule: str
    severity: Severity
    deadline: date | None
    days_to_deadline: int | None
    summary: str
    checklist: str


@dataclass(frozen=True, slots=True)
class ReportKey:
    name: str
    uid: str
    project: str
    project_number: str
    display_name: str
    key_type: str
    service_account: str | None
    api_targets: list[str]
    application_restriction: str
    gemini_enabled: bool | None
    created: datetime | None
    last_used: datetime | None
    status: KeyStatus
    score: int
    findings: list[ReportFinding]


@dataclass(frozen=True, slots=True)
class Report:
    scan: Scan
    keys: list[ReportKey]

    @property
    def evaluated_at(self) -> datetime:
        return self.scan.evaluated_at


def _finding(row: FindingVersion, today: date) -> ReportFinding:
    days = (row.deadline - today).days if row.deadline else None
    return ReportFinding(
        rule=row.rule_id,
        severity=Severity(row.severity),
        deadline=row.deadline,
        days_to_deadline=days,
        summary=row.summary,
        checklist=row.checklist,
    )


def _key(row: KeyVersion, findings: list[ReportFinding]) -> ReportKey:
    findings.sort(key=lambda f: (-f.severity.rank, f.rule))
    return ReportKey(
        name=row.key_name,
        uid=row.uid,
        project=row.project_id or row.project_number,
        project_number=row.project_number,
        display_name=row.display_name,
        key_type=row.key_type,
        service_account=row.service_account,
        api_targets=list(row.api_targets),
        application_restriction=row.application_restriction,
        gemini_enabled=row.gemini_enabled,
        created=row.created_at,
        last_used=None,
        status=KeyStatus(row.status),
        score=row.score,
        findings=findings,
    )


def build_report(engine: Engine, scan_id: int | None = None) -> Report:
    scan = scan_for_report(engine, scan_id)
    today = scan.evaluated_at.date()
    by_key: dict[str, list[ReportFinding]] = defaultdict(list)
    for row in findings_at(engine, scan.id):
        by_key[row.key_name].append(_finding(row, today))
    keys = [_key(row, by_key.get(row.key_name, [])) for row in keys_at(engine, scan.id)]
    keys.sort(key=lambda k: (k.status.rank, -k.score, k.project, k.name))
    return Report(scan, keys)


def fails(report: Report, level: str) -> bool:
    """True when a key at or above LEVEL exists (for --fail-on)."""
    if level == "never":
        return False
    if level == "blocked":
        return any(k.status is KeyStatus.BLOCKED for k in report.keys)
    threshold = Severity(level).rank
    return any(f.severity.rank >= threshold for k in report.keys for f in k.findings)


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.isoformat().replace("+00:00", "Z")


def to_document(report: Report) -> dict[str, Any]:
    scan = report.scan
    counts = scan.counts or {}
    return {
        "schema": SCHEMA,
        "evaluated_at": _iso(scan.evaluated_at),
        "scan": {
            "id": scan.id,
            "source": scan.source,
            "scope": scan.scope,
            "status": scan.status,
            "started_at": _iso(scan.started_at),
            "finished_at": _iso(scan.finished_at),
            "keys_total": scan.keys_total,
            "by_status": counts.get("by_status", {}),
            "by_severity": counts.get("by_severity", {}),
            "notes": list(scan.notes or []),
        },
        "keys": [
            {
                "name": k.name,
                "uid": k.uid,
                "project": k.project,
                "project_number": k.project_number,
                "display_name": k.display_name,
                "key_type": k.key_type,
                "service_account": k.service_account,
                "api_targets": k.api_targets,
                "application_restriction": k.application_restriction,
                "gemini_enabled": k.gemini_enabled,
                "created": _iso(k.created),
                "last_used": _iso(k.last_used),
                "status": k.status.value,
                "score": k.score,
                "findings": [
                    {
                        "rule": f.rule,
                        "severity": f.severity.value,
                        "deadline": f.deadline.isoformat() if f.deadline else None,
                        "days_to_deadline": f.days_to_deadline,
                        "summary": f.summary,
                        "checklist": f.checklist,
                    }
                    for f in k.findings
                ],
            }
            for k in report.keys
        ],
    }
