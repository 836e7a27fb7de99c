"""Report formats: the JSON schema, CSV formula neutralization, the table's width
and the escaping of user-controlled text."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from sqlalchemy import Engine

from scanner.config import Config
from scanner.report.build import Report, build_report, fails
from scanner.report.formats import (
    TABLE_WIDTH,
    render_csv,
    render_json,
    render_table,
    terminal_safe,
    write_table,
)
from scanner.scan.engine import run_scan
from scanner.sources.inventory.export import ExportSource
from tests import assets
from tests.conftest import NOW

HOSTILE = [
    '=HYPERLINK("http://evil.example","x")',
    "+1+2",
    "-cmd",
    "@SUM(A1)",
    "[bold red]markup[/]\x1b[31mred\x1b[0m\nsecond line",
]


@pytest.fixture
def report(tmp_path: Path) -> Report:
    from scanner.store import db

    engine: Engine = db.open_engine(f"sqlite:///{tmp_path}/r.db")
    db.ensure_current(engine)
    envelopes = [
        *assets.small_org(),
        *(
            assets.key("100", uid=f"hostile-{i}", display_name=name)
            for i, name in enumerate(HOSTILE)
        ),
    ]
    path = assets.write_ndjson(tmp_path / "org.jsonl", envelopes)
    run_scan(ExportSource([path], Config().gemini.project_services), engine, Config(), NOW)
    return build_report(engine)


def test_json_document(report: Report) -> None:
    import json

    doc = json.loads(render_json(report))
    assert doc["schema"] == "keysentry.report/v1"
    assert doc["evaluated_at"] == "2026-11-21T00:00:00Z"
    assert doc["scan"]["keys_total"] == 10
    assert doc["scan"]["notes"] == [
        "usage not evaluated: no usage data (skipped gemini-dormant-unrestricted-key,"
        " key-usage-anomaly, gemini-key-rejected-in-use)",
        "ownership not evaluated: no IAM policies (skipped auth-key-overprivileged-service-account,"
        " auth-key-missing-service-account, key-orphaned, key-admin-granted-broadly)",
    ]
    statuses = [k["status"] for k in doc["keys"]]
    order = ["blocked", "non_compliant", "at_risk", "compliant", "deleted"]
    assert statuses == sorted(statuses, key=order.index)
    first = doc["keys"][0]
    assert set(first) >= {
        "name",
        "uid",
        "project",
        "project_number",
        "display_name",
        "key_type",
        "service_account",
        "api_targets",
        "application_restriction",
        "gemini_enabled",
        "created",
        "last_used",
        "status",
        "score",
        "findings",
    }
    finding = next(
        f
        for k in doc["keys"]
        for f in k["findings"]
        if f["rule"] == "gemini-unrestricted-standard-key"
    )
    assert finding == finding | {
        "severity": "critical",
        "deadline": "2026-06-19",
        "days_to_deadline": -155,
        "checklist": "restrict-key",
    }
    scores = [k["score"] for k in doc["keys"] if k["status"] == "blocked"]
    assert scores == sorted(scores, reverse=True)


def test_csv_neutralizes_formulas_and_keeps_numbers(report: Report) -> None:
    rows = list(csv.DictReader(io.StringIO(render_csv(report))))
    names = {r["display_name"] for r in rows}
    for hostile in HOSTILE[:4]:
        assert "'" + hostile in names
    assert not any(v.startswith(("=", "+", "@")) for r in rows for v in r.values())
    days = {r["days_to_deadline"] for r in rows if r["rule"] == "gemini-unrestricted-standard-key"}
    assert days == {"-155"}  # our own numbers are not user text: left as numbers
    # one row per finding, one per key without findings
    keys_without = sum(1 for k in report.iter_keys() if not k.findings)
    assert len(rows) == sum(len(k.findings) for k in report.iter_keys()) + keys_without


def test_table_fits_100_columns_and_escapes(
    report: Report, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", str(TABLE_WIDTH))
    text = render_table(report)
    assert max(len(line) for line in text.splitlines()) <= TABLE_WIDTH
    assert "\x1b" not in text
    wide = io.StringIO()
    write_table(report, wide, wide=True)
    assert "[bold red]mark" in wide.getvalue()  # shown as text, not applied as markup
    assert len([line for line in text.splitlines() if "blocked" in line]) >= 2


def test_fail_on_levels(report: Report) -> None:
    assert not fails(report, "never")
    assert fails(report, "high") and fails(report, "critical") and fails(report, "blocked")


def test_terminal_safe_replaces_control_characters() -> None:
    assert terminal_safe("a\x1b[31m\nb\u202e") == "a\ufffd[31m\ufffdb\ufffd"


def test_keys_beyond_one_batch_get_their_own_findings_at_any_scan(
    engine: Engine, tmp_path: Path
) -> None:
    """The report reads findings a batch of keys at a time: across batches,
    and at a scan that later scans changed, each key shows what it had then."""
    from datetime import timedelta

    from scanner.store import db

    kinds: dict[str, dict[str, list[str]]] = {
        "open": {},
        "gemini": {"targets": [assets.GEMINI], "server": ["192.0.2.1/32"]},
        "shared": {"targets": [assets.GEMINI, "translate.googleapis.com"]},
    }
    names = list(kinds)

    def scan(history: Engine, kind_of: dict[int, str], day: int) -> int:
        keys = (assets.key("100", uid=f"k{i}", **kinds[kind]) for i, kind in kind_of.items())
        org = [assets.project("100", "alpha"), assets.service("100", assets.GEMINI), *keys]
        path = assets.write_ndjson(tmp_path / f"org-{day}.jsonl", org)
        source = ExportSource([path], Config().gemini.project_services)
        return run_scan(source, history, Config(), NOW + timedelta(days=day)).scan_id

    def rules_by_uid(report: Report) -> dict[str, set[str]]:
        return {k.uid: {f.rule for f in k.findings} for k in report.iter_keys()}

    # What one key of each kind has, scanned alone into a history of its own.
    alone = {}
    for kind in names:
        single = db.open_engine(f"sqlite:///{tmp_path}/{kind}.db")
        db.ensure_current(single)
        scan(single, {0: kind}, 1)
        alone[kind] = rules_by_uid(build_report(single))["k0"]
        single.dispose()
    assert len({frozenset(rules) for rules in alone.values()}) == 3  # three kinds apart
    first = {i: names[i % 3] for i in range(2500)}
    second = {i: names[(i + 1) % 3] for i in range(2500)}
    first_id = scan(engine, first, 0)
    second_id = scan(engine, second, 1)
    at_first = rules_by_uid(build_report(engine, first_id))
    assert at_first == {f"k{i}": alone[kind] for i, kind in first.items()}
    latest = rules_by_uid(build_report(engine, second_id))
    assert latest == {f"k{i}": alone[kind] for i, kind in second.items()}
