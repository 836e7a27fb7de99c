"""What a report says of one key and of each of its findings."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from scanner.core.models import KeyStatus, LeakEvidence, Severity


@dataclass(frozen=True, slots=True)
class AcceptedBy:
    """The exception that accepted a finding, as the scan's configuration had it."""

    id: str
    reason: str | None
    approved_by: str | None
    expires: date | None
    ticket: str | None


@dataclass(slots=True)
class ReportFinding:
    rule: str
    severity: Severity
    deadline: date | None
    days_to_deadline: int | None
    summary: str
    checklist: str
    accepted: AcceptedBy | None = None
    deadline_kind: str | None = None  # enforced, announced or policy (models.DeadlineKind)


@dataclass(slots=True)
class ReportKey:
    name: str
    uid: str
    project: str
    project_number: str
    display_name: str
    key_type: str
    service_account: str | None
    api_targets: list[str]
    api_methods: dict[str, list[str]]  # by service, where a target names methods
    application_restriction: str
    gemini_enabled: bool | None
    created: datetime | None
    last_used: datetime | None
    status: KeyStatus
    score: int
    findings: list[ReportFinding]  # open: not accepted by an exception
    owners: list[str]
    requests_7d: int | None
    requests_30d: int | None
    gemini_rejected_7d: int | None
    requests_1d: int | None
    daily_median_28d: float | None
    leaks: list[LeakEvidence]
    creator: str | None
    key_admins: list[str]
    restrictions_removed: tuple[str | None, datetime] | None  # by whom, when
    accepted: list[ReportFinding]  # findings an exception accepts, apart
    # Per service over the lookback, as stored (store.history_rows.services_document).
    services: list[dict[str, Any]]
    usage_covered_days: int | None
