"""What history holds of the keys feed messages name: whether a message is
news, stale or already known (scanner.feed.apply)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, func, select

from scanner.store.tables import KeyVersion, Scan


@dataclass(frozen=True)
class Held:
    """What history holds of a key: its latest version's updateTime, and
    when it left (the instant of the scan that closed it), if it did."""

    updated: datetime | None
    left: datetime | None


def latest_versions(conn: Connection, names: list[str]) -> dict[str, Held]:
    """The latest version of each of NAMES that history holds."""
    kv = KeyVersion
    held: dict[str, Held] = {}
    for start in range(0, len(names), 500):
        chunk = names[start : start + 500]
        latest = select(func.max(kv.id)).where(kv.key_name.in_(chunk)).group_by(kv.key_name)
        rows = conn.execute(
            select(kv.key_name, kv.updated_at, Scan.evaluated_at)
            .outerjoin(Scan, Scan.id == kv.valid_to_scan_id)
            .where(kv.id.in_(latest))
        )
        held |= {r.key_name: Held(r.updated_at, r.evaluated_at) for r in rows}
    return held
