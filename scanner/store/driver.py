"""Reading a query's rows through the database driver's own cursor, on the
connection (and transaction) SQLAlchemy holds: where a scan or its planning
reads hundreds of thousands of rows, SQLAlchemy's Row objects and per-row
processing cost more than the database does. SQLite's cursor, or a
server-side cursor of psycopg on PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from sqlalchemy import Connection, Select

Convert = list[tuple[int, Callable[[Any], Any]]]


def processors(conn: Connection, query: Select[*tuple[Any, ...]]) -> Convert:
    """For each selected column whose type converts what the driver returns:
    its index and SQLAlchemy's converter."""
    dialect = conn.dialect
    convert: Convert = []
    for i, column in enumerate(query.selected_columns):
        processor = column.type.dialect_impl(dialect).result_processor(dialect, None)
        if processor is not None:
            convert.append((i, processor))
    return convert


def raw_batches(
    conn: Connection, query: Select[*tuple[Any, ...]], size: int
) -> Iterator[list[tuple[Any, ...]]]:
    """QUERY's rows as the driver returns them, SIZE at a time. On PostgreSQL
    through a server-side cursor, so that the driver holds one batch at a time."""
    # IN (...) lists of names become one parameter each.
    compiled = query.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
    cursor: Any
    if compiled.positiontup is not None:  # SQLite's qmark parameters
        params: Any = [compiled.params[key] for key in compiled.positiontup]
        cursor = conn.connection.cursor()
    else:  # psycopg's named parameters
        params = compiled.params
        cursor = conn.connection.dbapi_connection.cursor(name=f"rows_{id(query):x}")  # type: ignore[union-attr]
    try:
        cursor.execute(str(compiled), params)
        while batch := cursor.fetchmany(size):
            yield batch
    finally:
        cursor.close()


def converted_rows(
    conn: Connection, query: Select[*tuple[Any, ...]], size: int
) -> Iterator[tuple[Any, ...]]:
    """QUERY's rows with each value as SQLAlchemy's type of its column reads it."""
    convert = processors(conn, query)
    for batch in raw_batches(conn, query, size):
        if not convert:
            yield from batch
            continue
        for row in batch:
            values = list(row)
            for i, process in convert:
                values[i] = process(values[i])
            yield tuple(values)
