"""The history schema. Key versions and findings are validity intervals:
a row is valid from the scan that wrote it until the scan that closed it
(valid_to_scan_id NULL while it is current). A scan that changes nothing
writes only its own row."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Date, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from scanner.store.base import Base, UTCDateTime
from scanner.store.side_tables import (
    DeliveryAttempt,
    DigestLine,
    DigestLineState,
    DigestTarget,
    KeyFixRow,
    LeakImportRow,
    LeakLookupRow,
    LeakReportRow,
    Notification,
    UnownedKey,
)

__all__ = [
    "Base",
    "ChainOrigin",
    "DeliveryAttempt",
    "DigestLine",
    "DigestLineState",
    "DigestTarget",
    "FigureRow",
    "FindingVersion",
    "KeyEventRow",
    "KeyFixRow",
    "KeyVersion",
    "LeakImportRow",
    "LeakLookupRow",
    "LeakReportRow",
    "Notification",
    "Scan",
    "ScanConfig",
    "Transition",
    "UTCDateTime",
    "UnownedKey",
    "UsageVersion",
]


class Scan(Base):
    __tablename__ = "scans"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16), index=True)  # running|succeeded|failed
    source: Mapped[str] = mapped_column(Text)
    scope: Mapped[str | None] = mapped_column(String(255))
    evaluated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    assets_read: Mapped[int] = mapped_column(Integer, default=0)
    keys_total: Mapped[int] = mapped_column(Integer, default=0)
    findings_open: Mapped[int] = mapped_column(Integer, default=0)
    rows_written: Mapped[int] = mapped_column(Integer, default=0)
    counts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    notes: Mapped[list[str]] = mapped_column(JSON, default=list)
    error: Mapped[str | None] = mapped_column(Text)
    # inventory | evaluate | store | shutdown | abandoned, for a failed scan
    error_stage: Mapped[str | None] = mapped_column(String(16))
    version: Mapped[str] = mapped_column(String(32))
    # What the scan was judged under: a row of scan_configs.
    config_digest: Mapped[str | None] = mapped_column(String(64))
    # sha256 over what the scan wrote, chained to the previous scan's (store.chain).
    chain_hash: Mapped[str | None] = mapped_column(String(64))
    # A succeeded scan sealed since schema 0018: the chain's origin as it knew
    # it (store.chain_cover). A failed scan: the scan whose chain entry covers it.
    chain_origin: Mapped[str | None] = mapped_column(String(160))
    chain_scan_id: Mapped[int | None] = mapped_column(Integer, index=True)
    # full: the whole inventory; feed: the keys of Cloud Asset feed messages (0023).
    kind: Mapped[str] = mapped_column(String(8), default="full", server_default="full")


class ChainOrigin(Base):
    """Where the hash chain began (one row): the succeeded scans up to
    UNCHAINED_THROUGH predate it (a database upgraded from before schema
    0010), and the first chained scan with its hash, once there is one."""

    __tablename__ = "chain_origin"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)  # one row: 1
    unchained_through: Mapped[int] = mapped_column(Integer)
    first_scan_id: Mapped[int | None] = mapped_column(Integer)
    first_hash: Mapped[str | None] = mapped_column(String(64))


class ScanConfig(Base):
    """The configuration, timeline and rule catalog scans were judged under,
    once per distinct digest."""

    __tablename__ = "scan_configs"

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    first_scan_id: Mapped[int] = mapped_column(ForeignKey("scans.id"))
    document: Mapped[dict[str, Any]] = mapped_column(JSON)


class KeyVersion(Base):
    __tablename__ = "key_versions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key_name: Mapped[str] = mapped_column(String(255))
    valid_from_scan_id: Mapped[int] = mapped_column(ForeignKey("scans.id"))
    valid_to_scan_id: Mapped[int | None] = mapped_column(ForeignKey("scans.id"))
    content_hash: Mapped[str] = mapped_column(String(32))
    uid: Mapped[str] = mapped_column(String(255))
    project_number: Mapped[str] = mapped_column(String(32))
    project_id: Mapped[str | None] = mapped_column(String(64))
    display_name: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    key_type: Mapped[str] = mapped_column(String(16))
    service_account: Mapped[str | None] = mapped_column(String(320))
    api_targets: Mapped[list[str]] = mapped_column(JSON)
    api_methods: Mapped[dict[str, list[str]] | None] = mapped_column(JSON)  # (0020)
    application_restriction: Mapped[str] = mapped_column(String(16))
    application_values: Mapped[list[str]] = mapped_column(JSON)
    annotations: Mapped[dict[str, str]] = mapped_column(JSON)
    gemini_enabled: Mapped[bool | None]
    status: Mapped[str] = mapped_column(String(16))
    score: Mapped[int] = mapped_column(Integer)
    owners: Mapped[list[str]] = mapped_column(JSON, default=list, server_default="[]")
    creator: Mapped[str | None] = mapped_column(String(320))
    key_admins: Mapped[list[str]] = mapped_column(JSON, default=list, server_default="[]")
    # A digest of the key's findings in the scan that wrote the version
    # (store.history_rows.findings_digest), so that a scan reads back only the
    # findings of keys whose digest moved; NULL on versions written before 0014.
    findings_hash: Mapped[str | None] = mapped_column(String(32))
    etag: Mapped[str | None] = mapped_column(String(128))  # the API's, for `fix apply` (0015)
    # A digest of the key as its source listed it (inventory.listed.ListedKey),
    # so that a scan keeps an unmoved key without decoding it; NULL where the
    # source gives none and on versions written before 0016.
    source_hash: Mapped[str | None] = mapped_column(String(32))

    __table_args__ = (
        Index("ix_key_versions_open", "valid_to_scan_id"),
        Index("ix_key_versions_name", "key_name", "valid_from_scan_id"),
        Index("ix_key_versions_from", "valid_from_scan_id"),
    )


class FindingVersion(Base):
    __tablename__ = "findings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    fingerprint: Mapped[str] = mapped_column(String(32))
    rule_id: Mapped[str] = mapped_column(String(64))
    key_name: Mapped[str] = mapped_column(String(255))
    valid_from_scan_id: Mapped[int] = mapped_column(ForeignKey("scans.id"))
    valid_to_scan_id: Mapped[int | None] = mapped_column(ForeignKey("scans.id"))
    state_hash: Mapped[str] = mapped_column(String(32))
    severity: Mapped[str] = mapped_column(String(16))
    summary: Mapped[str] = mapped_column(Text)
    checklist: Mapped[str] = mapped_column(String(64))
    deadline: Mapped[date | None] = mapped_column(Date)
    deadline_kind: Mapped[str | None] = mapped_column(String(16))
    timeline_entry: Mapped[str | None] = mapped_column(String(64))
    # The exception that accepted the finding while this interval held (0011).
    accepted_by: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (
        # With the key: the open findings of some keys, and all of them in key order.
        Index("ix_findings_open", "valid_to_scan_id", "key_name"),
        # A key's findings at any scan: the report reads them a batch of keys at a time.
        Index("ix_findings_name", "key_name", "valid_from_scan_id"),
        Index("ix_findings_fingerprint", "fingerprint", "valid_from_scan_id"),
        Index("ix_findings_from", "valid_from_scan_id"),
        # Reminders look findings up by the deadlines whose reminder point was crossed.
        Index("ix_findings_deadline", "deadline", "valid_to_scan_id"),
    )


class Transition(Base):
    """What changed in a scan; alerts consume these."""

    __tablename__ = "transitions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    scan_id: Mapped[int] = mapped_column(ForeignKey("scans.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    # opened | reopened | resolved | severity_changed | status_changed
    kind: Mapped[str] = mapped_column(String(32))
    key_name: Mapped[str] = mapped_column(String(255), index=True)
    fingerprint: Mapped[str | None] = mapped_column(String(32))
    rule_id: Mapped[str | None] = mapped_column(String(64))
    from_value: Mapped[str | None] = mapped_column(String(32))
    to_value: Mapped[str | None] = mapped_column(String(32))
    # Why a finding was resolved (store.reasons.Reason); None for other kinds.
    reason: Mapped[str | None] = mapped_column(String(32))
    # accepted | acceptance_expired | acceptance_revoked: the exception; on other
    # kinds, the exception that accepted the finding then (0011).
    exception_id: Mapped[str | None] = mapped_column(String(64))


class UsageVersion(Base):
    """A key's traffic figures from Cloud Monitoring, as a validity interval
    like key versions: what each scan knew of the key's usage."""

    __tablename__ = "usage_versions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key_name: Mapped[str] = mapped_column(String(255))
    valid_from_scan_id: Mapped[int] = mapped_column(ForeignKey("scans.id"))
    valid_to_scan_id: Mapped[int | None] = mapped_column(ForeignKey("scans.id"))
    content_hash: Mapped[str] = mapped_column(String(32))
    last_used: Mapped[datetime | None] = mapped_column(UTCDateTime)
    lookback_days: Mapped[int] = mapped_column(Integer)
    requests_7d: Mapped[int] = mapped_column(Integer)
    requests_30d: Mapped[int] = mapped_column(Integer)
    gemini_requests_7d: Mapped[int] = mapped_column(Integer)
    gemini_rejected_7d: Mapped[int] = mapped_column(Integer)
    requests_1d: Mapped[int] = mapped_column(Integer)
    daily_median_28d: Mapped[float | None] = mapped_column(Float)
    # Per service over the lookback (store.history_rows.services_document);
    # NULL where the key called nothing or before 0015.
    services: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    covered_days: Mapped[int | None] = mapped_column(Integer)

    __table_args__ = (
        Index("ix_usage_versions_open", "valid_to_scan_id"),
        Index("ix_usage_versions_name", "key_name", "valid_from_scan_id"),
        Index("ix_usage_versions_from", "valid_from_scan_id"),
    )


class KeyEventRow(Base):
    """Audit entries about keys, once each (by insert id): Admin Activity, and
    the Data Access log's GetKeyString."""

    __tablename__ = "key_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    insert_id: Mapped[str] = mapped_column(String(128), unique=True)
    key_name: Mapped[str] = mapped_column(String(255), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    method: Mapped[str] = mapped_column(String(16))
    principal: Mapped[str | None] = mapped_column(String(320))
    restrictions_removed: Mapped[bool]
    scan_id: Mapped[int] = mapped_column(ForeignKey("scans.id"), index=True)
    caller_ip: Mapped[str | None] = mapped_column(String(64))  # (0020)


class FigureRow(Base):
    """The figures the metrics show of a succeeded scan (store.figures),
    counted by the scan itself so that a scrape reads one row."""

    __tablename__ = "scan_figures"

    scan_id: Mapped[int] = mapped_column(ForeignKey("scans.id"), primary_key=True)
    document: Mapped[dict[str, Any]] = mapped_column(JSON)
