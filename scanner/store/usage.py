"""Writes the latest usage figures per key, in the scan's transaction."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection
from sqlalchemy.dialects import postgresql, sqlite

from scanner.models import KeyUsage
from scanner.store.tables import KeyUsageRow

CHUNK = 1000


def record_usage(conn: Connection, scan_id: int, usage: Sequence[tuple[str, KeyUsage]]) -> None:
    make = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    for start in range(0, len(usage), CHUNK):
        rows = [
            {
                "key_name": name,
                "scan_id": scan_id,
                "last_used": u.last_used,
                "lookback_days": u.lookback_days,
                "requests_7d": u.requests_7d,
                "requests_30d": u.requests_30d,
                "gemini_requests_7d": u.gemini_requests_7d,
                "gemini_rejected_7d": u.gemini_rejected_7d,
                "requests_1d": u.requests_1d,
                "daily_median_28d": u.daily_median_28d,
            }
            for name, u in usage[start : start + CHUNK]
        ]
        statement = make(KeyUsageRow)
        conn.execute(
            statement.on_conflict_do_update(
                index_elements=["key_name"],
                set_={c: statement.excluded[c] for c in rows[0] if c != "key_name"},
            ),
            rows,
        )
