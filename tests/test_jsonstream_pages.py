"""Saved pages of a Google list call (jsonstream.paged: `--usage-from`'s
timeSeries answers) and JSON arrays (jsonstream.array: `--audit-from`, asset
lists given to `--from-export`) read an item at a time: the same items a whole
document read gives, on the lines they start on, and one error naming the file
and line for anything a whole read would refuse."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scanner.core.errors import InputError
from scanner.inputs import jsonstream

# What a whole read accepts: no NUL and no lone surrogate (jsontext.check_text).
text = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"))
leaf = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**20), max_value=10**20)
    | st.floats(allow_nan=False, allow_infinity=False)
    | text
)
values = st.recursive(
    leaf,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
    max_leaves=8,
)
# A page as projects.timeSeries.list answers: the list, and members beside it
# (nextPageToken, unit, executionErrors) that are read and dropped.
page = st.fixed_dictionaries(
    {},
    optional={
        "timeSeries": st.lists(values, max_size=4),
        "nextPageToken": text,
        "unit": values,
        "executionErrors": st.lists(values, max_size=2),
    },
)


def refusal(
    tmp_path: Path, text: str, read: Callable[[Path], Iterator[tuple[int, Any]]]
) -> tuple[Path, str]:
    """The file TEXT was written to, and the one error READ raised reading it whole."""
    path = tmp_path / "input.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputError) as raised:
        list(read(path))
    return path, str(raised.value)


def whole_read(document: Any) -> list[Any]:
    pages = document if isinstance(document, list) else [document]
    return [item for p in pages for item in p.get("timeSeries", [])]


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=120)
@given(
    pages=st.lists(page, min_size=1, max_size=4),
    as_list=st.booleans(),
    indent=st.sampled_from([None, 0, 1, 3]),
    chunk=st.integers(min_value=1, max_value=64),
)
def test_pages_give_the_items_a_whole_read_gives_whatever_the_layout(
    tmp_path: Path, pages: list[dict[str, Any]], as_list: bool, indent: int | None, chunk: int
) -> None:
    document: Any = pages if as_list else pages[0]
    path = tmp_path / "usage.json"
    path.write_text(json.dumps(document, indent=indent), encoding="utf-8")
    read = list(jsonstream.paged(path, "timeSeries", chunk))
    assert [item for _, item in read] == whole_read(document)
    lines = [line for line, _ in read]
    assert lines == sorted(lines) and all(line >= 1 for line in lines)
    if indent is None:
        assert set(lines) <= {1}


def test_each_item_comes_with_the_line_it_starts_on(tmp_path: Path) -> None:
    path = tmp_path / "usage.json"
    path.write_text(
        '[\n {"timeSeries": [\n  {"a": 1},\n\n  {"b":\n 2}\n ],\n "nextPageToken": "x"},\n'
        ' {"unit": {"nested": [1, 2]}, "timeSeries": [{"c": 3}]}\n]\n'
    )
    assert list(jsonstream.paged(path, "timeSeries", 4)) == [
        (3, {"a": 1}),
        (5, {"b": 2}),
        (9, {"c": 3}),
    ]


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ('{"timeSeries": [{"a": 1}, ', ":1: invalid JSON: truncated"),
        ('{"timeSeries": [{"a": 1}]', ":1: invalid JSON: truncated"),
        ('{"timeSeries": {"a": 1}}', ":1: expected objects with a timeSeries list"),
        ('[{"timeSeries": []}, 3]', ":1: expected objects with a timeSeries list"),
        ('"timeSeries"', ":1: expected an object with a timeSeries list, or a list of them"),
        ('{"timeSeries": []}\n{"timeSeries": []}', ":2: text after the document"),
        ('{"timeSeries": [] "unit": 1}', ":1: invalid JSON: expected , or }"),
        ('{"timeSeries": [{"a": "\\u0000"}]}', ":1: a string holds a NUL character"),
        ('{\n"unit": "\\ud800", "timeSeries": []}', ":2: a string holds a lone surrogate"),
        ('{"timeSeries": [{"a": 1}}', ":1: invalid JSON: expected , or ]"),
    ],
)
def test_what_a_whole_read_refuses_is_one_error_naming_file_and_line(
    tmp_path: Path, text: str, error: str
) -> None:
    path, message = refusal(tmp_path, text, lambda p: jsonstream.paged(p, "timeSeries", 5))
    assert message.startswith(f"{path}{error}")


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=60)
@given(pages=st.lists(page, min_size=1, max_size=3), cut=st.floats(0.0, 0.97))
def test_a_cut_file_is_an_error_never_fewer_series(
    tmp_path: Path, pages: list[dict[str, Any]], cut: float
) -> None:
    text = json.dumps(pages, indent=1)
    path = tmp_path / "usage.json"
    path.write_text(text[: int(len(text) * cut)], encoding="utf-8")
    with pytest.raises(InputError):
        list(jsonstream.paged(path, "timeSeries", 8))


def test_a_gzip_file_cut_short_is_one_error(tmp_path: Path) -> None:
    path = tmp_path / "usage.json.gz"
    whole = gzip.compress(json.dumps({"timeSeries": [{"a": "x" * 5000}]}).encode())
    path.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(InputError, match=r"usage\.json\.gz: cannot read: "):
        list(jsonstream.paged(path, "timeSeries"))


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ('{"entries": []}', ": expected the JSON array"),
        ("", ": expected the JSON array"),
        ('[\n{"a": 1},\n{"a": "\\u0000"}]', ":3: a string holds a NUL character"),
        ('[\n{"a": 1},\n{"a": 1}', ":3: invalid JSON: truncated array"),
        ('[{"a": 1}] [', ":1: invalid JSON: text after the array"),
    ],
)
def test_an_array_file_that_is_not_one_is_one_error(tmp_path: Path, text: str, error: str) -> None:
    path, message = refusal(
        tmp_path, text, lambda p: jsonstream.array(p, "expected the JSON array", 4)
    )
    assert message.startswith(f"{path}{error}")


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=60)
@given(
    items=st.lists(values, max_size=6), indent=st.sampled_from([None, 1]), chunk=st.integers(1, 40)
)
def test_an_array_gives_the_items_a_whole_read_gives(
    tmp_path: Path, items: list[Any], indent: int | None, chunk: int
) -> None:
    path = tmp_path / "list.json"
    path.write_text(json.dumps(items, indent=indent), encoding="utf-8")
    assert [item for _, item in jsonstream.array(path, "expected an array", chunk)] == items
