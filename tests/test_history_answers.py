"""History answers by any name a person knows a key by: full name, uid, key
id or display name; an ambiguous name lists the candidates, a wrong one
suggests the closest. `changes` and `history key` filter and fit the
terminal; `exceptions list` works from the rules each scan stored."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
from pathlib import Path

import pytest

from scanner.report.changes import KINDS
from tests.test_cli import run_installed

DB = "sqlite:///.keysentry-demo/keysentry.db"
OLD_SUPPORT = "projects/100000000102/locations/global/keys/00005ea5-0000-0000-0000-00000000000a"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("demo")
    result = run_installed("demo", cwd=home, env=_env(100))
    assert result.returncode == 0, result.stderr
    return home


def _env(columns: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEYSENTRY_")}
    return env | {"COLUMNS": str(columns)}


def _run(demo: Path, *args: str, columns: int = 100) -> subprocess.CompletedProcess[str]:
    return run_installed(*args, "--db", DB, cwd=demo, env=_env(columns))


def _json(demo: Path, *args: str) -> dict[str, object]:
    result = _run(demo, *args, "--format", "json")
    assert result.returncode == 0, result.stderr
    document: dict[str, object] = json.loads(result.stdout)
    return document


@pytest.mark.parametrize(
    "wanted",
    [OLD_SUPPORT, "00005ea5-0000-0000-0000-00000000000a", "old support key", "OLD Support Key"],
)
def test_history_key_takes_any_name(demo: Path, wanted: str) -> None:
    assert _json(demo, "history", "key", wanted)["name"] == OLD_SUPPORT


def test_a_wrong_name_suggests_the_closest(demo: Path) -> None:
    result = _run(demo, "history", "key", "old suport key")
    assert result.returncode == 2
    assert "no key with this full name, uid, key id or display name" in result.stderr
    assert "'old support key'" in result.stderr
    assert "Traceback" not in result.stderr


def test_an_ambiguous_display_name_lists_the_candidates(tmp_path: Path) -> None:
    # The demo organization (whose shapes cite their public samples) with a
    # second key displayed as "old support key" in another project.
    lines = Path("scanner/samples/demo-org.jsonl").read_text().splitlines()
    twin = next(json.loads(line) for line in lines if '"old support key"' in line)
    twin_name = "projects/100000000103/locations/global/keys/twin-old-support"
    twin["name"] = f"//apikeys.googleapis.com/{twin_name}"
    twin["resource"]["data"] |= {"name": twin_name, "uid": "twin-old-support-uid"}
    export = tmp_path / "export.jsonl"
    export.write_text("\n".join([*lines, json.dumps(twin)]) + "\n")
    db = f"sqlite:///{tmp_path / 'k.db'}"
    scanned = run_installed("scan", "--from-export", str(export), "--db", db)
    assert scanned.returncode == 0, scanned.stderr
    result = run_installed("history", "key", "old support key", "--db", db)
    assert result.returncode == 2
    assert "2 keys have this display name" in result.stderr
    assert OLD_SUPPORT in result.stderr and twin_name in result.stderr
    assert "uid twin-old-support-uid" in result.stderr
    by_uid = run_installed("history", "key", "twin-old-support-uid", "--db", db)
    assert by_uid.returncode == 0 and twin_name in by_uid.stdout


def test_history_filters_its_timeline(demo: Path) -> None:
    result = _run(
        demo, "history", "key", "checkout maps", "--what", "resolved", "--since", "2026-11-21"
    )
    assert result.returncode == 0, result.stderr
    text = _run(
        demo, "history", "key", "checkout maps", "--format", "csv", "--what", "resolved"
    ).stdout
    rows = list(csv.DictReader(io.StringIO(text)))
    assert rows and {r["what"] for r in rows} == {"resolved"}
    assert {r["rule"] for r in rows} >= {"gemini-unrestricted-standard-key"}
    everything = _json(demo, "history", "key", "checkout maps")["timeline"]
    assert isinstance(everything, list) and len(everything) > len(rows)


def test_changes_filter_by_key_project_and_kind(demo: Path) -> None:
    changes = _json(demo, "changes", "--since", "2026-11-21", "--project", "checkout-web")
    rows = changes["changes"]
    assert isinstance(rows, list) and rows
    # The project is its id, not the number in the key's name.
    assert {r["project"] for r in rows} == {"checkout-web"}
    assert changes["filter"] == "project checkout-web"
    resolved = _json(demo, "changes", "--since", "2026-11-21", "--kind", "resolved")["changes"]
    assert isinstance(resolved, list) and {r["kind"] for r in resolved} == {"resolved"}
    one = _json(demo, "changes", "--since", "2026-11-20", "--key", "checkout maps")["changes"]
    assert isinstance(one, list) and one
    assert {r["display_name"] for r in one} == {"checkout maps"}
    assert {"key_added", "key_changed", "status_changed"} <= {r["kind"] for r in one}
    by_number = _json(demo, "changes", "--since", "2026-11-20", "--project", "100000000101")
    assert {r["project"] for r in by_number["changes"]} == {"checkout-web"}  # type: ignore[union-attr]


@pytest.mark.parametrize("columns", [80, 120])
def test_changes_and_history_fit_the_terminal(demo: Path, columns: int) -> None:
    for args in (
        ("changes", "--since", "2026-11-20"),
        ("history", "key", "checkout maps"),
        ("exceptions", "list"),
    ):
        result = _run(demo, *args, columns=columns)
        assert result.returncode == 0, result.stderr
        lines = result.stdout.splitlines()
        assert max(len(line) for line in lines) <= columns, args
        if args[0] == "changes":
            # A kind is never cut, and a full resource name never spreads over lines.
            kinds = {line.split()[2] for line in lines[3:] if line.strip()[:4] == "2026"}
            assert kinds and kinds <= {*KINDS, "event:CreateKey", "event:UpdateKey"}
            assert "projects/" not in result.stdout


def test_exceptions_list_from_the_stored_rules_on_one_clock(demo: Path) -> None:
    listed = _json(demo, "exceptions", "list")
    rows = {r["id"]: r for r in listed["exceptions"]}  # type: ignore[union-attr]
    assert set(rows) == {"maps-web-any-referrer", "reports-sheets-handover"}
    # As of the latest scan (the demo's 2026-11-21), whose matches it shows.
    assert rows["maps-web-any-referrer"]["state"] == "active"
    assert rows["maps-web-any-referrer"]["days_left"] == 10
    later = _json(demo, "exceptions", "list", "--now", "2026-12-07")
    lapsed = {r["id"]: r for r in later["exceptions"]}["maps-web-any-referrer"]  # type: ignore[union-attr]
    assert lapsed["state"] == "lapsed" and lapsed["days_left"] == -6
    assert lapsed["left"] == "6d ago"
    table = _run(demo, "exceptions", "list", "--now", "2026-12-07").stdout
    line = next(line for line in table.splitlines() if line.startswith(" maps-web"))
    assert "lapsed" in line and "in " not in line.split("lapsed", 1)[1].split("key-")[0]
    assert "days counted from 2026-12-07" in table
