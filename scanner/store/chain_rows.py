"""The bytes the hash chain hashes for each row a scan wrote: canonical JSON
with sorted keys and instants in UTC. Sealing a first scan reads back every
row it wrote, so how the rows are read and encoded is most of its cost; every
way here gives the bytes the standard encoder gave when the chain began."""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from typing import Any

import orjson
from sqlalchemy import JSON, Column, Connection, Float, Table, select

from scanner.store.base import UTCDateTime
from scanner.store.driver import processors, raw_batches

_STREAM = 2000

# Columns added after the chain began (by migration): hashed as [name, value]
# after the others, and only when set, so that every scan sealed before the
# column existed still hashes as it did.
LATER_COLUMNS = {
    "findings": ("accepted_by",),
    "transitions": ("exception_id",),
    "key_versions": ("findings_hash", "etag", "source_hash", "api_methods"),
    "leak_reports": ("scanner_status",),
    "key_events": ("caller_ip",),
    "usage_versions": ("services", "covered_days"),
}


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"not in a history row: {type(value).__name__}")


_ENCODER = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_plain
)


def canonical(values: Any) -> bytes:
    """One byte string per row: JSON with sorted keys, instants in UTC."""
    return _ENCODER.encode(list(values)).encode()


_FAST = orjson.OPT_SORT_KEYS | orjson.OPT_PASSTHROUGH_DATETIME


def fast_canonical(values: list[Any]) -> bytes:
    """canonical()'s bytes through orjson, five times faster: the same for
    every value but floats, whose notation differs, so VALUES must hold none."""
    try:
        return orjson.dumps(values, default=_plain, option=_FAST)
    except orjson.JSONEncodeError:  # what only the standard encoder writes (huge integers)
        return canonical(values)


def has_float(value: Any) -> bool:
    if type(value) is float:
        return True
    if type(value) is list:
        return any(has_float(v) for v in value)
    if type(value) is dict:
        return any(has_float(v) for v in value.values())
    return False


def encoder(table: Table, names: list[str]) -> Callable[[list[Any]], bytes]:
    """How rows of TABLE with columns NAMES are made canonical."""
    types = [table.c[name].type for name in names]
    if any(isinstance(t, Float) for t in types):
        return canonical
    nested = [i for i, t in enumerate(types) if isinstance(t, JSON)]
    if not nested:
        return fast_canonical

    def encode(values: list[Any]) -> bytes:
        if any(has_float(values[i]) for i in nested):
            return canonical(values)
        return fast_canonical(values)

    return encode


def lines(conn: Connection, table: Table, column: Column[Any], scan_id: int) -> Iterator[bytes]:
    """The canonical bytes of each row of TABLE whose COLUMN is SCAN_ID, in id order."""
    # A later scan closes the interval: its end is that scan's write, not this one's.
    later = LATER_COLUMNS.get(table.name, ())
    columns = [c for c in table.columns if c.name != "valid_to_scan_id" and c.name not in later]
    extra = [table.c[name] for name in later]
    query = select(*columns, *extra).where(column == scan_id).order_by(table.c.id)
    width = len(columns)
    encode = encoder(table, [c.name for c in columns])
    rows = (
        _driver_rows(conn, query, columns)
        if conn.dialect.name == "sqlite"
        else ((values, True) for values in _sqlalchemy_rows(conn, query))
    )
    # A later JSON column is outside the checks for floats the others get.
    later_json = [width + i for i, c in enumerate(extra) if isinstance(c.type, JSON)]
    for values, may_hold_float in rows:
        if later:
            floats = any(has_float(values[i]) for i in later_json)
            added = [[name, value] for name, value in zip(later, values[width:], strict=True)]
            del values[width:]
            values.extend(pair for pair in added if pair[1] is not None)
            if floats:
                yield canonical(values)
                continue
        yield encode(values) if may_hold_float else fast_canonical(values)


def _sqlalchemy_rows(conn: Connection, query: Any) -> Iterator[list[Any]]:
    for row in conn.execute(query.execution_options(yield_per=_STREAM)):
        yield list(row)


# A JSON number with a fraction or an exponent has a digit right before its
# "." or "e"; NaN and Infinity are what the standard parser also reads. Text
# without any of these holds no float, wherever its strings put such characters.
_MAY_HOLD_FLOAT = re.compile(r"[0-9][.eE]|NaN|Infinity")


def _may_hold_float(stored: Any, search: Callable[[str], Any]) -> bool:
    if stored is None:
        return False
    return type(stored) is not str or search(stored) is not None


@functools.lru_cache(maxsize=4096)  # a scan's transitions share one instant
def _sqlite_instant(text: str | None) -> str | None:
    # What UTCDateTime reads and _plain writes, without the two datetimes between.
    if text is None:
        return None
    return datetime.fromisoformat(text).replace(tzinfo=None).isoformat() + "+00:00"


def _driver_rows(
    conn: Connection, query: Any, columns: list[Column[Any]]
) -> Iterator[tuple[list[Any], bool]]:
    """QUERY's rows from SQLite's own cursor, each value read as SQLAlchemy's
    type would read it (instants already as canonical text), with whether
    the row might hold a float among COLUMNS, the hashed ones: only then does
    its encoding need the standard encoder's check."""
    # Instants go straight from their stored text to their canonical text.
    instants = {i for i, c in enumerate(query.selected_columns) if isinstance(c.type, UTCDateTime)}
    convert = [(i, p) for i, p in processors(conn, query) if i not in instants]
    convert += [(i, _sqlite_instant) for i in instants]
    always = any(isinstance(c.type, Float) for c in columns)
    nested = [i for i, c in enumerate(columns) if isinstance(c.type, JSON)]
    search = _MAY_HOLD_FLOAT.search
    for batch in raw_batches(conn, query, _STREAM):
        for row in batch:
            may_hold_float = always or any(_may_hold_float(row[i], search) for i in nested)
            values = list(row)
            for i, process in convert:
                values[i] = process(values[i])
            yield values, may_hold_float
