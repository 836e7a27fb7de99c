"""Lists of rows (history, changes, statistics) as a terminal table, CSV or
JSON, escaped for each medium like the report."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any, TextIO

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from scanner.report.formats import csv_safe, csv_writer, terminal_safe

TABLE_WIDTH = 120


def plain(value: Any) -> Any:
    """JSON-ready: instants as ISO 8601 UTC with Z, dates as ISO dates."""
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def _instant(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return plain(value)
    raise TypeError(f"not JSON: {type(value).__name__}")


_ENCODER = json.JSONEncoder(ensure_ascii=False, default=_instant)


def json_line(row: dict[str, Any]) -> str:
    """ROW as one line of JSON, instants as plain() writes them."""
    return _ENCODER.encode(row)


def cell(value: Any) -> str:
    value = plain(value)
    if value is None:
        return ""
    if isinstance(value, list):
        return ", ".join(cell(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return str(value)


def write_csv_rows(rows: Iterable[dict[str, Any]], columns: Sequence[str], out: TextIO) -> None:
    writer = csv_writer(out)
    writer.writerow(columns)
    for row in rows:
        writer.writerow([csv_safe(cell(row.get(c))) for c in columns])


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
