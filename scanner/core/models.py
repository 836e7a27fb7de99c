"""The plain records that flow between pipeline stages."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any


class KeyType(enum.StrEnum):
    STANDARD = "standard"
    AUTH = "auth"


class AppRestriction(enum.StrEnum):
    NONE = "none"
    BROWSER = "browser"
    SERVER = "server"
    ANDROID = "android"
    IOS = "ios"


class Severity(enum.StrEnum):
    INFO = "info"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return _SEVERITY_RANK[self]


_SEVERITY_RANK = {
    Severity.INFO: 0,
    Severity.LOW: 1,
    Severity.MEDIUM: 2,
    Severity.HIGH: 3,
    Severity.CRITICAL: 4,
}


class KeyStatus(enum.StrEnum):
    """Ordered worst first: reports sort by this order."""

    BLOCKED = "blocked"
    NON_COMPLIANT = "non_compliant"
    AT_RISK = "at_risk"
    COMPLIANT = "compliant"
    DELETED = "deleted"

    @property
    def rank(self) -> int:
        return _STATUS_RANK[self]


_STATUS_RANK = {status: index for index, status in enumerate(KeyStatus)}


class DeadlineKind(enum.StrEnum):
    ENFORCED = "enforced"  # a timeline entry Google enforces now or on its date
    ANNOUNCED = "announced"  # a timeline entry whose date Google has not confirmed
    POLICY = "policy"  # the organization's own hygiene deadline (rotation)


@dataclass(frozen=True, slots=True)
class KeyUsage:
    """What Cloud Monitoring says about a key's traffic over the lookback window.
    last_used None: no request in the window (the window is known to cover it)."""

    last_used: datetime | None
    lookback_days: int
    requests_7d: int = 0
    requests_30d: int = 0
    gemini_requests_7d: int = 0
    gemini_rejected_7d: int = 0  # 4xx answers of the Gemini API
    requests_1d: int = 0  # the last 24 hours
    # The median of the 28 daily counts before the last day; None: the
    # lookback window is shorter than 29 days.
    daily_median_28d: float | None = None
    # What the key called over the whole lookback window, busiest first.
    services: tuple[ServiceUse, ...] = ()
    # Days of the lookback window the project's series cover (from its oldest
    # point to the scan); None where nobody counted them (before schema 0015).
    covered_days: int | None = None


@dataclass(frozen=True, slots=True)
class ServiceUse:
    """One service's requests with one key over the lookback window: the
    evidence for restricting the key to the services it calls."""

    service: str
    requests: int
    by_class: tuple[tuple[str, int], ...]  # response code class ("2xx", "4xx") -> requests
    first_day: date
    last_day: date


@dataclass(frozen=True, slots=True)
class LeakEvidence:
    """Where a secret scanner saw a key's string. Never holds the string."""

    tool: str  # gitleaks | trufflehog | github
    redacted: str  # prefix and last 4 characters
    repository: str | None = None
    file: str | None = None
    line: int | None = None
    link: str | None = None
    commit: str | None = None
    author: str | None = None
    first_reported: datetime | None = None
    verified: bool | None = None  # the scanner confirmed the key works (None: unknown)
    publicly_leaked: bool | None = None
    # What the scanner says it did about the finding, when that is news: GitHub's
    # "resolved as revoked" while the key still exists.
    scanner_status: str | None = None

    @property
    def location(self) -> str:
        """repository file:line, or the link, or what is known."""
        where = self.file or ""
        if where and self.line is not None:
            where += f":{self.line}"
        parts = [p for p in (self.repository, where) if p]
        return " ".join(parts) or self.link or "an unknown location"


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """One API key, normalized from its Cloud Asset resource. Never holds the key string."""

    name: str  # projects/<number>/locations/global/keys/<uid>
    uid: str
    project_number: str
    project_id: str | None
    display_name: str
    created: datetime | None
    updated: datetime | None
    deleted: datetime | None
    key_type: KeyType
    service_account: str | None
    api_targets: tuple[str, ...]  # empty = unrestricted
    application_restriction: AppRestriction
    application_values: tuple[str, ...]
    annotations: tuple[tuple[str, str], ...]
    gemini_enabled: bool | None  # None = the source did not say
    usage: KeyUsage | None = None
    owners: tuple[
        str, ...
    ] = ()  # the people to tell, resolved by scanner.sources.inventory.ownership
    creator: str | None = None  # the principal of its CreateKey, from the audit log
    key_admins: tuple[str, ...] = ()  # who can create or change its project's keys (IAM)
    leaks: tuple[LeakEvidence, ...] = ()  # secret-scanner reports matched to this key
    # The API's checksum of the key's value: `fix apply` changes a key only
    # while it still has the etag its plan was made from.
    etag: str | None = None
    # The methods an API target allows, by service, when it names any
    # (ApiTarget.methods, e.g. GenerateContent): a narrower restriction.
    api_methods: tuple[tuple[str, tuple[str, ...]], ...] = ()
    # The last read of the key's string in the days before its first leak
    # report: how the string may have got out.
    string_read: StringRead | None = None

    @property
    def api_unrestricted(self) -> bool:
        return not self.api_targets

    @property
    def is_deleted(self) -> bool:
        return self.deleted is not None


@dataclass(frozen=True, slots=True)
class KeyEvent:
    """An audit entry about a key: Admin Activity (what changed it) or Data
    Access (GetKeyString: who read its string)."""

    insert_id: str  # the log entry's id: the same entry read twice is one event
    key_name: str  # projects/<number>/locations/global/keys/<uid>
    at: datetime
    # CreateKey | UpdateKey | DeleteKey | UndeleteKey | RegenerateKey | RevertKey | GetKeyString
    method: str
    principal: str | None
    restrictions_removed: bool = False  # an UpdateKey that left no API restriction
    caller_ip: str | None = None  # requestMetadata.callerIp: where the call came from


@dataclass(frozen=True, slots=True)
class StringRead:
    """Who read a key's string (GetKeyString), when and from where."""

    at: datetime
    principal: str | None
    caller_ip: str | None


@dataclass(frozen=True, slots=True)
class ProjectRecord:
    number: str
    project_id: str | None
    display_name: str | None
    lifecycle_state: str | None
    labels: tuple[tuple[str, str], ...] = ()
    # projects/N, then its folders, then organizations/N (as Cloud Asset lists them)
    ancestors: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ServiceAccountRecord:
    email: str
    project_id: str | None
    disabled: bool


@dataclass(frozen=True, slots=True)
class IamIndex:
    """IAM as Cloud Asset shows it: policies by resource, service accounts and
    custom roles. Built only when the source read IAM policies."""

    # "projects/N", "folders/N" or "organizations/N" -> role -> members
    bindings: dict[str, dict[str, frozenset[str]]]
    service_accounts: dict[str, ServiceAccountRecord]  # by email
    # Project ids whose service accounts the source listed: an account of another
    # project is out of sight, not missing.
    service_account_projects: frozenset[str]
    custom_roles: dict[str, frozenset[str]]  # role name -> included permissions


@dataclass(frozen=True, slots=True)
class Finding:
    rule_id: str
    subject: str  # the key name the finding is about
    severity: Severity
    summary: str
    checklist: str
    deadline: date | None = None
    deadline_kind: DeadlineKind | None = None
    timeline_entry: str | None = None
    # The exception that accepts this finding: still reported, but it does not
    # make the key non_compliant or at_risk, adds nothing to its score and sends
    # no alert.
    accepted_by: str | None = None


@dataclass(frozen=True, slots=True)
class KeyAssessment:
    """A key with its findings and the verdict the rules reached."""

    key: KeyRecord
    findings: tuple[Finding, ...]
    status: KeyStatus
    score: int


@dataclass(frozen=True, slots=True)
class InventoryContext:
    """What a source knows about projects before it streams keys."""

    projects: dict[str, ProjectRecord]  # by project number
    gemini_projects: frozenset[str]  # project numbers with a Gemini service enabled
    services_known: bool  # False: the source listed no services, so Gemini is unknown
    scope: str | None  # organizations/N, folders/N or projects/ID, when known
    iam: IamIndex | None = None  # None: the source read no IAM policies
    # The Gemini services enabled on each of gemini_projects: disabling one
    # of two leaves the project Gemini-capable (scanner.feed.context_edit).
    gemini_services: dict[str, frozenset[str]] = field(default_factory=dict)


@dataclass(slots=True)
class ScanStats:
    """Counts a scan accumulates; stored on its scan row."""

    assets_read: int = 0
    keys_total: int = 0
    by_status: dict[str, int] = field(default_factory=dict)
    by_severity: dict[str, int] = field(default_factory=dict)
    rows_written: int = 0
    notes: list[str] = field(default_factory=list)
    alerts: dict[str, Any] = field(default_factory=dict)  # what the alert planner queued


@dataclass(frozen=True)
class KeyState:
    """A key's restrictions as the API Keys API holds them now, with its etag:
    what `fix apply` changes and `fix rollback` restores."""

    name: str
    etag: str
    restrictions: dict[str, Any]  # the protobuf JSON of the key's Restrictions
