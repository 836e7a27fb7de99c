"""A first scan into an empty history loads every key, finding and
transition at once. Maintaining the secondary indexes row by row costs more
than the rows (on SQLite, random inserts into indexes that outgrow the page
cache made a first scan grow faster than the organization), so on an empty
history they are dropped before the load and built after it, in the scan's
own transaction: a failed scan rolls the drop back with everything else."""

from __future__ import annotations

from sqlalchemy import Connection, Index, Table, exists, select

from scanner.store.tables import FindingVersion, KeyVersion, Transition, UsageVersion

_TABLES: tuple[Table, ...] = tuple(
    model.__table__  # type: ignore[misc]
    for model in (KeyVersion, FindingVersion, Transition, UsageVersion)
)


def _indexes() -> list[Index]:
    return sorted((i for t in _TABLES for i in t.indexes), key=lambda i: str(i.name))


def history_is_empty(conn: Connection) -> bool:
    return not any(conn.scalar(select(exists().select_from(table))) for table in _TABLES)


def drop(conn: Connection) -> None:
    for index in _indexes():
        index.drop(conn)


def build(conn: Connection) -> None:
    for index in _indexes():
        index.create(conn)
