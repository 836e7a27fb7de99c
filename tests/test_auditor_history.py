"""History an auditor can query: six scans of a changing organization (a key
restricted, one deleted, one gone and recreated, restrictions removed again,
a rule disabled, usage missing), checked through every auditor command on
SQLite and PostgreSQL against what really happened."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine, func, select, update

from scanner.alerts.plan.events import transition_events
from scanner.config import Config
from scanner.configfile import parse_config
from scanner.metrics.collector import StoreCollector
from scanner.report.build import build_report
from scanner.report.changes import COLUMNS as CHANGE_COLUMNS
from scanner.report.formats import render_json
from scanner.scan.engine import run_scan
from scanner.scan.guards import ScanOutOfOrder
from scanner.sources.inventory.export import ExportSource
from scanner.store.tables import (
    FindingVersion,
    KeyVersion,
    Scan,
    Transition,
    UsageVersion,
)
from tests import assets
from tests.auditor_org import DISABLED, GEMINI, KEY, History, build_history, org
from tests.conftest import NOW


@pytest.fixture
def history(engine: Engine, db_url: str, tmp_path: Path) -> History:
    return build_history(engine, db_url, tmp_path)


def test_every_resolution_says_why(history: History) -> None:
    assert history.reasons(2) == {
        ("k-open", "gemini-key-rejected-in-use"): "fixed",
        ("k-open", "gemini-unrestricted-standard-key"): "fixed",
        ("k-open", "key-api-unrestricted"): "fixed",
        ("k-open", "key-application-unrestricted"): "fixed",
    }
    gone = history.reasons(3)
    assert {rule for (key, rule), reason in gone.items() if key == "k-gone"} >= {
        "key-api-unrestricted",
        "key-not-rotated",
    }
    assert {reason for (key, _), reason in gone.items() if key == "k-gone"} == {"left_inventory"}
    assert {reason for (key, _), reason in gone.items() if key == "k-del"} == {"key_deleted"}
    assert set(history.reasons(5).values()) == {"rule_disabled"}
    assert {key for key, _ in history.reasons(5)} == {"k-open", "k-dormant"}
    # Usage refused for alpha: the findings usage gave rise to close for want
    # of evidence. (No key was ever called dormant: alpha's usage covers fewer
    # days than the dormancy window.)
    assert history.reasons(6) == {
        ("k-open", "gemini-key-rejected-in-use"): "evidence_missing",
    }


def test_only_real_resolutions_reach_owners(history: History) -> None:
    with history.engine.connect() as conn:
        fixed = transition_events(conn, history.outcomes[2].scan_id)
        disabled = transition_events(conn, history.outcomes[5].scan_id)
        missing = transition_events(conn, history.outcomes[6].scan_id)
    assert [e.detail for e in fixed if e.kind == "resolved"] == [
        "fixed: the key no longer matches the rule"
    ] * 4
    assert [e for e in disabled + missing if e.kind == "resolved"] == []


def test_an_early_report_is_what_was_known_then(history: History, tmp_path: Path) -> None:
    first = history.outcomes[1].scan_id
    assert render_json(build_report(history.engine, first)) == history.reports[1]
    early = json.loads(history.reports[1])
    late = json.loads(history.reports[6])
    by_uid = {k["uid"]: k for k in early["keys"]}
    assert by_uid["k-open"]["requests_7d"] == 75
    assert {k["uid"]: k["requests_7d"] for k in late["keys"]}["k-open"] is None
    # The CLI's --scan and --at agree with it, byte for byte.
    by_scan = history.cli("report", "--scan", str(first), "--format", "json")
    by_date = history.cli("report", "--at", history.at(1).date().isoformat(), "--format", "json")
    assert by_scan.output == by_date.output == history.reports[1]
    before = history.cli("report", "--at", "2020-01-01")
    assert before.exit_code == 2
    assert "no successful scan at or before" in before.output


def test_each_scan_records_the_rules_in_force(history: History) -> None:
    fifth = json.loads(history.reports[5])
    assert fifth["in_force"]["digest"] != json.loads(history.reports[4])["in_force"]["digest"]
    rules = {r["id"]: r["enabled"] for r in fifth["in_force"]["document"]["rules"]}
    assert rules["key-application-unrestricted"] is False
    dates = {e["id"]: e["date"] for e in fifth["in_force"]["document"]["timeline"]}
    assert dates["unrestricted-standard-keys-rejected"] == "2026-06-19"
    table = history.cli("report", "--scan", str(history.outcomes[5].scan_id))
    assert "disabled: key-application-unrestricted" in table.output
    with history.engine.connect() as conn:
        stored = conn.scalar(
            select(func.count()).select_from(Scan.__table__).where(Scan.config_digest.is_not(None))
        )
        distinct = conn.scalar(select(func.count(func.distinct(Scan.config_digest))))
    assert (stored, distinct) == (6, 2)


def test_history_of_a_key_that_left_and_came_back(history: History) -> None:
    result = history.cli("history", "key", "k-gone", "--format", "json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    ids = [history.outcomes[s].scan_id for s in range(1, 7)]
    assert [(s["status"], s["from_scan"], s["to_scan"]) for s in doc["status_over_time"]][:1] == [
        ("blocked", ids[0], ids[2])
    ]
    assert [v["from_scan"] for v in doc["versions"]][:2] == [ids[0], ids[4]]
    kinds = [(t["kind"], t["scan"]) for t in doc["transitions"] if t["rule"] == "key-not-rotated"]
    assert kinds == [("opened", ids[0]), ("resolved", ids[2]), ("reopened", ids[4])]
    rotation = [f for f in doc["findings"] if f["rule"] == "key-not-rotated"]
    assert [(f["opened_scan"], f["resolved_scan"], f["reason"]) for f in rotation] == [
        (ids[0], ids[2], "left_inventory"),
        (ids[4], None, None),
    ]
    assert doc["in_inventory"] is True
    deleted = json.loads(
        history.cli("history", "key", KEY.format("k-del"), "--format", "json").output
    )
    assert deleted["versions"][-1]["deleted_at"] is not None
    for fmt in ("table", "csv"):
        shown = history.cli("history", "key", "k-gone", "--format", fmt)
        assert shown.exit_code == 0 and "left_inventory" in shown.output
    missing = history.cli("history", "key", "k-never")
    assert missing.exit_code == 2
    assert "no key with this full name, uid, key id or display name" in missing.output


def test_changes_in_a_window(history: History) -> None:
    since, until = history.at(2).date().isoformat(), history.at(3).date().isoformat()
    result = history.cli("changes", "--since", since, "--until", until, "--format", "json")
    rows = json.loads(result.output)["changes"]
    assert {r["scan"] for r in rows} == {history.outcomes[2].scan_id, history.outcomes[3].scan_id}
    changed = [r for r in rows if r["kind"] == "key_changed" and r["key"].endswith("k-open")]
    assert changed and "api_targets" in changed[0]["reason"]
    assert changed[0]["to"]["api_targets"] == [GEMINI]
    left = [r["key"] for r in rows if r["kind"] == "left_inventory"]
    assert left == [KEY.format("k-gone")]
    csv = history.cli("changes", "--since", since, "--until", until, "--format", "csv")
    assert csv.output.splitlines()[0] == ",".join(CHANGE_COLUMNS)
    assert CHANGE_COLUMNS[:4] == ("scan", "at", "kind", "key") and "owners" in CHANGE_COLUMNS
    assert len(csv.output.splitlines()) == len(rows) + 1


def test_remediation_statistics(history: History) -> None:
    result = history.cli(
        "stats",
        "remediation",
        "--since",
        history.at(1).date().isoformat(),
        "--until",
        history.at(6).date().isoformat(),
        "--by",
        "rule",
        "--format",
        "json",
    )
    doc = json.loads(result.output)
    groups = {g["group"]: g for g in doc["groups"]}
    api = groups["key-api-unrestricted"]
    # k-open fixed after 7 days, k-gone left after 14, k-del deleted after 14;
    # reopened k-open and recreated k-gone, and k-dormant, still open.
    assert api["resolved"] == {"fixed": 1, "key_deleted": 1, "left_inventory": 1}
    assert (api["median_days"], api["p90_days"]) == (14.0, 14.0)
    assert api["still_open"] == 3
    assert groups["key-application-unrestricted"]["resolved"]["rule_disabled"] >= 1
    assert doc["bound_days"]["max"] == 7.0


def test_flow_metrics_count_what_history_records(history: History) -> None:
    """The flow counters and the remediation histogram read the same history as
    `stats remediation`: every resolution by its reason, every remediated
    finding in the histogram, and the totals never go down from scan to scan."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StoreCollector(history.engine, Config()))
    samples = [
        s
        for family in text_string_to_metric_families(generate_latest(registry).decode())
        for s in family.samples
    ]

    def value(name: str, **labels: str) -> float:
        found = [s.value for s in samples if s.name == name and labels.items() <= s.labels.items()]
        return sum(found)

    with history.engine.connect() as conn:
        kinds = {
            (rule, reason): n
            for rule, reason, n in conn.execute(
                select(Transition.rule_id, Transition.reason, func.count())
                .where(Transition.kind == "resolved", Transition.fingerprint.is_not(None))
                .group_by(Transition.rule_id, Transition.reason)
            )
        }
    api = "key-api-unrestricted"
    assert (
        value("keysentry_findings_resolved_total", rule=api, reason="fixed")
        == kinds[(api, "fixed")]
    )
    assert value("keysentry_findings_resolved_total", rule=api, reason="left_inventory") == 1
    disabled = "key-application-unrestricted"
    assert value("keysentry_findings_resolved_total", rule=disabled, reason="rule_disabled") >= 1
    remediated = sum(
        n
        for (rule, reason), n in kinds.items()
        if rule == api and reason in ("fixed", "key_deleted", "left_inventory")
    )
    assert value("keysentry_remediation_seconds_count", rule=api) == remediated == 3
    # k-open fixed after 7 days, the two others after 14: 1 within a week, 3 within 14 days.
    week, fortnight = "604800", "1.2096e+06"  # as the exposition writes them
    assert value("keysentry_remediation_seconds_bucket", rule=api, le=week) == 1
    assert value("keysentry_remediation_seconds_bucket", rule=api, le=fortnight) == 3
    assert value("keysentry_findings_opened_total", rule=api) >= 5
    # Newly blocked, by rule, as the reports of each scan tell it: a key blocked
    # now and not in the scan before, counted once, under the rule whose
    # enforced deadline had passed on it first.
    expected: dict[str, int] = {}
    turned = 0
    before: dict[str, str] = {}
    for n in range(1, 7):
        report = json.loads(history.reports[n])
        day = report["evaluated_at"][:10]
        timeline = report["in_force"]["document"]["timeline"]
        enforced = {r for e in timeline if e["status"] == "enforced" for r in e["rules"]}
        for key in report["keys"]:
            if key["status"] == "blocked" and before.get(key["name"]) != "blocked":
                turned += 1
                passed = [
                    (f["deadline"], f["rule"])
                    for f in key["findings"] + key["accepted"]
                    if f["rule"] in enforced and f["deadline"] and f["deadline"] <= day
                ]
                first = min(passed)[1]
                expected[first] = expected.get(first, 0) + 1
        before = {key["name"]: key["status"] for key in report["keys"]}
    assert expected  # the story blocks keys
    for rule, n in expected.items():
        assert value("keysentry_keys_newly_blocked_total", rule=rule) == n, rule
    assert value("keysentry_keys_newly_blocked_total") == sum(expected.values()) == turned


def test_verify_finds_an_edited_row(history: History) -> None:
    intact = history.cli("verify")
    assert intact.exit_code == 0, intact.output
    head = history.outcomes[6].chain_head
    assert head and head in intact.output
    assert history.cli("verify", "--head", head).exit_code == 0
    # A copy edited by hand: the blocked key of scan 4 made compliant.
    fourth = history.outcomes[4].scan_id
    with history.engine.begin() as conn:
        edited = conn.execute(
            update(KeyVersion)
            .where(KeyVersion.valid_from_scan_id == fourth, KeyVersion.status == "blocked")
            .values(status="compliant", score=0)
        )
        assert edited.rowcount == 1
    broken = history.cli("verify")
    assert broken.exit_code == 1
    assert f"chain broken at scan {fourth}" in broken.output


def test_verify_finds_deleted_findings(history: History) -> None:
    first = history.outcomes[1].scan_id
    with history.engine.begin() as conn:
        conn.execute(
            FindingVersion.__table__.delete().where(
                FindingVersion.key_name == KEY.format("k-dormant")
            )
        )
    broken = history.cli("verify")
    assert broken.exit_code == 1
    assert f"chain broken at scan {first}" in broken.output


def test_out_of_order_and_dry_run_write_nothing(history: History, tmp_path: Path) -> None:
    config = parse_config(DISABLED, "c")
    export = assets.write_ndjson(tmp_path / "late.jsonl", org(6))

    def rows() -> tuple[int, ...]:
        with history.engine.connect() as conn:
            return tuple(
                conn.scalar(select(func.count()).select_from(t)) or 0
                for t in (Scan, KeyVersion, FindingVersion, Transition, UsageVersion)
            )

    before = rows()
    source = ExportSource([export], config.gemini.project_services)
    with pytest.raises(ScanOutOfOrder, match="is before scan"):
        run_scan(source, history.engine, config, history.at(2))
    assert rows() == before
    early = history.cli("scan", "--from-export", str(export), "--now", history.at(2).isoformat())
    assert early.exit_code == 2 and "--dry-run" in early.output
    # What the organization of step 1 would give next year, recorded nowhere.
    first = assets.write_ndjson(tmp_path / "first.jsonl", org(1))
    what_if = history.cli(
        "scan",
        "--from-export",
        str(first),
        "--dry-run",
        "--now",
        "2027-06-01T00:00:00Z",
        "--format",
        "json",
        "--fail-on",
        "blocked",
    )
    assert what_if.exit_code == 1
    doc = json.loads(what_if.stdout)
    assert doc["scan"]["dry_run"] is True
    assert doc["evaluated_at"] == "2027-06-01T00:00:00Z"
    assert {k["uid"] for k in doc["keys"]} == {"k-open", "k-dormant", "k-del", "k-gone"}
    assert rows() == before
    assert history.cli("verify").exit_code == 0


def test_a_looser_configuration_is_no_fix(engine: Engine, tmp_path: Path) -> None:
    """The key is as it was; a longer rotation period closes its rotation finding."""
    export = assets.write_ndjson(tmp_path / "org.jsonl", org(1))
    strict, loose = Config(), parse_config("rules: {rotation_days: 3650}", "c")
    first = run_scan(ExportSource([export], strict.gemini.project_services), engine, strict, NOW)
    second = run_scan(ExportSource([export], loose.gemini.project_services), engine, loose, NOW)
    with engine.connect() as conn:
        reasons = set(
            conn.execute(
                select(Transition.rule_id, Transition.reason).where(
                    Transition.scan_id == second.scan_id, Transition.kind == "resolved"
                )
            )
        )
        events = transition_events(conn, second.scan_id)
    assert first.chain_head != second.chain_head
    assert reasons == {("key-not-rotated", "config_changed")}
    assert [e for e in events if e.kind == "resolved"] == []


def test_an_empty_window_is_an_answer_not_an_error(history: History) -> None:
    empty = history.cli("stats", "remediation", "--since", "2020-01-01", "--until", "2020-02-01")
    assert empty.exit_code == 0
    assert "0 scans in the window; nothing was remediated." in empty.output
    future = history.cli("stats", "remediation", "--since", "2099-01-01")
    assert future.exit_code == 2
    assert "--until (now) is before --since 2099-01-01" in future.output


def test_an_owners_map_that_names_someone_is_no_fix(engine: Engine, tmp_path: Path) -> None:
    """alerts.owners decides key-orphaned: naming an owner there changes the
    rules in force, and the finding it closes is config_changed, not fixed."""
    envelopes = [
        assets.project("100", "alpha"),
        assets.iam_policy("projects/100", {"roles/viewer": ["user:v@example.com"]}),
        assets.key("100", uid="k-nobody", targets=["maps-backend.googleapis.com"]),
    ]
    export = assets.write_ndjson(tmp_path / "org.jsonl", envelopes)
    nobody = Config()
    named = parse_config('alerts: {owners: {"alpha": [lead@example.com]}}', "c")
    first = run_scan(ExportSource([export], nobody.gemini.project_services), engine, nobody, NOW)
    second = run_scan(ExportSource([export], named.gemini.project_services), engine, named, NOW)
    with engine.connect() as conn:
        opened = set(
            conn.scalars(
                select(Transition.rule_id).where(
                    Transition.scan_id == first.scan_id, Transition.kind == "opened"
                )
            )
        )
        reasons = set(
            conn.execute(
                select(Transition.rule_id, Transition.reason).where(
                    Transition.scan_id == second.scan_id, Transition.kind == "resolved"
                )
            )
        )
        digests = list(conn.scalars(select(Scan.config_digest).order_by(Scan.id)))
    assert "key-orphaned" in opened
    assert reasons == {("key-orphaned", "config_changed")}
    assert digests[0] != digests[1]
