"""What the exceptions accepted at a scan: per exception, the keys and findings."""

from __future__ import annotations

from sqlalchemy import Connection, func, select

from scanner.store.queries import valid_at
from scanner.store.tables import FindingVersion


def accepted_at(conn: Connection, scan_id: int) -> dict[str, tuple[int, int]]:
    """Exception id -> (keys, findings) it accepted at SCAN_ID."""
    fv = FindingVersion
    rows = conn.execute(
        select(fv.accepted_by, func.count(func.distinct(fv.key_name)), func.count())
        .where(valid_at(fv, scan_id), fv.accepted_by.is_not(None))
        .group_by(fv.accepted_by)
    )
    return {str(by): (int(keys), int(findings)) for by, keys, findings in rows}
