"""The hash chain hashes each row as canonical JSON. Sealing encodes rows
through orjson where that gives the same bytes as the standard encoder that
sealed every earlier scan: any difference would make `verify` report an
intact history as broken."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Connection,
    Date,
    Engine,
    Float,
    Integer,
    Table,
    insert,
    select,
)

from scanner.config import Config
from scanner.scan.engine import run_scan
from scanner.sources.inventory.export import ExportSource
from scanner.store import chain, chain_rows, db, driver
from scanner.store.base import UTCDateTime
from scanner.store.tables import Scan
from tests import assets
from tests.conftest import NOW

text = st.text(st.characters(exclude_categories=("Cs",)))
instants = st.datetimes(
    min_value=datetime(1970, 1, 2), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
) | st.datetimes(timezones=st.just(timezone(timedelta(hours=-7))))
scalars = st.none() | st.booleans() | st.integers() | text | instants | st.dates()
nested = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**63), max_value=2**63) | text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=400, deadline=None)
@given(st.lists(scalars | nested, max_size=12))
def test_the_fast_encoding_is_the_canonical_one_for_any_row_without_floats(
    values: list[Any],
) -> None:
    assert chain_rows.fast_canonical(values) == chain_rows.canonical(values)


def test_rows_with_floats_are_encoded_by_the_standard_encoder() -> None:
    # The notations differ: orjson writes 1e-7 where the standard encoder writes 1e-07.
    assert orjson.dumps([1e-7]) != chain_rows.canonical([1e-7])
    usage = chain_rows.encoder(chain._INTERVALS[2], ["key_name", "daily_median_28d"])
    assert usage(["k", 1e-7]) == chain_rows.canonical(["k", 1e-7])
    keys: Table = chain._INTERVALS[0]
    encode = chain_rows.encoder(keys, ["key_name", "annotations"])
    assert encode(["k", {"weight": 1e-7}]) == chain_rows.canonical(["k", {"weight": 1e-7}])
    assert encode(["k", {"team": "x"}]) == chain_rows.canonical(["k", {"team": "x"}])


def test_every_stored_row_encodes_as_the_standard_encoder_would(
    engine: Engine, tmp_path: Path
) -> None:
    """Rows as the database gives them back, with text from hostile inputs."""
    hostile = assets.key("100", uid="hostile", display_name='"\\\x01\x1f\u2028ü\U0001f511')
    hostile["resource"]["data"]["annotations"] = {"z\x07": "1", "ä": '"', "a": "\n"}
    org = [*assets.small_org(), hostile]
    path = assets.write_ndjson(tmp_path / "org.jsonl", org)
    run_scan(ExportSource([path], Config().gemini.project_services), engine, Config(), NOW)
    checked: set[str] = set()
    with engine.connect() as conn:
        for table in (*chain._INTERVALS, *chain._EVENTS):
            names = [c.name for c in table.columns]
            encode = chain_rows.encoder(table, names)
            for row in conn.execute(select(table)):
                values = list(row)
                assert encode(values) == chain_rows.canonical(values), table.name
                checked.add(table.name)
    assert {"key_versions", "findings", "transitions"} <= checked


def test_dates_and_instants_in_any_zone_encode_alike() -> None:
    at = datetime(2026, 11, 21, 3, 4, 5, 123456, tzinfo=timezone(timedelta(hours=5)))
    values = [at, date(2026, 1, 2), [at.isoformat()], {"b": 1, "a": 2}]
    assert chain_rows.fast_canonical(values) == chain_rows.canonical(values)
    assert b'"2026-11-20T22:04:05.123456+00:00"' in chain_rows.fast_canonical(values)


def _reference_lines(conn: Connection, table: Table, scan_id: int) -> list[bytes]:
    """Each row as SQLAlchemy reads it, through the standard encoder: the bytes
    every scan was sealed with before SQLite's rows were read from its cursor."""
    later = chain_rows.LATER_COLUMNS.get(table.name, ())
    columns = [c for c in table.columns if c.name != "valid_to_scan_id" and c.name not in later]
    column = table.c.scan_id if "scan_id" in table.c else table.c.valid_from_scan_id
    query = select(*columns, *(table.c[n] for n in later)).where(column == scan_id)
    found = []
    for row in conn.execute(query.order_by(table.c.id)):
        values = list(row[: len(columns)])
        values.extend(
            [n, v] for n, v in zip(later, row[len(columns) :], strict=True) if v is not None
        )
        found.append(chain_rows.canonical(values))
    return found


def _value(column: Column[Any]) -> st.SearchStrategy[Any]:
    kind = column.type
    some = st.none() if column.nullable else st.nothing()
    if isinstance(kind, JSON):  # floats too, NaN and huge integers: what the fast path must spot
        leaves = st.none() | st.integers() | st.floats() | text | st.booleans()
        return st.recursive(
            leaves,
            lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
            max_leaves=8,
        )
    if isinstance(kind, UTCDateTime):
        return some | instants
    if isinstance(kind, Date):
        return some | st.dates()
    if isinstance(kind, Boolean):
        return some | st.booleans()
    if isinstance(kind, Float):
        return some | st.floats(allow_nan=False)
    if isinstance(kind, Integer):
        return st.integers(min_value=-(2**62), max_value=2**62)
    return text | st.sampled_from(["1.5", "NaN", "2026-01-02 03:04:05.000006", ""])


def _row(table: Table) -> st.SearchStrategy[dict[str, Any]]:
    fields: dict[str, st.SearchStrategy[Any]] = {}
    for column in table.columns:
        if column.name in ("id", "scan_id", "valid_from_scan_id", "valid_to_scan_id"):
            continue  # the scan's: set when inserted
        fields[column.name] = _value(column)
    return st.fixed_dictionaries(fields)


@pytest.fixture(scope="module")
def sqlite_store(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    engine = db.open_engine(f"sqlite:///{tmp_path_factory.mktemp('chain')}/rows.sqlite")
    db.ensure_current(engine)
    return engine


TABLES = (*chain._INTERVALS, *chain._EVENTS)
ROWS = st.tuples(*(st.lists(_row(table), min_size=1, max_size=4) for table in TABLES))


def _insert_rows(conn: Connection, rows: tuple[list[dict[str, Any]], ...]) -> int:
    """ROWS into TABLES as one new scan's; its id."""
    scan = {"started_at": NOW, "status": "running", "source": "t", "evaluated_at": NOW}
    scan_id: int = conn.execute(
        insert(Scan).values(**scan, version="t").returning(Scan.id)
    ).scalar_one()
    for table, some in zip(TABLES, rows, strict=True):
        column = table.c.scan_id if "scan_id" in table.c else table.c.valid_from_scan_id
        unique = [c.name for c in table.columns if c.unique]  # key_events.insert_id
        conn.execute(
            insert(table),
            [
                r | {column.name: scan_id} | {u: f"{r[u]}#{scan_id}.{i}" for u in unique}
                for i, r in enumerate(some)
            ],
        )
    return scan_id


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=ROWS)
def test_rows_read_from_sqlites_cursor_are_what_sqlalchemy_reads(
    sqlite_store: Engine, rows: tuple[list[dict[str, Any]], ...]
) -> None:
    """store.driver.converted_rows (how planning reads open findings) gives
    each value of any column as SQLAlchemy's type reads it."""
    with sqlite_store.connect() as conn, conn.begin() as transaction:
        scan_id = _insert_rows(conn, rows)
        for table in TABLES:
            column = table.c.scan_id if "scan_id" in table.c else table.c.valid_from_scan_id
            query = select(*table.columns).where(column == scan_id).order_by(table.c.id)
            # repr: NaN in JSON is a value here, and never equal to itself.
            expected = repr([tuple(row) for row in conn.execute(query)])
            assert repr(list(driver.converted_rows(conn, query, 3))) == expected, table.name
        transaction.rollback()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=ROWS)
def test_rows_read_from_sqlites_cursor_hash_as_sqlalchemy_read_them(
    sqlite_store: Engine, rows: tuple[list[dict[str, Any]], ...]
) -> None:
    """Any value a column can hold, floats in JSON included, hashes the same
    read either way, so scans sealed before still verify."""
    with sqlite_store.connect() as conn, conn.begin() as transaction:
        scan_id = _insert_rows(conn, rows)
        for table in TABLES:
            column = table.c.scan_id if "scan_id" in table.c else table.c.valid_from_scan_id
            read = list(chain_rows.lines(conn, table, column, scan_id))
            assert read == _reference_lines(conn, table, scan_id), table.name
        transaction.rollback()
