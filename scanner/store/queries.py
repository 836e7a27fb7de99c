"""Reads history as it stood at a given scan."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, Connection, Engine, or_, select
from sqlalchemy.orm import Session

from scanner.core.errors import StoreError
from scanner.store.tables import FindingVersion, KeyVersion, Scan, UsageVersion

# A scan of the whole inventory; a feed scan (scanner.feed) changes a few keys
# between two of them, and is not "the latest scan" a report or a count reads.
FULL = "full"


def valid_at(
    model: type[KeyVersion] | type[FindingVersion] | type[UsageVersion], scan_id: int
) -> ColumnElement[bool]:
    # "+ 0": the range covers nearly every row, and an index on valid_from
    # (which the hash chain reads by equality) would make SQLite visit them one by one.
    return (model.valid_from_scan_id + 0 <= scan_id) & or_(
        model.valid_to_scan_id.is_(None), model.valid_to_scan_id > scan_id
    )


def latest_succeeded_scan(engine: Engine) -> Scan | None:
    """The last successful full scan."""
    with Session(engine, expire_on_commit=False) as session:
        return session.scalars(
            select(Scan)
            .where(Scan.status == "succeeded", Scan.kind == FULL)
            .order_by(Scan.id.desc())
            .limit(1)
        ).first()


def get_scan(engine: Engine, scan_id: int) -> Scan:
    with Session(engine, expire_on_commit=False) as session:
        scan = session.get(Scan, scan_id)
    if scan is None:
        raise StoreError(f"--scan {scan_id}: no such scan")
    return scan


def scan_in(conn: Connection, scan_id: int) -> Scan:
    """Scan SCAN_ID as CONN sees it (inside a transaction not yet committed)."""
    return Session(bind=conn, expire_on_commit=False).get_one(Scan, scan_id)


def scan_for_report(engine: Engine, scan_id: int | None) -> Scan:
    """The scan a report shows: SCAN_ID, else the latest that succeeded."""
    if scan_id is None:
        scan = latest_succeeded_scan(engine)
        if scan is None:
            raise StoreError("no successful scan in the database yet: run `keysentry scan` first")
        return scan
    scan = get_scan(engine, scan_id)
    if scan.status != "succeeded":
        raise StoreError(
            f"--scan {scan_id}: that scan {scan.status}"
            + (f" ({scan.error})" if scan.error else "")
            + "; it recorded no history"
        )
    return scan


def list_scans(engine: Engine, limit: int = 20) -> Sequence[Scan]:
    with Session(engine, expire_on_commit=False) as session:
        return session.scalars(select(Scan).order_by(Scan.id.desc()).limit(limit)).all()


def scan_at(engine: Engine, at: datetime) -> Scan:
    """The last successful scan evaluated at or before AT."""
    with Session(engine, expire_on_commit=False) as session:
        scan = session.scalars(
            select(Scan)
            .where(Scan.status == "succeeded", Scan.kind == FULL, Scan.evaluated_at <= at)
            .order_by(Scan.evaluated_at.desc(), Scan.id.desc())
            .limit(1)
        ).first()
    if scan is None:
        when = at.isoformat().replace("+00:00", "Z")
        raise StoreError(f"--at {when}: no successful scan at or before that instant")
    return scan


def moved_since(conn: Connection, scan_id: int) -> set[str]:
    """Keys with a key, finding or usage version opened or closed after SCAN_ID."""
    names: set[str] = set()
    for model in (KeyVersion, FindingVersion, UsageVersion):
        for column in (model.valid_from_scan_id, model.valid_to_scan_id):
            names.update(conn.scalars(select(model.key_name).where(column > scan_id)))
    return names
