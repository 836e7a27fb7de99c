"""The report answers what people bring to it: which keys are blocked, whose,
in use or not, by when; filtered; in tables that fit the terminal; with next
steps that name the keys and commands that run as printed."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shlex
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scanner.cli.instants import parse_instant
from scanner.core.errors import ConfigError
from scanner.report.fit import ELLIPSIS, fit
from tests.test_cli import BIN, run_installed

DB = "sqlite:///.keysentry-demo/keysentry.db"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("demo")
    result = run_installed("demo", cwd=home, env=_env(100))
    assert result.returncode == 0, result.stderr
    (home / "demo.out").write_text(result.stdout)
    return home


def _env(columns: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEYSENTRY_")}
    return env | {"COLUMNS": str(columns)}


def _report(demo: Path, *args: str, columns: int = 100) -> subprocess.CompletedProcess[str]:
    return run_installed("report", "--db", DB, *args, cwd=demo, env=_env(columns))


def _keys(demo: Path, *args: str) -> list[dict[str, object]]:
    result = _report(demo, "--format", "json", *args)
    assert result.returncode == 0, result.stderr
    keys: list[dict[str, object]] = json.loads(result.stdout)["keys"]
    return keys


def test_blocked_keys_with_their_owners_and_use(demo: Path) -> None:
    every = _keys(demo)
    blocked = _keys(demo, "--status", "blocked")
    assert [k["name"] for k in blocked] == [k["name"] for k in every if k["status"] == "blocked"]
    assert len(blocked) == 6  # five by the timeline, one by observed refusals
    by_name = {str(k["display_name"]): k for k in blocked}
    # Usage read for its project: the outage in progress is the key still in use.
    assert by_name["pipeline unrestricted"]["in_use"] is True
    assert by_name["checkout prod gemini"]["in_use"] is False
    assert by_name["acquired app key"]["in_use"] is None  # no usage for that project
    # A blocked key's due date is the enforced deadline that blocked it, even
    # when its worst finding has none.
    pipeline = by_name["pipeline unrestricted"]
    assert pipeline["findings"][0]["deadline"] is None  # type: ignore[index]
    assert pipeline["status_set_by"] == {
        "rule": "gemini-unrestricted-standard-key",
        "deadline": "2026-06-19",
        "days_to_deadline": -155,
    }
    rows = list(csv.DictReader(io.StringIO(_report(demo, "--format", "csv").stdout)))
    for row in rows:
        key = next(k for k in every if k["name"] == row["key_name"])
        assert row["owners"] == "; ".join(key["owners"])  # type: ignore[arg-type]
        assert row["in_use"] == {True: "true", False: "false", None: ""}[key["in_use"]]  # type: ignore[index]


def test_filters_combine_and_name_what_they_show(demo: Path) -> None:
    every = _keys(demo)
    sam = _keys(demo, "--project", "support-bot", "--owner", "SAM")
    expected = [
        k["name"]
        for k in every
        if k["project"] == "support-bot" and any("sam@" in o for o in k["owners"])  # type: ignore[attr-defined]
    ]
    assert [k["name"] for k in sam] == expected and len(expected) > 0
    assert len(expected) < sum(1 for k in every if k["project"] == "support-bot")
    leaked = _keys(demo, "--leaked")
    assert [k["display_name"] for k in leaked] == ["maps ios"]
    rotation = _keys(demo, "--rule", "key-not-rotated")
    assert rotation and all(
        any(f["rule"] == "key-not-rotated" for f in k["findings"])  # type: ignore[attr-defined]
        for k in rotation
    )
    table = _report(demo, "--status", "blocked", "--status", "at_risk").stdout
    assert "8 of 30 keys shown: status at_risk or blocked" in table
    wrong = _report(demo, "--rule", "no-such-rule")
    assert wrong.returncode == 2 and "--rule no-such-rule: no such rule" in wrong.stderr


@pytest.mark.parametrize("columns", [80, 120])
def test_the_table_fits_the_terminal_without_cutting_a_word(demo: Path, columns: int) -> None:
    out = _report(demo, columns=columns).stdout
    table = out[: out.index("blocked: 6")]
    assert max(len(line) for line in table.splitlines()) <= columns
    names = [str(k["display_name"]) for k in _keys(demo)]
    rows = [line for line in table.splitlines() if line.startswith(" ") and "…" in line]
    for name in names:
        shown = [row for row in table.splitlines() if name in row]
        if shown:
            continue
        # Shortened: its start and its end, each whole words of the name.
        head, _, tail = next(
            fit(name, w) for w in range(len(name), 3, -1) if any(fit(name, w) in r for r in rows)
        ).partition(ELLIPSIS)
        assert name.startswith(head) and name.endswith(tail)
    blocked_row = next(line for line in table.splitlines() if "pipeline" in line)
    assert "yes" in blocked_row and "155d ago" in blocked_row
    # A rule id is never cut: where it does not fit it goes on after a hyphen,
    # on the next line of its row, and reads whole again.
    lines = table.splitlines()
    header = next(line for line in lines if line.startswith(" Status"))
    column = header.index("Worst finding" if "Worst finding" in header else "Finding")
    cells: list[str] = []
    for line in lines[lines.index(header) + 2 :]:
        token = line[column:].split()[0] if line[column:].strip() else ""
        if line[:column].strip():
            cells.append(token)
        elif token and cells:
            cells[-1] += token
    worst = {str(k["findings"][0]["rule"]) for k in _keys(demo) if k["findings"]}  # type: ignore[index]
    assert worst <= set(cells)


def test_wide_shows_names_whole(demo: Path) -> None:
    out = _report(demo, "--wide", columns=80).stdout
    assert "checkout browser widget" in out and "research-lead@example.com" in out
    assert max(len(line) for line in out.splitlines()[:40]) > 80


def test_next_steps_name_the_keys_and_print_commands_that_run(demo: Path) -> None:
    out = (demo / "demo.out").read_text()
    steps = out[out.index("What to do next:") :]
    assert "pipeline unrestricted (data-pipeline; no owner known; in use)" in steps
    assert "checkout prod gemini (checkout-web; dana@example.com; not in use)" in steps
    command = re.search(r"with owners and usage: `([^`]+)`", steps)
    assert command is not None
    # As printed, from where the demo ran: the program's path, since the PATH lacks it.
    assert command.group(1).startswith(shlex.quote(str(BIN)))
    ran = subprocess.run(
        command.group(1),
        shell=True,
        cwd=demo,
        env=_env(100),
        capture_output=True,
        text=True,
        check=False,
    )
    assert ran.returncode == 0, ran.stderr
    assert "6 of 30 keys shown: status blocked" in ran.stdout


NOW = datetime(2026, 12, 7, 15, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "start"),
    [
        ("today", "2026-12-07T00:00:00+00:00"),
        ("yesterday", "2026-12-06T00:00:00+00:00"),
        ("7d", "2026-11-30T00:00:00+00:00"),
        ("2026-10-01", "2026-10-01T00:00:00+00:00"),
        ("2026-10-01T12:00:00Z", "2026-10-01T12:00:00+00:00"),
    ],
)
def test_every_date_option_takes_days_by_name(text: str, start: str) -> None:
    assert parse_instant(text, "--since", now=NOW).isoformat() == start


def test_a_day_by_name_ends_at_its_last_instant() -> None:
    end = parse_instant("yesterday", "--until", end_of_day=True, now=NOW)
    assert end.isoformat() == "2026-12-06T23:59:59.999999+00:00"
    with pytest.raises(ConfigError, match="--until: not a date"):
        parse_instant("last week", "--until", now=NOW)


words = st.lists(st.text("abcdefghij", min_size=1, max_size=12), min_size=1, max_size=8)


@given(words, st.sampled_from([" ", "-", "/", "@", "."]), st.integers(2, 60))
def test_fit_keeps_width_and_whole_words(parts: list[str], sep: str, width: int) -> None:
    text = sep.join(parts)
    shown = fit(text, width)
    assert len(shown) <= width
    if shown == text:
        return
    head, _, tail = shown.partition(ELLIPSIS)
    assert text.startswith(head) and text.endswith(tail)
    if len(parts[0]) < width:  # only a first word too long for the column is cut inside
        assert head.rstrip(sep) in [sep.join(parts[:n]) for n in range(1, len(parts) + 1)]
        assert tail == "" or tail in [sep.join(parts[n:]) for n in range(len(parts))]
