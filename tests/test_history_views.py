"""The history views (migration 0012) and the dashboard's History row, which
reads them through Grafana's PostgreSQL data source: each view checked
against the reports of a changing organization on SQLite and PostgreSQL, and
each panel's SQL run, with Grafana's macros expanded, on real PostgreSQL."""

from __future__ import annotations

import json
import re
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text

from scanner.config import Config
from scanner.report.build import build_report
from scanner.report.formats import render_json
from scanner.scan.engine import run_scan
from scanner.sources.inventory.export import ExportSource
from tests import assets
from tests.auditor_org import History, build_history, org
from tests.test_dashboards import queries
from tests.test_metrics import scan_demo


@pytest.fixture
def history(engine: Engine, db_url: str, tmp_path: Path) -> History:
    h = build_history(engine, db_url, tmp_path)
    # A second scan on the last day, of an earlier organization: the day's
    # figures are this one's, not the first's.
    export = assets.write_ndjson(tmp_path / "later.jsonl", org(1))
    source = ExportSource([export], Config().gemini.project_services)
    outcome = run_scan(source, engine, Config(), h.at(6) + timedelta(hours=2))
    h.outcomes[7] = outcome
    h.reports[7] = render_json(build_report(engine, outcome.scan_id))
    return h


def rows(engine: Engine, sql: str, **params: Any) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(text(sql), params))


def day_of(report: str) -> str:
    return str(json.loads(report)["evaluated_at"][:10])


def test_daily_views_say_what_each_days_last_scan_said(history: History) -> None:
    engine = history.engine
    days = {str(day): scan for day, scan in rows(engine, "SELECT day, scan_id FROM daily_scans")}
    shown = (1, 2, 3, 4, 5, 7)
    last_of_day = {day_of(history.reports[n]): history.outcomes[n].scan_id for n in shown}
    assert days == last_of_day  # scan 6 shares its day with the later one
    keys: dict[str, Counter[str]] = {}
    for day, status, n in rows(engine, "SELECT day, status, keys FROM daily_keys_by_status"):
        keys.setdefault(str(day), Counter())[status] += n
    findings: dict[str, Counter[str]] = {}
    for day, severity, n in rows(
        engine, "SELECT day, severity, findings FROM daily_findings_open WHERE accepted = 0"
    ):
        findings.setdefault(str(day), Counter())[severity] += n
    for n in (1, 2, 3, 4, 5, 7):
        scan = json.loads(history.reports[n])["scan"]
        day = day_of(history.reports[n])
        assert dict(keys[day]) == {s: c for s, c in scan["by_status"].items() if c}, day
        assert dict(findings[day]) == {s: c for s, c in scan["by_severity"].items() if c}, day


def test_daily_transitions_count_what_changed(history: History) -> None:
    # Newly blocked per day, as the reports tell it: blocked now, not at the scan before.
    expected: Counter[str] = Counter()
    before: dict[str, str] = {}
    for n in range(1, 8):
        report = json.loads(history.reports[n])
        for key in report["keys"]:
            if key["status"] == "blocked" and before.get(key["name"]) != "blocked":
                expected[day_of(history.reports[n])] += 1
        before = {key["name"]: key["status"] for key in report["keys"]}
    blocked = rows(
        history.engine,
        "SELECT day, sum(transitions) FROM daily_transitions"
        " WHERE kind = 'status_changed' AND to_value = 'blocked' GROUP BY day",
    )
    assert expected and {str(day): int(n) for day, n in blocked} == dict(expected)
    reasons = rows(
        history.engine,
        "SELECT reason, sum(transitions) FROM daily_transitions"
        " WHERE kind = 'resolved' AND day = :day GROUP BY reason",
        day=day_of(history.reports[5]),
    )
    assert {reason for reason, _ in reasons} == {"rule_disabled"}  # as test_auditor_history


def grafana_sql(sql: str, start: datetime, end: datetime) -> str:
    """SQL as Grafana's PostgreSQL data source sends it: its macros expanded
    to what its documentation gives (grafana.com/docs/grafana/latest/
    datasources/postgres/query-editor, "Macros")."""
    stamp = "'%Y-%m-%dT%H:%M:%SZ'"
    sql = re.sub(
        r"\$__timeFilter\((\w+)\)",
        lambda m: f"{m.group(1)} BETWEEN {start.strftime(stamp)} AND {end.strftime(stamp)}",
        sql,
    )
    sql = sql.replace("$__timeFrom()", start.strftime(stamp))
    sql = sql.replace("$__timeTo()", end.strftime(stamp))
    assert "$" not in sql, f"unexpanded macro in {sql!r}"
    return sql


def test_current_keys_is_the_latest_report(history: History) -> None:
    """The view behind the dashboard's Keys table says of each key what the
    report of the latest scan says: status, project, owners, in use, worst
    finding, and when the finding that sets its status is due."""
    report = json.loads(history.reports[7])
    found = {
        r.key_name: r
        for r in rows(
            history.engine,
            "SELECT key_name, status, project, owners, in_use, worst_rule, due, scan_id"
            " FROM current_keys",
        )
    }
    assert set(found) == {k["name"] for k in report["keys"]}
    for k in report["keys"]:
        row = found[k["name"]]
        owners = json.loads(row.owners) if isinstance(row.owners, str) else row.owners
        in_use = None if row.in_use is None else bool(row.in_use)
        due = None if row.due is None else str(row.due)[:10]
        setting = k["status_set_by"] or {}
        worst = k["findings"][0]["rule"] if k["findings"] else None
        assert (row.status, row.project, owners, in_use, row.worst_rule, due) == (
            k["status"],
            k["project"],
            k["owners"],
            k["in_use"],
            worst,
            setting.get("deadline"),
        ), k["name"]
        assert row.scan_id == report["scan"]["id"]


# The Keys table's variables as Grafana's PostgreSQL data source formats them
# (grafana.com/docs/grafana/latest/dashboards/variables/variable-syntax,
# "Advanced variable format options": sqlstring quotes each value, regex
# joins them; the All value of the Prometheus variables is ".*").
EVERY_STATUS = "'blocked','non_compliant','at_risk','compliant','deleted'"


def keys_sql(
    status: str = EVERY_STATUS, project: str = ".*", owner: str = "''", rule: str = ".*"
) -> str:
    (_, target) = next(q for q in queries("sql") if q[0].startswith("Keys ["))
    sql = str(target["rawSql"])
    for variable, value in {
        "${key_status:sqlstring}": status,
        "${project:regex}": project,
        "${owner:sqlstring}": owner,
        "${rule:regex}": rule,
    }.items():
        sql = sql.replace(variable, value)
    assert "${" not in sql, f"unexpanded variable in {sql!r}"
    return sql


def test_the_keys_table_runs_and_filters_on_real_postgresql(history: History, db_url: str) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("the Keys table reads PostgreSQL")
    report = json.loads(history.reports[7])
    every = rows(history.engine, keys_sql())
    assert len(every) == len(report["keys"])
    order = ["blocked", "non_compliant", "at_risk", "compliant", "deleted"]
    ranks = [order.index(r.Status) for r in every]
    assert ranks == sorted(ranks)  # worst first
    by_uid = {k["uid"]: k for k in report["keys"]}
    for r in every:  # a command that runs as printed: by the key's uid
        key = by_uid[r.History.split()[-1]]
        assert r.History == f"keysentry history key {key['uid']}"
        assert r.Key == key["display_name"] and r.Owners == (", ".join(key["owners"]) or None)
    blocked = rows(history.engine, keys_sql(status="'blocked'"))
    assert blocked and {r.Status for r in blocked} == {"blocked"}
    assert len(blocked) == sum(1 for k in report["keys"] if k["status"] == "blocked")
    for r in blocked:  # days to deadline: the enforced deadline that blocked it, passed
        days = r._mapping["Days to deadline"]
        assert days is not None and days <= 0
    rule = "key-api-unrestricted"
    with_rule = {r.History.split()[-1] for r in rows(history.engine, keys_sql(rule=rule))}
    assert with_rule == {
        k["uid"] for k in report["keys"] if any(f["rule"] == rule for f in k["findings"])
    }
    assert rows(history.engine, keys_sql(owner="'nobody-at-all'")) == []
    assert rows(history.engine, keys_sql(project="nowhere")) == []


def test_the_keys_table_finds_an_owners_keys(engine: Engine, db_url: str) -> None:
    """The sample organization names owners: part of an address finds that
    owner's keys, whatever the case."""
    if not db_url.startswith("postgresql"):
        pytest.skip("the Keys table reads PostgreSQL")
    scan_demo(engine, Config())
    keys = json.loads(render_json(build_report(engine)))["keys"]
    found = {r.History.split()[-1] for r in rows(engine, keys_sql(owner="'DANA@'"))}
    assert found and found == {k["uid"] for k in keys if "dana@example.com" in k["owners"]}


def test_every_history_panel_runs_on_real_postgresql(history: History, db_url: str) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("the History row reads PostgreSQL")
    panels = [q for q in queries("sql") if q[1]["format"] == "time_series"]
    assert len(panels) == 5
    start = history.at(1) - timedelta(days=1)
    end = history.at(6) + timedelta(days=1)
    for name, target in panels:
        assert target["format"] == "time_series", name
        with history.engine.connect() as conn:
            result = conn.execute(text(grafana_sql(target["rawSql"], start, end)))
            columns, found = list(result.keys()), result.all()
        assert columns == ["time", "metric", "value"], name
        assert found, f"{name}: no rows over the history"
        times = [row[0] for row in found]
        assert times == sorted(times) and all(t.tzinfo is None for t in times), name
    # The keys panel reads what the reports said, day by day.
    (_, keys_panel) = next(q for q in panels if q[0].startswith("Keys by status per day"))
    with history.engine.connect() as conn:
        got = conn.execute(text(grafana_sql(keys_panel["rawSql"], start, end))).all()
    by_day = {(t.date().isoformat(), status): int(n) for t, status, n in got}
    last = json.loads(history.reports[7])
    for status, n in last["scan"]["by_status"].items():
        assert by_day.get((day_of(history.reports[7]), status), 0) == n
    # A range that ends before the history began shows nothing.
    early = datetime(2020, 1, 1, tzinfo=UTC)
    with history.engine.connect() as conn:
        none = conn.execute(
            text(grafana_sql(keys_panel["rawSql"], early, early + timedelta(days=90)))
        ).all()
    assert none == []
