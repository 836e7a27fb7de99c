"""Lists of rows (history, changes, statistics) as a terminal table, CSV or
JSON, escaped for each medium like the report."""

from __future__ import annotations

import functools
import json
import textwrap
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime
from typing import Any, TextIO

import orjson
from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from scanner.report.fit import fit, wrap_words
from scanner.report.formats import csv_safe, csv_writer, table_width, terminal_safe


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


def table_cell(value: Any) -> str:
    """What a table shows of VALUE: instants to the minute, in UTC."""
    if isinstance(value, datetime):
        return f"{value.astimezone(UTC):%Y-%m-%d %H:%M}"
    return cell(value)


def column_widths(
    natural: Sequence[int], floors: Sequence[int], room: int, whole: Sequence[bool]
) -> list[int]:
    """Widths in ROOM: the widest column gives way first, none below its
    floor; if the floors alone are too wide, all but the WHOLE ones go below."""
    widths = list(natural)
    for lowest in (floors, [w if keep else 4 for w, keep in zip(floors, whole, strict=True)]):
        while sum(widths) > room:
            shrinkable = [i for i, w in enumerate(widths) if w > lowest[i]]
            if not shrinkable:
                break
            widest = max(shrinkable, key=lambda i: widths[i])
            widths[widest] -= 1
    return widths


def _longest_part(texts: list[list[str]], column: int) -> int:
    """The longest word (or part of a hyphenated one) of a prose column, up to 20."""
    parts = (p for t in texts for w in t[column].split() for p in w.split("-"))
    return min(20, max([10] + [len(p) + 1 for p in parts]))


def write_table_rows(
    rows: Iterable[dict[str, Any]],
    columns: Sequence[str],
    out: TextIO,
    title: str | None = None,
    width: int | None = None,
    *,
    whole: Sequence[str] = ("at", "scan", "kind", "what", "rule"),
    prose: Sequence[str] = ("change", "detail", "reason", "evidence", "note"),
) -> None:
    """ROWS as a table WIDTH wide (the terminal's by default). Names keep one
    line and lose their middle; PROSE wraps between words and after hyphens;
    dates and the columns in WHOLE are never shortened."""
    width = width or table_width()
    rows = list(rows)
    kept = {*whole} | {
        c for c in columns if any(isinstance(r.get(c), date | datetime) for r in rows)
    }
    texts = [[terminal_safe(table_cell(row.get(c))) for c in columns] for row in rows]
    if texts:  # a column no row fills says nothing: it gives its room to the others
        filled = [i for i in range(len(columns)) if any(t[i] for t in texts)]
        columns = [columns[i] for i in filled]
        texts = [[t[i] for i in filled] for t in texts]
    natural = [max([len(c)] + [len(t[i]) for t in texts]) for i, c in enumerate(columns)]
    floors = [
        n if c in kept else min(n, max(len(c), _longest_part(texts, i) if c in prose else 8))
        for i, (c, n) in enumerate(zip(columns, natural, strict=True))
    ]
    # The box puts one space before, between and after the columns.
    widths = column_widths(natural, floors, width - len(columns) - 1, [c in kept for c in columns])
    console = Console(
        width=max(width, sum(widths) + len(columns) + 1),
        file=out,
        color_system=None,
        force_terminal=False,
    )
    if title:
        out.write(textwrap.fill(terminal_safe(title), width, subsequent_indent="  ") + "\n")
    table = Table(box=box.SIMPLE_HEAD, padding=(0, 0), pad_edge=False, collapse_padding=True)
    for column, column_width in zip(columns, widths, strict=True):
        table.add_column(column, width=column_width, no_wrap=True, overflow="ellipsis")
    for t in texts:
        cells = (
            Text(wrap_words(text, w) if column in prose else fit(text, w))
            for column, text, w in zip(columns, t, widths, strict=True)
        )
        table.add_row(*cells)
    console.print(table)


def write_json_document(document: dict[str, Any], out: TextIO) -> None:
    out.write(json.dumps(plain(document), indent=2, ensure_ascii=False) + "\n")
