"""Lists of rows (history, changes, statistics) as a terminal table, CSV or
JSON, escaped for each medium like the report."""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any, TextIO

import orjson
from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from scanner.report.formats import csv_safe, csv_writer, terminal_safe

TABLE_WIDTH = 120


def plain(value: Any) -> Any:
    """JSON-ready: instants as ISO 8601 UTC with Z, dates as ISO dates."""
    if isinstance(value, datetime):
        return _instant(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


@functools.lru_cache(maxsize=256)
def _instant(value: datetime) -> str:
    # Cached: every row of a scan's changes carries the same instant.
    return value.isoformat().replace("+00:00", "Z")


def json_line(row: dict[str, Any]) -> str:
    """ROW as one line of JSON, instants as plain() writes them (UTC as Z).
    orjson: a first scan's changes are hundreds of thousands of lines, and the
    standard encoder took longer over them than reading them from the store."""
    return orjson.dumps(row, option=orjson.OPT_UTC_Z).decode()


def cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    value = plain(value)
    if isinstance(value, list):
        return ", ".join(cell(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return str(value)


def csv_row(row: dict[str, Any], columns: Sequence[str]) -> list[Any]:
    """ROW's COLUMNS as CSV cells, made safe. Text, numbers and empty cells
    (nearly all of them) skip cell()'s conversions."""
    values: list[Any] = []
    for column in columns:
        value = row.get(column)
        kind = type(value)
        if kind is str:
            values.append(csv_safe(value))
        elif value is None or kind is int:
            values.append(value)  # csv writes None as an empty cell
        else:
            values.append(csv_safe(cell(value)))
    return values


def write_csv_rows(rows: Iterable[dict[str, Any]], columns: Sequence[str], out: TextIO) -> None:
    writer = csv_writer(out)
    writer.writerow(columns)
    for row in rows:
        writer.writerow(csv_row(row, columns))


def write_table_rows(
    rows: Iterable[dict[str, Any]],
    columns: Sequence[str],
    out: TextIO,
    title: str | None = None,
    width: int = TABLE_WIDTH,
) -> None:
    console = Console(width=width, file=out, color_system=None, force_terminal=False)
    table = Table(
        title=Text(terminal_safe(title)) if title else None,
        box=box.SIMPLE_HEAD,
        padding=(0, 1),
        pad_edge=False,
    )
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*(Text(terminal_safe(cell(row.get(c)))) for c in columns))
    console.print(table)


def write_json_document(document: dict[str, Any], out: TextIO) -> None:
    out.write(json.dumps(plain(document), indent=2, ensure_ascii=False) + "\n")
