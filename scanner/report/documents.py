"""The report as JSON documents (`keysentry.report/v1`): the header, one
document per key, or the whole report at once."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from scanner.core.models import LeakEvidence
from scanner.report.answers import in_use, status_finding
from scanner.report.build import SCHEMA, Report, ReportFinding, ReportKey


def iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.isoformat().replace("+00:00", "Z")


def leak_document(e: LeakEvidence) -> dict[str, Any]:
    return {
        "tool": e.tool,
        "redacted": e.redacted,
        "repository": e.repository,
        "file": e.file,
        "line": e.line,
        "link": e.link,
        "commit": e.commit,
        "author": e.author,
        "first_reported": iso(e.first_reported),
        "verified": e.verified,
        "publicly_leaked": e.publicly_leaked,
        "scanner_status": e.scanner_status,
    }


def header_document(report: Report) -> dict[str, Any]:
    scan = report.scan
    return {
        "schema": SCHEMA,
        "evaluated_at": iso(scan.evaluated_at),
        "scan": {
            "id": scan.id,
            "source": scan.source,
            "scope": scan.scope,
            "status": scan.status,
            "started_at": iso(scan.started_at),
            "finished_at": iso(scan.finished_at),
            "keys_total": scan.keys_total,
            "by_status": report.counts("by_status"),
            "by_severity": report.counts("by_severity"),
            "notes": list(scan.notes or []),
            "dry_run": report.dry_run,
            "chain_hash": scan.chain_hash,
        },
        "in_force": {"digest": scan.config_digest, "document": report.in_force()},
        "project_findings": report.project_findings(),
        "left_inventory": [
            item | {"last_seen_at": iso(item["last_seen_at"])} for item in report.left_inventory()
        ],
    } | ({"filter": str(report.only)} if report.only is not None else {})


def key_document(k: ReportKey) -> dict[str, Any]:
    return {
        "name": k.name,
        "uid": k.uid,
        "project": k.project,
        "project_number": k.project_number,
        "display_name": k.display_name,
        "key_type": k.key_type,
        "service_account": k.service_account,
        "api_targets": k.api_targets,
        "api_methods": k.api_methods,
        "application_restriction": k.application_restriction,
        "gemini_enabled": k.gemini_enabled,
        "owners": k.owners,
        "created": iso(k.created),
        "last_used": iso(k.last_used),
        "requests_7d": k.requests_7d,
        "requests_30d": k.requests_30d,
        "gemini_rejected_7d": k.gemini_rejected_7d,
        "requests_1d": k.requests_1d,
        "daily_median_28d": k.daily_median_28d,
        "usage_by_service": k.services,
        "usage_covered_days": k.usage_covered_days,
        "leaks": [leak_document(e) for e in k.leaks],
        "creator": k.creator,
        "key_admins": k.key_admins,
        "restrictions_removed": (
            {"by": k.restrictions_removed[0], "at": iso(k.restrictions_removed[1])}
            if k.restrictions_removed
            else None
        ),
        "status": k.status.value,
        "score": k.score,
        "in_use": in_use(k),
        "status_set_by": _setting(k),
        "findings": [finding_document(f) for f in k.findings],
        # Apart: an exception accepts them; they count for neither status nor score.
        "accepted": [finding_document(f) | accepted_document(f) for f in k.accepted],
    }


def _setting(k: ReportKey) -> dict[str, Any] | None:
    """The finding that sets the key's status (report.answers.status_finding)."""
    f = status_finding(k)
    if f is None:
        return None
    deadline = f.deadline.isoformat() if f.deadline else None
    return {"rule": f.rule, "deadline": deadline, "days_to_deadline": f.days_to_deadline}


def finding_document(f: ReportFinding) -> dict[str, Any]:
    return {
        "rule": f.rule,
        "severity": f.severity.value,
        "deadline": f.deadline.isoformat() if f.deadline else None,
        "days_to_deadline": f.days_to_deadline,
        "summary": f.summary,
        "checklist": f.checklist,
    }


def accepted_document(f: ReportFinding) -> dict[str, Any]:
    a = f.accepted
    if a is None:
        return {}
    return {
        "exception": {
            "id": a.id,
            "reason": a.reason,
            "approved_by": a.approved_by,
            "expires": a.expires.isoformat() if a.expires else None,
            "ticket": a.ticket,
        }
    }


def to_document(report: Report) -> dict[str, Any]:
    """The whole report as one document (for small reports and tests)."""
    return header_document(report) | {"keys": [key_document(k) for k in report.iter_keys()]}
