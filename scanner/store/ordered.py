"""Rows of several tables read side by side in key-name order, each query
streamed, and merged in Python: joining them in SQL made SQLite look up a key
for every finding (about three times slower at 100,000 keys), and PostgreSQL's
client would have held every row of the result at once."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from itertools import groupby
from operator import itemgetter
from typing import Any

from sqlalchemy import Connection, Select
from sqlalchemy.orm import InstrumentedAttribute

from scanner.store.driver import converted_rows

BATCH = 2000


def by_name(
    conn: Connection, query: Select[*tuple[Any, ...]], name: InstrumentedAttribute[str]
) -> Iterator[Sequence[Any]]:
    """QUERY's rows (the name first) in byte order of NAME, the order Python
    compares strings in: SQLite's default, PostgreSQL's "C" collation (its
    database collation may order otherwise)."""
    order = name.collate("C") if conn.dialect.name == "postgresql" else name
    return converted_rows(conn, query.order_by(order), BATCH)


def grouped(rows: Iterator[Sequence[Any]]) -> Iterator[tuple[str, list[Sequence[Any]]]]:
    """Consecutive rows of the same name (the first column) together."""
    for name, group in groupby(rows, key=itemgetter(0)):
        yield name, list(group)


def matched(
    left: Iterator[Sequence[Any]], right: Iterator[Sequence[Any]]
) -> Iterator[tuple[Sequence[Any], Sequence[Any] | None]]:
    """Each row of LEFT with the row of RIGHT of the same name, or None; both
    in name order, RIGHT at most one row per name."""
    other = next(right, None)
    for row in left:
        while other is not None and other[0] < row[0]:
            other = next(right, None)
        yield row, (other if other is not None and other[0] == row[0] else None)
