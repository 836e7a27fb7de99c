"""The answers a reader looks for in a key's row: is it in use, which
finding sets its status and by when, who owns it. Read from what the report
holds of the key, as the scan saw it."""

from __future__ import annotations

from datetime import date

from scanner.core.models import DeadlineKind, KeyStatus, Severity
from scanner.report.records import ReportFinding, ReportKey

_ENFORCED = DeadlineKind.ENFORCED.value


def in_use(k: ReportKey) -> bool | None:
    """Whether the key served requests in the 30 days before the scan; None
    when usage was not read for it (its project's usage was not asked, or
    the scan read no usage)."""
    if k.requests_30d is None:
        return None
    return k.requests_30d > 0


def status_finding(k: ReportKey) -> ReportFinding | None:
    """The finding that sets the key's status (rules.verdict.key_status), as
    core.status_due dates it: for a blocked key the one whose enforced
    deadline passed first, accepted or not; for a non-compliant key its
    worst, nearest-due finding; for a key at risk the one due soonest."""
    if k.status is KeyStatus.BLOCKED:
        passed = [
            f
            for f in (*k.findings, *k.accepted)
            if f.deadline_kind == _ENFORCED
            and f.days_to_deadline is not None
            and f.days_to_deadline <= 0
        ]
        if passed:
            return min(passed, key=lambda f: f.deadline or date.max)
        return k.findings[0] if k.findings else None
    if k.status is KeyStatus.NON_COMPLIANT:
        serious = [f for f in k.findings if f.severity.rank >= Severity.MEDIUM.rank]
        return min(serious, key=_urgency, default=None)
    if k.status is KeyStatus.AT_RISK:
        due = [f for f in k.findings if f.deadline is not None]
        return min(due, key=lambda f: f.deadline or date.max, default=None)
    return None


def _urgency(f: ReportFinding) -> tuple[int, date]:
    return -f.severity.rank, f.deadline or date.max


def owner_text(owners: list[str]) -> str:
    """The first owner, and how many more."""
    if not owners:
        return ""
    return owners[0] + (f" +{len(owners) - 1}" if len(owners) > 1 else "")
