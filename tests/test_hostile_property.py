"""Mutated export lines and config files, fed to the command: it exits 0 or
2, never with a traceback, and an exit 2 changes no history."""

from __future__ import annotations

import json
import sqlite3
import tempfile
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scanner.cli import main
from tests.test_real_shapes import REAL

LINES = (REAL / "asset-export-keys.jsonl").read_text().splitlines()
json_leaf = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30)
)
json_value = st.recursive(
    json_leaf,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3)
    ),
    max_leaves=8,
)


def history(db_file: Path) -> tuple[int, int]:
    if not db_file.exists():
        return (0, 0)
    with sqlite3.connect(db_file) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
        if "scans" not in tables:
            return (0, 0)
        succeeded = conn.execute("SELECT count(*) FROM scans WHERE status='succeeded'").fetchone()
        versions = conn.execute("SELECT count(*) FROM key_versions").fetchone()
    return (succeeded[0], versions[0])


def mutate(document: Any, path: list[str | int], value: Any) -> Any:
    """DOCUMENT with the field at PATH (as far as it exists) set to VALUE."""
    if not path or not isinstance(document, dict | list):
        return value
    head, rest = path[0], path[1:]
    if isinstance(document, dict):
        key = head if isinstance(head, str) and head in document else next(iter(document), None)
        if key is None:
            return document
        return {**document, key: mutate(document[key], rest, value)}
    if not document:
        return document
    index = int(head) % len(document) if isinstance(head, int) else 0
    return [*document[:index], mutate(document[index], rest, value), *document[index + 1 :]]


FIELDS = [
    "name",
    "asset_type",
    "resource",
    "data",
    "restrictions",
    "apiTargets",
    "service",
    "createTime",
    "displayName",
    "uid",
    "projectId",
    "serviceAccountEmail",
    "ancestors",
]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    line=st.integers(min_value=0, max_value=len(LINES) - 1),
    path=st.lists(st.sampled_from(FIELDS) | st.integers(0, 3), min_size=1, max_size=4),
    value=json_value,
    cut=st.none() | st.integers(min_value=0, max_value=400),
)
def test_a_mutated_export_exits_0_or_2_and_2_changes_nothing(
    line: int, path: list[str | int], value: Any, cut: int | None
) -> None:
    document = mutate(json.loads(LINES[line]), path, value)
    text = json.dumps(document, allow_nan=True)
    if cut is not None:
        text = text[:cut]
    with tempfile.TemporaryDirectory() as tmp:
        export = Path(tmp) / "org.jsonl"
        export.write_text("\n".join([*LINES[:line], text, *LINES[line + 1 :]]) + "\n")
        db_file = Path(tmp) / "h.db"
        result = CliRunner().invoke(
            main, ["scan", "--db", f"sqlite:///{db_file}", "--from-export", str(export)]
        )
        assert result.exit_code in (0, 2), result.output
        assert "Traceback" not in result.stderr
        if result.exit_code == 2:
            assert result.stderr.count("\n") == 1
            assert history(db_file) == (0, 0)


config_keys = st.sampled_from(
    [
        "schedule",
        "worker",
        "rules",
        "inventory",
        "usage",
        "alerts",
        "timeline",
        "gemini",
        "interval",
        "cron",
        "listen",
        "rotation_days",
        "dormancy_days",
        "offsets_days",
        "date",
    ]
)
yaml_doc = st.recursive(
    json_leaf,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(config_keys, inner, max_size=3),
    max_leaves=10,
)


@settings(max_examples=80, deadline=None)
@given(document=st.dictionaries(config_keys, yaml_doc, max_size=4))
def test_any_config_is_ok_or_one_error_per_problem(document: dict[str, Any]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "c.yaml"
        config.write_text(json.dumps(document, allow_nan=True))  # JSON is YAML
        result = CliRunner().invoke(main, ["config", "check", str(config)])
    assert result.exit_code in (0, 2), result.output
    assert "Traceback" not in result.output
    if result.exit_code == 2:
        assert all(line.startswith("keysentry: error: ") for line in result.stderr.splitlines())
