"""The outbox table: queue with dedupe, claim with a lease, record attempts."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import Connection, Engine, and_, func, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from scanner.store.tables import DeliveryAttempt, Notification


def dedupe_key(kind: str, identity: str, receiver: str, channel: str, target: str) -> str:
    """Stable for the same notification, whatever replica or run computes it."""
    digest = hashlib.sha256("\x00".join((identity, receiver, channel, target)).encode())
    return f"{kind}:{digest.hexdigest()[:48]}"


def digest_key(receiver: str, period: int, channel: str, target: str) -> str:
    """Digest keys share a prefix per receiver and period, to ask "sent yet?"."""
    target_hash = hashlib.sha256(f"{channel}\x00{target}".encode()).hexdigest()[:16]
    return f"{digest_prefix(receiver, period)}{target_hash}"


def digest_prefix(receiver: str, period: int) -> str:
    return f"digest:{hashlib.sha256(receiver.encode()).hexdigest()[:16]}:{period}:"


def digest_period_done(conn: Connection, receiver: str, period: int) -> bool:
    prefix = digest_prefix(receiver, period)
    found = conn.scalar(
        select(Notification.id).where(Notification.dedupe_key.startswith(prefix)).limit(1)
    )
    return found is not None


def enqueue(conn: Connection, rows: Sequence[dict[str, Any]]) -> int:
    """Insert ROWS, skipping any whose dedupe key is already queued; returns
    how many are new."""
    if not rows:
        return 0
    dialect = conn.dialect.name
    make = postgresql.insert if dialect == "postgresql" else sqlite.insert
    new = 0
    for start in range(0, len(rows), 500):
        statement = (
            make(Notification)
            .on_conflict_do_nothing(index_elements=["dedupe_key"])
            .returning(Notification.id)
        )
        # The ids of the rows inserted: PostgreSQL's driver gives no row count
        # for an executemany (it read 0, and every scan said it queued nothing).
        new += len(conn.execute(statement, list(rows[start : start + 500])).all())
    return new


def notification_row(
    key: str,
    kind: str,
    receiver: str,
    channel: str,
    target: str,
    subject: str,
    payload: dict[str, Any],
    scan_id: int | None,
    now: datetime,
) -> dict[str, Any]:
    return {
        "dedupe_key": key,
        "scan_id": scan_id,
        "created_at": now,
        "kind": kind,
        "receiver": receiver,
        "channel": channel,
        "target": target,
        "subject": subject,
        "payload": payload,
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": now,
        "claimed_until": None,
        "last_error": None,
        "sent_at": None,
    }


class Addressed(Protocol):
    """Where a notification goes (scanner.alerts.facts.Target)."""

    @property
    def receiver(self) -> str: ...
    @property
    def channel(self) -> str: ...
    @property
    def address(self) -> str: ...


def target_key(target: Addressed, kind: str, identity: str) -> str:
    return dedupe_key(kind, identity, target.receiver, target.channel, target.address)


def target_row(
    target: Addressed,
    key: str,
    kind: str,
    subject: str,
    payload: dict[str, Any],
    scan_id: int | None,
    now: datetime,
) -> dict[str, Any]:
    return notification_row(
        key, kind, target.receiver, target.channel, target.address, subject, payload, scan_id, now
    )


@dataclass(frozen=True, slots=True)
class Claimed:
    id: int
    dedupe_key: str
    kind: str
    receiver: str
    channel: str
    target: str
    subject: str
    payload: dict[str, Any]
    attempts: int
    token: str  # this claim's: recording succeeds only while it still owns the row


def _free(now: datetime) -> Any:
    return or_(Notification.claimed_until.is_(None), Notification.claimed_until < now)


def due_ids(engine: Engine, now: datetime, limit: int) -> list[int]:
    """Up to LIMIT notifications due now and not held by a live claim."""
    with engine.connect() as conn:
        return list(
            conn.scalars(
                select(Notification.id)
                .where(
                    Notification.status == "pending",
                    Notification.next_attempt_at <= now,
                    _free(now),
                )
                .order_by(Notification.next_attempt_at, Notification.id)
                .limit(limit)
            )
        )


def claim(engine: Engine, notification_id: int, now: datetime, lease: timedelta) -> Claimed | None:
    """Take one notification for LEASE, just before sending it: an UPDATE that
    succeeds only while nobody holds an unexpired claim. One claim covers one
    send, so a long batch never outlives the leases of its last notifications."""
    token = secrets.token_hex(16)
    with engine.begin() as conn:
        taken = conn.execute(
            update(Notification)
            .where(
                and_(
                    Notification.id == notification_id,
                    Notification.status == "pending",
                    Notification.next_attempt_at <= now,
                    _free(now),
                )
            )
            .values(claimed_until=now + lease, claim_token=token)
        ).rowcount
        if taken != 1:
            return None
        row = conn.execute(select(Notification).where(Notification.id == notification_id)).one()
    return Claimed(
        row.id,
        row.dedupe_key,
        row.kind,
        row.receiver,
        row.channel,
        row.target,
        row.subject,
        row.payload,
        row.attempts,
        token,
    )


def record_attempt(
    engine: Engine,
    claimed: Claimed,
    at: datetime,
    outcome: str,
    error: str | None,
    seconds: float,
    retry_at: datetime | None,
) -> str:
    """Record one attempt; returns the notification's new status, or "lost"
    when the claim no longer owns the notification (its lease lapsed and another
    dispatcher took it): then nothing is written."""
    attempts = claimed.attempts + 1
    if outcome == "sent":
        status = "sent"
    elif outcome == "retryable" and retry_at is not None:
        status = "pending"
    else:
        status = "dead"
    with engine.begin() as conn:
        owned = conn.execute(
            update(Notification)
            .where(
                Notification.id == claimed.id,
                Notification.claim_token == claimed.token,
                Notification.status == "pending",
            )
            .values(
                status=status,
                attempts=attempts,
                claimed_until=None,
                claim_token=None,
                last_error=error[:2000] if error else None,
                sent_at=at if status == "sent" else None,
                next_attempt_at=retry_at or at,
            )
        ).rowcount
        if owned != 1:
            return "lost"
        conn.execute(
            insert(DeliveryAttempt).values(
                notification_id=claimed.id,
                at=at,
                outcome=outcome,
                error=error[:2000] if error else None,
                seconds=seconds,
            )
        )
    return status


def list_notifications(engine: Engine, statuses: Sequence[str], limit: int) -> list[Any]:
    with engine.connect() as conn:
        return list(
            conn.execute(
                select(Notification)
                .where(Notification.status.in_(statuses))
                .order_by(Notification.id.desc())
                .limit(limit)
            ).all()
        )


def counts(engine: Engine) -> dict[str, Any]:
    """For the metrics: notifications by channel, kind and status; attempts by
    channel and outcome; the oldest pending notification's creation time."""
    with engine.connect() as conn:
        by_status = {
            (channel, kind, status): n
            for channel, kind, status, n in conn.execute(
                select(
                    Notification.channel, Notification.kind, Notification.status, func.count()
                ).group_by(Notification.channel, Notification.kind, Notification.status)
            )
        }
        attempts = {
            (channel, outcome): n
            for channel, outcome, n in conn.execute(
                select(Notification.channel, DeliveryAttempt.outcome, func.count())
                .join(Notification, Notification.id == DeliveryAttempt.notification_id)
                .group_by(Notification.channel, DeliveryAttempt.outcome)
            )
        }
        oldest = conn.scalar(
            select(func.min(Notification.created_at)).where(Notification.status == "pending")
        )
    return {"by_status": by_status, "attempts": attempts, "oldest_pending": oldest}
