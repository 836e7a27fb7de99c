"""Bulk inserts and interval closes for the history writer.

SQLAlchemy's executemany processes every parameter of every row through its
type system; at hundreds of thousands of rows that costs more than the database
itself. Here each value is adapted once, the way the column's SQLAlchemy type
would store it on this dialect, and the rows go to the driver as plain tuples."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Connection, Date, Table

from scanner.store.tables import UTCDateTime

Adapter = Callable[[Any], Any]
CLOSE_CHUNK = 500


def _json(value: Any) -> str:
    return json.dumps(value)


def _naive_utc(value: datetime | None) -> datetime | None:
    return None if value is None else value.astimezone(UTC).replace(tzinfo=None)


def _sqlite_datetime(value: datetime | None) -> str | None:
    # SQLAlchemy's own SQLite storage format, so its reader parses it back.
    return None if value is None else f"{value.astimezone(UTC):%Y-%m-%d %H:%M:%S.%f}"


def _sqlite_date(value: date | None) -> str | None:
    return None if value is None else value.isoformat()


def _sqlite_bool(value: bool | None) -> int | None:
    return None if value is None else int(value)


def _identity(value: Any) -> Any:
    return value


def _adapter(column_type: Any, sqlite: bool) -> Adapter:
    if isinstance(column_type, JSON):
        return _json
    if isinstance(column_type, UTCDateTime):
        return _sqlite_datetime if sqlite else _naive_utc
    if isinstance(column_type, Date):
        return _sqlite_date if sqlite else _identity
    if isinstance(column_type, Boolean):
        return _sqlite_bool if sqlite else _identity
    return _identity


class BulkTable:
    """Inserts dict rows into TABLE (all columns but the autoincrement id)."""

    def __init__(self, table: Table, dialect: str) -> None:
        sqlite = dialect == "sqlite"
        marker = "?" if sqlite else "%s"
        columns = [c for c in table.columns if not c.primary_key]
        self.names = [c.name for c in columns]
        self._adapters = [_adapter(c.type, sqlite) for c in columns]
        self._marker = marker
        self._table = table.name
        # Names come from our own table metadata, values go as parameters.
        self._insert = (
            f"INSERT INTO {table.name} ({', '.join(self.names)}) "  # noqa: S608
            f"VALUES ({', '.join([marker] * len(columns))})"
        )

    def insert(self, conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
        if not rows:
            return
        pairs = list(zip(self.names, self._adapters, strict=True))
        params = [tuple(adapt(row.get(name)) for name, adapt in pairs) for row in rows]
        conn.exec_driver_sql(self._insert, params)

    def close(self, conn: Connection, ids: Sequence[int], scan_id: int) -> None:
        """Ends the validity interval of rows IDS at SCAN_ID."""
        for start in range(0, len(ids), CLOSE_CHUNK):
            chunk = ids[start : start + CLOSE_CHUNK]
            markers = ", ".join([self._marker] * len(chunk))
            conn.exec_driver_sql(
                f"UPDATE {self._table} SET valid_to_scan_id = {self._marker} "  # noqa: S608
                f"WHERE id IN ({markers})",
                (scan_id, *chunk),
            )
