"""The dashboard and the alerting rules, proven against a real Prometheus
scraping the real worker after a scan of the demo organization."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.test_docs import heading_anchors
from tests.test_worker_process import DEMO, KEYSENTRY, running

DASHBOARDS = Path(__file__).parent.parent / "dashboards"
DASHBOARD = DASHBOARDS / "keysentry.json"
RULES = DASHBOARDS / "alerts.yml"
RULE_TESTS = DASHBOARDS / "alerts.test.yml"
RUNBOOK_BASE = "https://github.com/keysentry/keysentry/blob/main/docs/runbooks.md"
# What Grafana puts in place of its variables, for a query sent directly.
# The drill-down variables at "All" (their allValue), as Grafana sends them.
GRAFANA_VARIABLES = {
    "$__rate_interval": "1m",
    "$__interval": "15s",
    "$__range": "5m",
    "$project": ".*",
    "$severity": ".*",
    "$rule": ".*",
    "$key_type": ".*",
}


def need(tool: str, package: str = "prometheus") -> str:
    path = shutil.which(tool)
    if path is None:
        reason = f"{tool} not installed (apt-get install {package})"
        if os.environ.get("KEYSENTRY_REQUIRE_PROMETHEUS"):
            pytest.fail(reason)
        pytest.skip(reason)
    return path


def all_panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        yield panel
        yield from all_panels(panel.get("panels", []))


def dashboard() -> dict[str, Any]:
    return dict(json.loads(DASHBOARD.read_text()))


def queries(kind: str = "prometheus") -> list[tuple[str, dict[str, Any]]]:
    """The targets of the panels on KIND's data source: PromQL, or SQL (`rawSql`)."""
    found = []
    for panel in all_panels(dashboard()["panels"]):
        for target in panel.get("targets", []):
            if ("rawSql" in target) == (kind == "sql"):
                found.append((f"{panel['title']} [{target['refId']}]", target))
    return found


def expand(expr: str) -> str:
    for variable, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(variable, value)
    assert "$" not in expr, f"unexpanded Grafana variable in {expr!r}"
    return expr


def test_rules_check_and_unit_tests_pass() -> None:
    promtool = need("promtool")
    check = subprocess.run(
        [promtool, "check", "rules", str(RULES)], capture_output=True, text=True, check=False
    )
    assert check.returncode == 0, check.stdout + check.stderr
    tests = subprocess.run(
        [promtool, "test", "rules", RULE_TESTS.name],
        cwd=DASHBOARDS,
        capture_output=True,
        text=True,
        check=False,
    )
    assert tests.returncode == 0, tests.stdout + tests.stderr


def test_every_alert_is_tested_firing_and_not_firing() -> None:
    rules = yaml.safe_load(RULES.read_text())
    alerts = {r["alert"]: r for g in rules["groups"] for r in g["rules"]}
    fired: set[str] = set()
    quiet: set[str] = set()
    for case in yaml.safe_load(RULE_TESTS.read_text())["tests"]:
        for check in case.get("alert_rule_test", []):
            (fired if check.get("exp_alerts") else quiet).add(check["alertname"])
    assert fired == set(alerts) and quiet == set(alerts)
    anchors = heading_anchors(DASHBOARDS.parent / "docs" / "runbooks.md")
    for name, rule in alerts.items():
        annotations = rule["annotations"]
        assert {"summary", "description", "runbook_url"} <= set(annotations), name
        base, anchor = annotations["runbook_url"].split("#", 1)
        # Absolute, as Alertmanager receivers link it; the Helm chart swaps the base.
        assert base == RUNBOOK_BASE and anchor in anchors, (
            f"{name}: no section #{anchor} in docs/runbooks.md"
        )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Prometheus:
    def __init__(self, base: str) -> None:
        self.base = base

    def get(self, path: str, **params: str) -> dict[str, Any]:
        url = f"{self.base}{path}?{urllib.parse.urlencode(params)}"
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                return dict(json.loads(response.read()))
        except urllib.error.HTTPError as exc:
            return dict(json.loads(exc.read()))

    def until(self, what: str, condition: Any, timeout: float = 60.0) -> None:
        """Poll Prometheus until CONDITION holds: scrapes happen on its clock."""
        deadline = time.monotonic() + timeout
        while not condition():
            assert time.monotonic() < deadline, f"Prometheus never had {what}"
            time.sleep(0.2)


@pytest.fixture
def prometheus_scraping_the_worker(tmp_path: Path) -> Iterator[Prometheus]:
    binary = need("prometheus")
    config = tmp_path / "worker.yaml"
    # An exception lapsing within 14 days of today, for the exceptions row.
    lapses = (datetime.now(UTC) + timedelta(days=7)).date()
    exception = {
        "id": "maps-web-any-referrer",
        "rules": ["key-weak-application-restriction"],
        "projects": ["maps-frontend"],
        "reason": "partner sites embed the map",
        "approved_by": "security-lead@example.com",
        "expires": str(lapses),
    }
    worker_config = {"schedule": {"interval": "1h", "jitter": "0s"}, "exceptions": [exception]}
    config.write_text(yaml.safe_dump(worker_config))
    args = [str(KEYSENTRY), "run", "--config", str(config), "--db", f"sqlite:///{tmp_path}/h.db"]
    args += ["--from-export", str(DEMO), "--listen", "127.0.0.1:0"]
    with running(args) as worker:
        address = worker.wait_for(r"listening on http://(\S+) ").group(1)
        worker.wait_for(r"scan \d+ succeeded")
        port = free_port()
        (tmp_path / "prometheus.yml").write_text(
            yaml.safe_dump(
                {
                    "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                    "rule_files": [str(RULES)],
                    "scrape_configs": [
                        {"job_name": "keysentry", "static_configs": [{"targets": [address]}]}
                    ],
                }
            )
        )
        log = (tmp_path / "prometheus.log").open("w")
        server = subprocess.Popen(
            [
                binary,
                f"--config.file={tmp_path / 'prometheus.yml'}",
                f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            yield Prometheus(f"http://127.0.0.1:{port}")
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(30)
            log.close()
            worker.proc.send_signal(signal.SIGTERM)
            worker.finish()


def test_every_panel_query_returns_data_from_a_real_prometheus(
    prometheus_scraping_the_worker: Prometheus,
) -> None:
    prom = prometheus_scraping_the_worker

    def scraped_thrice() -> bool:
        try:
            result = prom.get("/api/v1/query", query="count_over_time(keysentry_build_info[5m])")
        except OSError:
            return False  # not listening yet
        data = result.get("data", {}).get("result", [])
        return bool(data) and float(data[0]["value"][1]) >= 3

    prom.until("three scrapes of the worker", scraped_thrice)
    now = time.time()
    for name, target in queries():
        expr = expand(target["expr"])
        instant = prom.get("/api/v1/query", query=expr)
        assert instant["status"] == "success", f"{name}: {expr}: {instant}"
        assert instant["data"]["result"], f"{name}: no data for {expr}"
        if target.get("range"):
            ranged = prom.get(
                "/api/v1/query_range", query=expr, start=str(now - 60), end=str(now), step="1"
            )
            assert ranged["status"] == "success", f"{name}: {expr}: {ranged}"
            assert ranged["data"]["result"], f"{name}: no range data for {expr}"

    # Each drill-down variable lists values, and picking one narrows its panels.
    for variable in dashboard()["templating"]["list"]:
        if variable["type"] != "query":
            continue
        match = re.fullmatch(r"label_values\((\w+), (\w+)\)", variable["definition"])
        assert match, variable["definition"]
        metric, label = match.groups()
        values = prom.get(f"/api/v1/label/{label}/values", **{"match[]": metric})["data"]
        assert values, f"variable {variable['name']}: no values of {label} on {metric}"
    by_rule = next(t for name, t in queries() if name.startswith("Open findings by rule"))
    narrowed = by_rule["expr"].replace("$rule", "key-not-rotated").replace("$severity", ".*")
    rows = prom.get("/api/v1/query", query=narrowed)["data"]["result"]
    assert [r["metric"]["rule"] for r in rows] == ["key-not-rotated"]
    top = next(t for name, t in queries() if name == "Top offenders [A]")
    for row in prom.get("/api/v1/query", query=expand(top["expr"]))["data"]["result"]:
        labels = row["metric"]
        assert labels["key"].endswith("/keys/" + labels["key_id"])  # the Console link's id

    def rules_evaluated() -> bool:
        groups = prom.get("/api/v1/rules")["data"]["groups"]
        return all(r.get("lastEvaluation", "").startswith("2") for g in groups for r in g["rules"])

    prom.until("the alerting rules evaluated", rules_evaluated)
    rules = [r for g in prom.get("/api/v1/rules")["data"]["groups"] for r in g["rules"]]
    assert {r["health"] for r in rules} == {"ok"}, rules
    state = {r["name"]: r["state"] for r in rules}
    # The demo has blocked keys: a state, which holds an hour before it fires.
    assert state["KeysentryBlockedKeys"] == "pending"
    assert state["KeysentryScanFailing"] == "inactive"
    assert state["KeysentryNoRecentSuccessfulScan"] == "inactive"
    returning = prom.get("/api/v1/query", query="max(keysentry_exceptions_expiring_findings)")
    assert float(returning["data"]["result"][0]["value"][1]) >= 1  # the exception accepts
