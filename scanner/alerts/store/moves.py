"""What alert planning reads of history beside the facts: a scan's
transitions, the findings that moved since an instant, the deadlines open
findings carry, the scan before and the configuration a scan was judged
under."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, or_, select

from scanner.store.queries import FULL
from scanner.store.tables import FindingVersion, Scan, Transition

# What a digest leads with: a finding that opened, came back or got worse.
_WORSE = ("opened", "reopened", "severity_changed", "acceptance_expired", "acceptance_revoked")


def scan_transitions(conn: Connection, scan_id: int) -> list[Any]:
    return list(conn.execute(select(Transition).where(Transition.scan_id == scan_id)))


def changed_since(conn: Connection, since: datetime, scan_id: int) -> frozenset[str]:
    """Findings that opened, came back or got worse after SINCE, up to SCAN_ID."""
    t = Transition
    # A transition is at its scan's instant: the scans after SINCE find them by index.
    scans = select(Scan.id).where(Scan.evaluated_at > since, Scan.id <= scan_id)
    query = select(t.fingerprint).where(
        t.scan_id.in_(scans), t.at > since, t.kind.in_(_WORSE), t.fingerprint.is_not(None)
    )
    return frozenset(str(fp) for fp in conn.scalars(query))


def new_fingerprints(conn: Connection, scan_id: int) -> set[str]:
    """Findings that opened (or came back) in this scan."""
    t = Transition
    query = select(t.fingerprint).where(t.scan_id == scan_id, t.kind.in_(("opened", "reopened")))
    return {fp for fp in conn.scalars(query) if fp is not None}


def open_deadlines(conn: Connection, scan_id: int) -> list[date]:
    """Every deadline of a finding open at SCAN_ID, and some of closed ones:
    read from the deadline index alone, the findings are for the caller to check."""
    fv = FindingVersion
    query = select(fv.deadline).where(
        fv.deadline.is_not(None),
        or_(fv.valid_to_scan_id.is_(None), fv.valid_to_scan_id > scan_id),
    )
    return list(conn.scalars(query.distinct()))


def previous_scan(conn: Connection, scan_id: int) -> Any:
    """(id, evaluated_at) of the last successful full scan before SCAN_ID, or None."""
    return conn.execute(
        select(Scan.id, Scan.evaluated_at)
        .where(Scan.status == "succeeded", Scan.kind == FULL, Scan.id < scan_id)
        .order_by(Scan.id.desc())
        .limit(1)
    ).first()


def config_digest_of(conn: Connection, scan_id: int) -> str | None:
    return conn.scalar(select(Scan.config_digest).where(Scan.id == scan_id))
