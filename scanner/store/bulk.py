"""Bulk inserts and interval closes for the history writer.

SQLAlchemy's executemany processes every parameter of every row through its
type system; at hundreds of thousands of rows that costs more than the database
itself. Here each value is adapted once, the way the column's SQLAlchemy type
would store it on this dialect, and the rows go to the driver as plain tuples."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from typing import Any

import orjson
from sqlalchemy import JSON, Connection, Date, Integer, Table

from scanner.store.tables import UTCDateTime

Adapter = Callable[[Any], Any]
CLOSE_CHUNK = 500


def _json(value: Any) -> str:
    # orjson: a first scan stores five JSON lists or maps per key. Key versions
    # hold strings only, so its notation of floats never comes into play.
    return orjson.dumps(value).decode()


def _naive_utc(value: datetime | None) -> datetime | None:
    return None if value is None else value.astimezone(UTC).replace(tzinfo=None)


# Every transition of a scan carries the same instant: most calls are repeats.
@functools.lru_cache(maxsize=256)
def _sqlite_datetime(value: datetime | None) -> str | None:
    # SQLAlchemy's own SQLite storage format, so its reader parses it back.
    if value is None:
        return None
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def _sqlite_date(value: date | None) -> str | None:
    return None if value is None else value.isoformat()


def _adapter(column_type: Any, sqlite: bool) -> Adapter | None:
    """How the column's type stores a value on this dialect; None: as it is
    (sqlite3 binds a bool as the integer SQLAlchemy would store)."""
    if isinstance(column_type, JSON):
        return _json
    if isinstance(column_type, UTCDateTime):
        return _sqlite_datetime if sqlite else _naive_utc
    if isinstance(column_type, Date):
        return _sqlite_date if sqlite else None
    return None


class BulkTable:
    """Inserts rows into TABLE (all columns but the autoincrement id)."""

    def __init__(self, table: Table, dialect: str) -> None:
        sqlite = dialect == "sqlite"
        marker = "?" if sqlite else "%s"
        # All but an integer key the database numbers.
        columns = [c for c in table.columns if not (c.primary_key and isinstance(c.type, Integer))]
        self.names = [c.name for c in columns]
        adapters = ((i, _adapter(c.type, sqlite)) for i, c in enumerate(columns))
        self._adapters = [(i, adapt) for i, adapt in adapters if adapt is not None]
        self._marker = marker
        self._table = table.name
        # Names come from our own table metadata, values go as parameters.
        self._insert = (
            f"INSERT INTO {table.name} ({', '.join(self.names)}) "  # noqa: S608
            f"VALUES ({', '.join([marker] * len(columns))})"
        )
        # PostgreSQL loads rows with COPY: one statement, not one per row.
        self._copy = None if sqlite else f"COPY {table.name} ({', '.join(self.names)}) FROM STDIN"

    def insert(self, conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
        names = self.names
        self.insert_values(conn, [[row.get(name) for name in names] for row in rows])

    def insert_values(self, conn: Connection, rows: Sequence[Sequence[Any]]) -> None:
        """Insert ROWS given as values in the order of self.names."""
        if not rows:
            return
        adapters = self._adapters
        params = []
        for row in rows:
            values = list(row)
            for index, adapt in adapters:
                values[index] = adapt(values[index])
            params.append(tuple(values))
        # The driver's own cursor, on the connection (and transaction) SQLAlchemy holds.
        cursor: Any = conn.connection.cursor()
        try:
            if self._copy is None:
                cursor.executemany(self._insert, params)
            else:
                with cursor.copy(self._copy) as copy:
                    for row_values in params:
                        copy.write_row(row_values)
        finally:
            cursor.close()

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
