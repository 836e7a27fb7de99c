"""The tables beside history: the alert outbox with its delivery attempts,
the digest lines alert planning keeps, and the leak reports imported from
secret scanners."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from scanner.store.base import Base, UTCDateTime


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


class DigestTarget(Base):
    """Who a digest goes to, with the figures over every key it lists (by
    status, per project, accepted keys: scanner.alerts.plan.lines.Figures), kept up to
    date with its lines."""

    __tablename__ = "digest_targets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    receiver: Mapped[str] = mapped_column(String(128))
    channel: Mapped[str] = mapped_column(String(16))
    address: Mapped[str] = mapped_column(String(320))
    figures: Mapped[dict[str, Any]] = mapped_column(JSON)


class DigestLine(Base):
    """An open key's place in one target's digest: a row per key and target
    it is routed to, kept from scan to scan and redone only for the keys whose
    versions moved (scanner.alerts.plan.lines). Derived: it can be rebuilt from history."""

    __tablename__ = "digest_lines"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    # In byte order on PostgreSQL ("C"): a digest lists keys by urgency, then
    # name, as Python orders them, and reads them from the index in that order.
    key_name: Mapped[str] = mapped_column(
        String(255).with_variant(String(255, collation="C"), "postgresql"), index=True
    )
    target_id: Mapped[int] = mapped_column(Integer)
    # The key has open findings routed here that no exception accepts: the
    # digest lists or counts it. Else it is here for accepted findings alone.
    listed: Mapped[bool] = mapped_column(Boolean)
    accepted: Mapped[bool] = mapped_column(Boolean)  # findings routed here an exception accepts
    # Digits that sort as scanner.alerts.content.digest_content.urgency_order but the name:
    # in any collation.
    urgency: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))
    project: Mapped[str] = mapped_column(String(64))
    named: Mapped[bool] = mapped_column(Boolean)  # alerts.owners names the address for it
    owned: Mapped[bool] = mapped_column(Boolean)  # the address is among the key's owners
    created: Mapped[str | None] = mapped_column(Text)  # the key's name shown, if its creator

    __table_args__ = (Index("ix_digest_lines_order", "target_id", "listed", "urgency", "key_name"),)


class UnownedKey(Base):
    """An open key routed to its owners when none is known (scanner.alerts.plan.lines)."""

    __tablename__ = "unowned_keys"

    key_name: Mapped[str] = mapped_column(String(255), primary_key=True)


class DigestLineState(Base):
    """What the digest lines stand for: the scan whose open versions they
    reflect, and a digest of the alert configuration they were routed under."""

    __tablename__ = "digest_line_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)  # one row: 1
    scan_id: Mapped[int] = mapped_column(Integer)
    routing: Mapped[str] = mapped_column(String(64))


class LeakImportRow(Base):
    """One `leaks import` or `leaks pull`: what it read and what it made of it."""

    __tablename__ = "leak_imports"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    source: Mapped[str] = mapped_column(Text)
    # Names the fingerprint secret: fingerprints under another secret never match.
    fingerprint_key_id: Mapped[str] = mapped_column(String(16))
    counts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # The scan whose chain entry covers the row (store.chain_cover).
    chain_scan_id: Mapped[int | None] = mapped_column(Integer, index=True)


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
    scanner_status: Mapped[str | None] = mapped_column(Text)  # (0020)
    outcome: Mapped[str] = mapped_column(String(16))  # leaks.lookup.Outcome
    key_name: Mapped[str | None] = mapped_column(String(255))
    key_uid: Mapped[str | None] = mapped_column(String(128), index=True)
    parent: Mapped[str | None] = mapped_column(String(255))
    import_id: Mapped[int] = mapped_column(ForeignKey("leak_imports.id"))
    # The scan whose chain entry covers the row (store.chain_cover).
    chain_scan_id: Mapped[int | None] = mapped_column(Integer, index=True)


class LeakLookupRow(Base):
    """LookupKey answers by secret fingerprint: each string is looked up once."""

    __tablename__ = "leak_lookups"

    secret_fingerprint: Mapped[str] = mapped_column(String(64), primary_key=True)
    outcome: Mapped[str] = mapped_column(String(16))
    key_name: Mapped[str | None] = mapped_column(String(255))
    parent: Mapped[str | None] = mapped_column(String(255))
    looked_up_at: Mapped[datetime] = mapped_column(UTCDateTime)


class KeyFixRow(Base):
    """A change `fix apply` or `fix rollback` made to a key's restrictions:
    who, when, from which plan, and the restrictions before and after."""

    __tablename__ = "key_fixes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key_name: Mapped[str] = mapped_column(String(255), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    by: Mapped[str] = mapped_column(String(320))
    kind: Mapped[str] = mapped_column(String(16))  # applied | rolled_back
    plan_scan_id: Mapped[int | None] = mapped_column(Integer)
    before: Mapped[dict[str, Any]] = mapped_column(JSON)
    after: Mapped[dict[str, Any]] = mapped_column(JSON)
    etag_before: Mapped[str] = mapped_column(String(128))
    etag_after: Mapped[str] = mapped_column(String(128))
    # The scan whose chain entry covers the row (store.chain_cover).
    chain_scan_id: Mapped[int | None] = mapped_column(Integer, index=True)


class SccFindingRow(Base):
    """What keysentry last published to Security Command Center of each finding:
    a digest of it, its state and mute, so that a sync with nothing new makes no
    call. Outbound state, like the outbox: not part of the hash chain."""

    __tablename__ = "scc_findings"

    fingerprint: Mapped[str] = mapped_column(String(32), primary_key=True)
    key_name: Mapped[str] = mapped_column(String(255))
    digest: Mapped[str] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(16))  # ACTIVE | INACTIVE
    muted: Mapped[bool] = mapped_column(Boolean)
    synced_at: Mapped[datetime] = mapped_column(UTCDateTime)


class TicketRow(Base):
    """A group of findings and its ticket in Jira or ServiceNow: what the
    ticket last said (a digest, the findings in it), its state, and the lease
    of the worker creating it, so that two workers never both create one."""

    __tablename__ = "tickets"

    group_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    receiver: Mapped[str] = mapped_column(String(128))
    title: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16))  # new | open | resolved
    remote_key: Mapped[str | None] = mapped_column(String(128))
    remote_id: Mapped[str | None] = mapped_column(String(128))
    url: Mapped[str | None] = mapped_column(Text)
    digest: Mapped[str | None] = mapped_column(String(32))
    fingerprints: Mapped[list[str]] = mapped_column(JSON, default=list)
    key_names: Mapped[list[str]] = mapped_column(JSON, default=list)
    # A create whose outcome is unknown (a timeout): until the search can be
    # trusted to show it, no second create.
    create_attempted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    declined: Mapped[str | None] = mapped_column(Text)  # a resolution that fixed nothing
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class InventoryContextRow(Base):
    """The projects, services and IAM a full scan judged its keys with
    (scanner.store.contexts), stored when they differ from the last stored:
    feed scans judge the keys they change with it."""

    __tablename__ = "inventory_contexts"

    scan_id: Mapped[int] = mapped_column(ForeignKey("scans.id"), primary_key=True)
    digest: Mapped[str] = mapped_column(String(64))
    document: Mapped[bytes] = mapped_column(LargeBinary)  # zlib-compressed JSON
