"""The hash chain hashes each row as canonical JSON. Sealing encodes rows
through orjson where that gives the same bytes as the standard encoder that
sealed every earlier scan: any difference would make `verify` report an
intact history as broken."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, Table, select

from scanner.config import Config
from scanner.engine import run_scan
from scanner.inventory.export import ExportSource
from scanner.store import chain
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
    assert chain._fast_canonical(values) == chain.canonical(values)


def test_rows_with_floats_are_encoded_by_the_standard_encoder() -> None:
    # The notations differ: orjson writes 1e-7 where the standard encoder writes 1e-07.
    assert orjson.dumps([1e-7]) != chain.canonical([1e-7])
    usage = chain._encoder(chain._INTERVALS[2], ["key_name", "daily_median_28d"])
    assert usage(["k", 1e-7]) == chain.canonical(["k", 1e-7])
    keys: Table = chain._INTERVALS[0]
    encode = chain._encoder(keys, ["key_name", "annotations"])
    assert encode(["k", {"weight": 1e-7}]) == chain.canonical(["k", {"weight": 1e-7}])
    assert encode(["k", {"team": "x"}]) == chain.canonical(["k", {"team": "x"}])


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
            encode = chain._encoder(table, names)
            for row in conn.execute(select(table)):
                values = list(row)
                assert encode(values) == chain.canonical(values), table.name
                checked.add(table.name)
    assert {"key_versions", "findings", "transitions"} <= checked


def test_dates_and_instants_in_any_zone_encode_alike() -> None:
    at = datetime(2026, 11, 21, 3, 4, 5, 123456, tzinfo=timezone(timedelta(hours=5)))
    values = [at, date(2026, 1, 2), [at.isoformat()], {"b": 1, "a": 2}]
    assert chain._fast_canonical(values) == chain.canonical(values)
    assert b'"2026-11-20T22:04:05.123456+00:00"' in chain._fast_canonical(values)
