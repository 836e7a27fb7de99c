"""The configuration's shape: every section, its defaults and its per-field
checks. Loading a file, and the checks that need the rule catalog, are in
scanner.configfile."""

from __future__ import annotations

import ipaddress
import re
from datetime import date
from typing import Literal

from pydantic import Field, field_validator, model_validator

from scanner.config.alerts import AlertsConfig
from scanner.config.exceptions import ExceptionsConfig
from scanner.config.feed import FeedConfig
from scanner.config.leaks import LeaksConfig
from scanner.config.scc import SccConfig
from scanner.config.schedule import ScheduleConfig
from scanner.config.tickets import TicketsConfig
from scanner.config.types import Duration, Strict, database_url_problem, scope_problem
from scanner.core.addresses import is_address
from scanner.inputs.fields import service_name

GEMINI_DOCS = "https://ai.google.dev/gemini-api/docs/api-key"
# A maintainer's report of what leftover standard keys answer after the
# September step: 400 API_KEY_INVALID (the June step answered 401).
SEPTEMBER_OBSERVED = "https://github.com/NousResearch/hermes-agent/pull/114315"
TIMELINE_CHECKED = date(2026, 12, 7)
Day = date  # in TimelineEntry, whose field `date` hides the type


class TimelineEntry(Strict):
    id: str = Field(min_length=1)
    date: date
    rules: list[str] = Field(min_length=1, description="rule ids whose deadline this is")
    effect: str
    status: Literal["enforced", "announced"]
    source: str = GEMINI_DOCS
    # The day the source was last read, and where sources disagree about the
    # entry (shown by `keysentry rules`, so that a date is never more certain
    # than what is known of it).
    checked: Day | None = None
    disputed: str | None = None


def default_timeline() -> list[TimelineEntry]:
    return [
        TimelineEntry(
            id="dormant-unrestricted-keys-blocked",
            date=date(2026, 5, 7),
            rules=["gemini-dormant-unrestricted-key"],
            effect="The Gemini API blocks unrestricted API keys that have been dormant for an "
            "extended period.",
            status="enforced",
            source="third-party reports; no statement by Google found",
            checked=TIMELINE_CHECKED,
            disputed="Google has not published this date or the length of dormancy "
            "(rules.dormancy_days sets it).",
        ),
        TimelineEntry(
            id="unrestricted-standard-keys-rejected",
            date=date(2026, 6, 19),
            rules=["gemini-unrestricted-standard-key"],
            effect="The Gemini API rejects requests from unrestricted standard keys.",
            status="enforced",
            checked=TIMELINE_CHECKED,
        ),
        TimelineEntry(
            id="standard-keys-rejected",
            date=date(2026, 9, 1),
            rules=["gemini-standard-key"],
            effect="The Gemini API rejects requests from all standard keys; callers need auth "
            "keys. Announced for September 2026 without a day.",
            status="announced",
            source=f"{GEMINI_DOCS}; {SEPTEMBER_OBSERVED}",
            checked=TIMELINE_CHECKED,
            disputed="Google's English page announced September 2026; some newer translated "
            "copies no longer list a September date; a third-party maintainer reported "
            "leftover standard keys answered 400 API_KEY_INVALID after it (2026-09-17). Not "
            "confirmed by Google: past the announced date, counted as overdue.",
        ),
    ]


class RulesConfig(Strict):
    dormancy_days: int = Field(default=90, ge=1, le=3650)
    rotation_days: int = Field(default=90, ge=1, le=3650)
    warn_days: int = Field(default=30, ge=0, le=3650)
    disabled: list[str] = Field(default_factory=list)
    # key-usage-anomaly: the last day's requests above this multiple of the
    # key's 28-day daily median, and above the floor.
    anomaly_multiple: float = Field(default=5.0, gt=1, le=1000)
    anomaly_floor: int = Field(default=1000, ge=0, le=10**12)


class GeminiConfig(Strict):
    # Services that count as "the Gemini API" in a key's apiTargets.
    api_services: list[str] = Field(default_factory=lambda: ["generativelanguage.googleapis.com"])
    # Services whose enablement in a project counts as "Gemini is on" there.
    project_services: list[str] = Field(
        default_factory=lambda: [
            "generativelanguage.googleapis.com",
            "aiplatform.googleapis.com",
        ]
    )

    @field_validator("api_services", "project_services")
    @classmethod
    def _service_names(cls, values: list[str]) -> list[str]:
        return [service_name(v) for v in values]


class InventoryConfig(Strict):
    page_size: int = Field(default=1000, ge=1, le=1000)
    quota_project: str | None = None
    retry_initial_seconds: float = Field(default=1.0, gt=0, le=3600)
    retry_maximum_seconds: float = Field(default=30.0, gt=0, le=3600)
    # Total time one page may spend in retries before the scan fails.
    retry_deadline_seconds: float = Field(default=300.0, gt=0, le=86400)
    request_timeout_seconds: float = Field(default=60.0, gt=0, le=3600)
    # Also read IAM policies, service accounts and custom roles (same role needed).
    iam: bool = True
    # Where keys come from. asset: Cloud Asset's Key resources (one listing for
    # the scope). apikeys: the API Keys API's ListKeys in every project Cloud
    # Asset lists, which certainly carries each key's service account.
    keys_from: Literal["asset", "apikeys"] = "asset"
    # A scan that sees fewer keys or projects than this share below the last
    # successful scan (or none at all) fails and changes nothing: an empty export
    # or credentials that suddenly see nothing must not close every key's history.
    max_shrink: float = Field(default=0.5, ge=0, le=1)
    # ...compared with the largest inventory of the succeeded scans of this
    # window (since the last accepted shrink): no walking it down step by step.
    shrink_window: Duration = 30 * 86400.0
    apikeys_concurrency: int = Field(default=8, ge=1, le=64)  # projects listed at once
    apikeys_requests_per_second: float = Field(default=10.0, gt=0, le=10000)  # across all of them
    # Bounds on what one project's ListKeys may answer (a project holds at most
    # 300 keys: one page of 300 normally).
    apikeys_max_pages: int = Field(default=100, ge=1, le=100000)
    apikeys_max_page_bytes: int = Field(default=16 * 2**20, ge=1024, le=2**30)


_HOST_NAME = re.compile(r"(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.?)+")


def _listen_host(host: str) -> bool:
    """An address to listen on: empty (all), an IP address, or a host name
    whose labels are not all digits (999.999.1.1 is neither)."""
    if not host:
        return True
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        pass
    labels = host.rstrip(".").split(".")
    return bool(_HOST_NAME.fullmatch(host)) and not all(label.isdigit() for label in labels)


class WorkerConfig(Strict):
    listen: str = "0.0.0.0:9184"
    # /readyz fails once the last successful scan is older than this (default:
    # two scheduled intervals plus the misfire grace).
    ready_max_age: Duration | None = None
    # On SIGTERM, how long a running scan may take to finish before it is
    # rolled back.
    shutdown_grace: Duration = 30.0
    # What the worker scans: one scope, or Cloud Asset export files.
    scope: str | None = None
    exports: list[str] = Field(default_factory=list)

    @field_validator("scope")
    @classmethod
    def _scope(cls, value: str | None) -> str | None:
        problem = None if value is None else scope_problem(value)
        if problem is not None:
            raise ValueError(problem)
        return value

    @model_validator(mode="after")
    def _one_source(self) -> WorkerConfig:
        if self.scope is not None and self.exports:
            raise ValueError("give worker.scope or worker.exports, not both")
        return self

    @field_validator("listen")
    @classmethod
    def _host_port(cls, value: str) -> str:
        host, sep, port = value.rpartition(":")
        if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
            raise ValueError(f"expected HOST:PORT, e.g. 0.0.0.0:9184, not {value!r}")
        if not _listen_host(host.strip("[]")):
            raise ValueError(f"{host!r} is not an IP address or a host name")
        return f"{host.strip('[]') or '0.0.0.0'}:{port}"  # noqa: S104


class MetricsConfig(Strict):
    # The worst keys by score, exported one series each for a top-offenders table.
    top_keys: int = Field(default=50, ge=0, le=1000)
    # Keys by status per project, for the projects with the most bad keys;
    # the rest are summed under project="(other)".
    per_project: bool = True
    max_projects: int = Field(default=200, ge=1, le=10000)
    # A used evidence source covering a smaller share of projects fires
    # KeysentryEvidenceCoverageLow.
    coverage_min_share: float = Field(default=0.95, ge=0.0, le=1.0)


class UsageConfig(Strict):
    """Per-key traffic from Cloud Monitoring (live scans; roles/monitoring.viewer)."""

    enabled: bool = False
    lookback_days: int = Field(default=90, ge=1, le=400)
    concurrency: int = Field(default=8, ge=1, le=64)  # projects queried at once
    requests_per_second: float = Field(default=20.0, gt=0, le=10000)  # across all of them
    request_timeout_seconds: float = Field(default=30.0, gt=0, le=3600)
    retry_deadline_seconds: float = Field(default=120.0, gt=0, le=86400)
    # gemini-key-rejected-in-use: this share of Gemini requests rejected (4xx).
    rejected_share: float = Field(default=0.5, gt=0, le=1)


class AuditConfig(Strict):
    """Key changes from Cloud Audit Logs (live scans; roles/logging.viewer)."""

    enabled: bool = False
    # The first scan reads this far back; later scans read since the last one.
    first_lookback_days: int = Field(default=30, ge=1, le=400)
    projects_per_request: int = Field(default=50, ge=1, le=100)
    request_timeout_seconds: float = Field(default=60.0, gt=0, le=3600)
    retry_deadline_seconds: float = Field(default=120.0, gt=0, le=86400)


class OwnershipConfig(Strict):
    """Who owns a project's keys, besides the alerts.owners map."""

    # Also count roles/owner granted on the project's folders and organization.
    inherit: bool = False
    # Project labels that name an owning team or person, in this order...
    labels: list[str] = Field(default_factory=lambda: ["owner", "team"])
    # ...and the addresses a label value stands for; values without an entry
    # become VALUE@label_domain when that is set.
    label_addresses: dict[str, list[str]] = Field(default_factory=dict)
    label_domain: str | None = None
    # The organization's own email domains: key administration held by people
    # outside them is a finding (key-admin-granted-broadly). Empty: not judged.
    domains: list[str] = Field(default_factory=list)

    @field_validator("label_addresses")
    @classmethod
    def _addresses(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for label, addresses in value.items():
            for address in addresses:
                if not is_address(address):
                    raise ValueError(f"{label}: not one email address: {address!r}")
        return value


class Config(Strict):
    database_url: str | None = None
    timeline: list[TimelineEntry] = Field(default_factory=default_timeline)
    rules: RulesConfig = Field(default_factory=RulesConfig)
    gemini: GeminiConfig = Field(default_factory=GeminiConfig)
    inventory: InventoryConfig = Field(default_factory=InventoryConfig)
    schedule: ScheduleConfig = Field(default_factory=ScheduleConfig)
    worker: WorkerConfig = Field(default_factory=WorkerConfig)
    metrics: MetricsConfig = Field(default_factory=MetricsConfig)
    alerts: AlertsConfig = Field(default_factory=AlertsConfig)
    ownership: OwnershipConfig = Field(default_factory=OwnershipConfig)
    usage: UsageConfig = Field(default_factory=UsageConfig)
    audit: AuditConfig = Field(default_factory=AuditConfig)
    leaks: LeaksConfig = Field(default_factory=LeaksConfig)
    exceptions: ExceptionsConfig = Field(default_factory=ExceptionsConfig)
    scc: SccConfig = Field(default_factory=SccConfig)
    tickets: TicketsConfig = Field(default_factory=TicketsConfig)
    feed: FeedConfig = Field(default_factory=FeedConfig)

    @field_validator("database_url")
    @classmethod
    def _database(cls, value: str | None) -> str | None:
        problem = None if value is None else database_url_problem(value)
        if problem is not None:
            raise ValueError(problem)
        return value

    def deadlines(self) -> dict[str, TimelineEntry]:
        """The timeline entry that gives each rule its deadline, by rule id."""
        return {rule: entry for entry in self.timeline for rule in entry.rules}
