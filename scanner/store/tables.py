"""The history schema. Key versions and findings are validity intervals:
a row is valid from the scan that wrote it until the scan that closed it
(valid_to_scan_id NULL while it is current). A scan that changes nothing
writes only its own row."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import JSON, Date, DateTime, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """Stores naive UTC, returns aware UTC: SQLite keeps no time zone."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC)

    def result_processor(self, dialect: Dialect, coltype: Any) -> Callable[[Any], Any] | None:
        if dialect.name != "sqlite":
            return super().result_processor(dialect, coltype)

        # SQLite keeps the text SQLAlchemy wrote ("2026-02-09 10:56:35.000000");
        # fromisoformat reads it several times faster than the dialect's regex,
        # and a report or `verify` reads hundreds of thousands.
        def process(value: Any) -> datetime | None:
            if value is None:
                return None
            return datetime.fromisoformat(value).replace(tzinfo=UTC)

        return process


class Base(DeclarativeBase):
    pass


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
    application_restriction: Mapped[str] = mapped_column(String(16))
    application_values: Mapped[list[str]] = mapped_column(JSON)
    annotations: Mapped[dict[str, str]] = mapped_column(JSON)
    gemini_enabled: Mapped[bool | None]
    status: Mapped[str] = mapped_column(String(16))
    score: Mapped[int] = mapped_column(Integer)
    owners: Mapped[list[str]] = mapped_column(JSON, default=list, server_default="[]")
    creator: Mapped[str | None] = mapped_column(String(320))
    key_admins: Mapped[list[str]] = mapped_column(JSON, default=list, server_default="[]")

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
        Index("ix_findings_open", "valid_to_scan_id"),
        Index("ix_findings_fingerprint", "fingerprint", "valid_from_scan_id"),
        Index("ix_findings_from", "valid_from_scan_id"),
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


class Notification(Base):
    """The alert outbox: written in the scan's transaction, delivered later.
    dedupe_key is unique: the same notification is never queued twice."""

    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dedupe_key: Mapped[str] = mapped_column(String(255), unique=True)
    scan_id: Mapped[int | None] = mapped_column(ForeignKey("scans.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    kind: Mapped[str] = mapped_column(String(16))  # transition | reminder | digest
    receiver: Mapped[str] = mapped_column(String(128))
    channel: Mapped[str] = mapped_column(String(16))  # email | webhook
    target: Mapped[str] = mapped_column(String(320))  # an address, or the webhook's name
    subject: Mapped[str] = mapped_column(Text)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16))  # pending | sent | dead
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # A dispatcher owns the notification until then; a crashed one's claim lapses.
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Which claim owns it: only that claim may record the attempt.
    claim_token: Mapped[str | None] = mapped_column(String(32))
    last_error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_notifications_due", "status", "next_attempt_at"),)


class DeliveryAttempt(Base):
    __tablename__ = "delivery_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    notification_id: Mapped[int] = mapped_column(ForeignKey("notifications.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    outcome: Mapped[str] = mapped_column(String(16))  # sent | retryable | permanent
    error: Mapped[str | None] = mapped_column(Text)
    seconds: Mapped[float] = mapped_column(Float)


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

    __table_args__ = (
        Index("ix_usage_versions_open", "valid_to_scan_id"),
        Index("ix_usage_versions_name", "key_name", "valid_from_scan_id"),
        Index("ix_usage_versions_from", "valid_from_scan_id"),
    )


class KeyEventRow(Base):
    """Admin Activity audit entries about keys, once each (by insert id)."""

    __tablename__ = "key_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    insert_id: Mapped[str] = mapped_column(String(128), unique=True)
    key_name: Mapped[str] = mapped_column(String(255), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    method: Mapped[str] = mapped_column(String(16))
    principal: Mapped[str | None] = mapped_column(String(320))
    restrictions_removed: Mapped[bool]
    scan_id: Mapped[int] = mapped_column(ForeignKey("scans.id"), index=True)


class LeakImportRow(Base):
    """One `leaks import` or `leaks pull`: what it read and what it made of it."""

    __tablename__ = "leak_imports"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    source: Mapped[str] = mapped_column(Text)
    # Names the fingerprint secret: fingerprints under another secret never match.
    fingerprint_key_id: Mapped[str] = mapped_column(String(16))
    counts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class LeakReportRow(Base):
    """A key string a secret scanner reported, once per report finding (by its
    source fingerprint), as a keyed fingerprint and a redacted form only."""

    __tablename__ = "leak_reports"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    source_fingerprint: Mapped[str] = mapped_column(String(64), unique=True)
    secret_fingerprint: Mapped[str] = mapped_column(String(64), index=True)
    secret_kind: Mapped[str] = mapped_column(String(8))  # standard | auth
    redacted: Mapped[str] = mapped_column(String(16))
    tool: Mapped[str] = mapped_column(String(16))
    repository: Mapped[str | None] = mapped_column(Text)
    file: Mapped[str | None] = mapped_column(Text)
    line: Mapped[int | None] = mapped_column(Integer)
    link: Mapped[str | None] = mapped_column(Text)
    commit: Mapped[str | None] = mapped_column(String(128))
    author: Mapped[str | None] = mapped_column(Text)
    first_reported: Mapped[datetime | None] = mapped_column(UTCDateTime)
    verified: Mapped[bool | None]
    publicly_leaked: Mapped[bool | None]
    outcome: Mapped[str] = mapped_column(String(16))  # leaks.lookup.Outcome
    key_name: Mapped[str | None] = mapped_column(String(255))
    key_uid: Mapped[str | None] = mapped_column(String(128), index=True)
    parent: Mapped[str | None] = mapped_column(String(255))
    import_id: Mapped[int] = mapped_column(ForeignKey("leak_imports.id"))


class LeakLookupRow(Base):
    """LookupKey answers by secret fingerprint: each string is looked up once."""

    __tablename__ = "leak_lookups"

    secret_fingerprint: Mapped[str] = mapped_column(String(64), primary_key=True)
    outcome: Mapped[str] = mapped_column(String(16))
    key_name: Mapped[str | None] = mapped_column(String(255))
    parent: Mapped[str | None] = mapped_column(String(255))
    looked_up_at: Mapped[datetime] = mapped_column(UTCDateTime)
