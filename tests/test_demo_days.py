"""`demo --days N`: a history of N daily scans of the sample organization,
which changes between them as scanner.cli.demo_history tells (a key's
restrictions removed, keys fixed, keys created), for trying the history
commands on more than one day."""

from __future__ import annotations

import json
import os
from datetime import date
from pathlib import Path

from scanner.cli.demo import DEMO_EXPORT
from scanner.cli.demo_history import days_before
from tests.test_cli import run_installed

DB = "sqlite:///.keysentry-demo/keysentry.db"


def test_six_days_of_history_tell_the_story(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEYSENTRY_")}
    made = run_installed("demo", "--days", "6", cwd=tmp_path, env=env)
    assert made.returncode == 0, made.stderr
    scans = [line for line in made.stderr.splitlines() if line.startswith("scan ")]
    assert len(scans) == 6 and scans[0].endswith("(5 days before)")
    changes = run_installed(
        "changes", "--db", DB, "--since", "2026-11-01", "--format", "json", cwd=tmp_path, env=env
    )
    rows = json.loads(changes.stdout)["changes"]

    def when(kind: str, key: str, **match: str) -> list[str]:
        return sorted(
            r["at"][:10]
            for r in rows
            if r["kind"] == kind
            and r["display_name"] == key
            and all(r[k] == v for k, v in match.items())
        )

    # Restrictions removed: turned blocked three days before the demo's day.
    assert when("status_changed", "student key", to="blocked") == ["2026-11-18"]
    assert when("resolved", "sandbox broad (auth, unrestricted)") == ["2026-11-19"]
    assert when("resolved", "maps web key", rule="key-weak-application-restriction") == [
        "2026-11-20"
    ]
    assert when("key_added", "checkout prod gemini") == ["2026-11-21"]
    assert when("status_changed", "checkout maps", to="non_compliant") == ["2026-11-21"]
    first = [r for r in rows if r["scan"] == 1 and r["kind"] == "key_added"]
    assert len(first) == 29  # all but checkout prod gemini


def test_a_key_is_not_there_before_it_was_created(tmp_path: Path) -> None:
    names = {
        json.loads(line)["resource"]["data"].get("displayName")
        for line in days_before(DEMO_EXPORT, tmp_path / "then.jsonl", 10, date(2026, 11, 21))
        .read_text()
        .splitlines()
    }
    assert "checkout server (auth)" not in names  # created 2026-11-12
    assert "maps android" in names  # created 2026-11-10, the day before that scan
