"""History on SQLite and PostgreSQL: diffs, intervals, transitions, point in time,
and failed scans that change nothing."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from scanner.config import Config
from scanner.core.errors import InputError
from scanner.report.build import build_report
from scanner.report.documents import to_document
from scanner.scan.engine import run_scan
from scanner.scan.outcome import ScanOutcome
from scanner.sources.inventory.export import ExportSource
from scanner.store.tables import FindingVersion, KeyVersion, Scan, Transition
from tests import assets
from tests.conftest import NOW

TABLES = (KeyVersion, FindingVersion, Transition)


def counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {
            t.__tablename__: conn.scalar(select(func.count()).select_from(t)) or 0
            for t in (*TABLES, Scan)
        }


def scan(
    engine: Engine,
    tmp_path: Path,
    envelopes: list[dict[str, Any]],
    now_offset_days: int = 0,
    name: str = "org.jsonl",
) -> ScanOutcome:
    path = assets.write_ndjson(tmp_path / name, envelopes)
    source = ExportSource([path], Config().gemini.project_services)
    return run_scan(source, engine, Config(), NOW + timedelta(days=now_offset_days))


def transitions(engine: Engine, scan_id: int) -> list[tuple[str, str, str | None, str | None]]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(
                Transition.kind, Transition.key_name, Transition.rule_id, Transition.to_value
            ).where(Transition.scan_id == scan_id)
        ).all()
    return sorted((r.kind, r.key_name.rsplit("/", 1)[-1], r.rule_id, r.to_value) for r in rows)


def test_repeat_scan_with_no_change_writes_only_the_scan_row(
    engine: Engine, tmp_path: Path
) -> None:
    first = scan(engine, tmp_path, assets.small_org())
    before = counts(engine)
    assert first.stats.rows_written > 0
    second = scan(engine, tmp_path, assets.small_org())
    after = counts(engine)
    assert second.stats.rows_written == 0
    assert after == before | {"scans": before["scans"] + 1}
    assert transitions(engine, second.scan_id) == []


def test_changes_write_new_versions_and_transitions(engine: Engine, tmp_path: Path) -> None:
    org = assets.small_org()
    first = scan(engine, tmp_path, org)
    assert (
        "opened",
        "k-unrestricted",
        "gemini-unrestricted-standard-key",
        "critical",
    ) in transitions(engine, first.scan_id)
    # Restrict the unrestricted key to Gemini; drop the maps key from inventory.
    changed = [e for e in org if not e["name"].endswith("k-maps")]
    for envelope in changed:
        if envelope["name"].endswith("k-unrestricted"):
            envelope["resource"]["data"]["restrictions"] = {
                "apiTargets": [{"service": assets.GEMINI}],
                "serverKeyRestrictions": {"allowedIps": ["192.0.2.9/32"]},
            }
    second = scan(engine, tmp_path, changed)
    got = transitions(engine, second.scan_id)
    assert ("resolved", "k-unrestricted", "gemini-unrestricted-standard-key", None) in got
    assert ("opened", "k-unrestricted", "gemini-standard-key", "high") in got
    assert ("status_changed", "k-unrestricted", None, "non_compliant") in got
    assert ("status_changed", "k-maps", None, None) in got  # left the inventory
    assert ("resolved", "k-maps", "key-weak-application-restriction", None) in got
    with engine.connect() as conn:
        versions = conn.execute(
            select(KeyVersion.valid_from_scan_id, KeyVersion.valid_to_scan_id)
            .where(KeyVersion.key_name.like("%k-unrestricted"))
            .order_by(KeyVersion.id)
        ).all()
    assert [tuple(v) for v in versions] == [(first.scan_id, second.scan_id), (second.scan_id, None)]


def test_reopened_and_severity_changed(engine: Engine, tmp_path: Path) -> None:
    org = [
        assets.project("100", "alpha"),
        assets.service("100", assets.GEMINI),
        assets.key(
            "100",
            uid="k",
            targets=[assets.GEMINI, "translate.googleapis.com"],
            server=["192.0.2.1/32"],
        ),
    ]
    scan(engine, tmp_path, org)
    gemini_only = json.loads(json.dumps(org))
    gemini_only[2]["resource"]["data"]["restrictions"]["apiTargets"] = [{"service": assets.GEMINI}]
    second = scan(engine, tmp_path, gemini_only)
    assert ("resolved", "k", "gemini-shared-key", None) in transitions(engine, second.scan_id)
    third = scan(engine, tmp_path, org)
    assert ("reopened", "k", "gemini-shared-key", "medium") in transitions(engine, third.scan_id)
    # Unrestricted with Gemini off: low (true only of calls it would make);
    # turning Gemini on raises it to critical.
    unrestricted = [
        assets.project("100", "alpha"),
        assets.service("100", assets.GEMINI, state="DISABLED"),
        assets.key("100", uid="k", server=["192.0.2.1/32"]),
    ]
    fourth = scan(engine, tmp_path, unrestricted)
    assert ("opened", "k", "gemini-unrestricted-standard-key", "low") in transitions(
        engine, fourth.scan_id
    )
    unrestricted[1] = assets.service("100", assets.GEMINI)
    fifth = scan(engine, tmp_path, unrestricted)
    got = transitions(engine, fifth.scan_id)
    assert ("severity_changed", "k", "gemini-unrestricted-standard-key", "critical") in got
    assert ("status_changed", "k", None, "blocked") in got


def test_report_at_a_past_scan_shows_what_was_known(engine: Engine, tmp_path: Path) -> None:
    org = assets.small_org()
    first = scan(engine, tmp_path, org)
    first_doc = to_document(build_report(engine, first.scan_id))
    scan(engine, tmp_path, [e for e in org if "k-auth" not in e["name"]], now_offset_days=1)
    again = to_document(build_report(engine, first.scan_id))
    assert again == first_doc
    latest = to_document(build_report(engine))
    assert len(latest["keys"]) == len(first_doc["keys"]) - 1
    assert latest["scan"]["id"] == first.scan_id + 1


def test_failed_scan_changes_nothing(engine: Engine, tmp_path: Path) -> None:
    scan(engine, tmp_path, assets.small_org())
    before = counts(engine)
    report_before = to_document(build_report(engine))
    bad = tmp_path / "bad.jsonl"
    # Enough keys before the bad line that the writer has already flushed batches.
    lines = [json.dumps(assets.key("100", uid=f"new-{i}")) for i in range(600)]
    bad.write_text("\n".join([*lines, "{not json"]) + "\n")
    source = ExportSource([bad], Config().gemini.project_services)
    with pytest.raises(InputError):
        run_scan(source, engine, Config(), NOW)
    after = counts(engine)
    assert after == before | {"scans": before["scans"] + 1}
    with engine.connect() as conn:
        failed = conn.execute(select(Scan).order_by(Scan.id.desc()).limit(1)).one()
    assert failed.status == "failed" and f"{bad}:601: malformed JSON" in failed.error
    assert to_document(build_report(engine)) == report_before


def test_duplicate_key_in_inventory_fails_the_scan(engine: Engine, tmp_path: Path) -> None:
    org = assets.small_org()
    with pytest.raises(InputError, match="appears twice"):
        scan(engine, tmp_path, [*org, org[-1]])
    assert counts(engine)["key_versions"] == 0


def test_large_scan_crosses_write_batches(engine: Engine, tmp_path: Path) -> None:
    keys = [assets.key("100", uid=f"bulk-{i}") for i in range(1500)]
    first = scan(engine, tmp_path, [assets.project("100", "alpha"), *keys])
    assert first.stats.keys_total == 1500
    # each key: a version, 3 findings, 3 "opened" and one status transition
    assert first.stats.rows_written == 1500 * 8
    second = scan(engine, tmp_path, [assets.project("100", "alpha"), *keys[:-10]])
    assert second.stats.rows_written == 10 * 8  # the same rows closed, and transitions


def test_values_round_trip_through_the_bulk_writer(engine: Engine, tmp_path: Path) -> None:
    """Times with microseconds, booleans and NULL, JSON and dates read back as written."""
    on = assets.key(
        "100",
        uid="on",
        created="2025-01-02T03:04:05.123456Z",
        targets=[assets.GEMINI, "translate.googleapis.com"],
    )
    on["resource"]["data"]["annotations"] = {"team": "payments", "ünï": "cödé"}
    org = [
        assets.project("100", "alpha"),
        assets.project("200", "beta"),
        assets.service("100", assets.GEMINI),
        assets.service("200", "x.googleapis.com"),
        on,
        assets.key("200", uid="off"),
        assets.key("300", uid="unknown"),
    ]
    outcome = scan(engine, tmp_path, org)
    keys = {k["uid"]: k for k in to_document(build_report(engine))["keys"]}
    assert keys["on"]["created"] == "2025-01-02T03:04:05.123456Z"
    assert keys["on"]["api_targets"] == [assets.GEMINI, "translate.googleapis.com"]
    assert [keys[u]["gemini_enabled"] for u in ("on", "off", "unknown")] == [True, False, None]
    rotation = next(f for f in keys["on"]["findings"] if f["rule"] == "key-not-rotated")
    assert rotation["deadline"] == "2025-04-02"
    with engine.connect() as conn:
        annotations = conn.scalar(
            select(KeyVersion.annotations).where(KeyVersion.key_name.like("%/on"))
        )
        at = conn.scalar(
            select(Transition.at).where(Transition.scan_id == outcome.scan_id).limit(1)
        )
    assert annotations == {"team": "payments", "ünï": "cödé"}
    assert at == NOW
