"""Alerts that fire on news and summarize states: every rule says its
cadence, and the Alertmanager configuration shipped beside the rules
(dashboards/alertmanager.yml), run in a real Alertmanager on loopback,
routes news to the page receiver and states to the daily one, and inhibits
a state while its news is fresh or while scans fail."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import threading
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.test_dashboards import DASHBOARDS, RULES, free_port, need

ALERTMANAGER = DASHBOARDS / "alertmanager.yml"
NEWS = {
    "KeysentryKeyNewlyBlocked",
    "KeysentryNewUnrestrictedKey",
    "KeysentryRestrictionsRemoved",
    "KeysentryDeadlineCrossed",
    "KeysentryKeyLeaked",
    "KeysentryScanFailing",
}
STATES = {
    "KeysentryBlockedKeys",
    "KeysentryProjectFindingsOverdue",
    "KeysentryLeakedKeysOutstanding",
    "KeysentryDeadlineApproaching",
}


def need_alertmanager(tool: str) -> str:
    return need(tool, "prometheus-alertmanager")


def rules() -> dict[str, dict[str, Any]]:
    document = yaml.safe_load(RULES.read_text())
    return {r["alert"]: r for g in document["groups"] for r in g["rules"]}


def test_every_rule_says_its_cadence() -> None:
    found = rules()
    for name, rule in found.items():
        assert rule["labels"]["cadence"] in ("page", "daily"), name
    assert {n for n, r in found.items() if r["labels"]["cadence"] == "page"} >= NEWS
    assert {n for n, r in found.items() if r["labels"]["cadence"] == "daily"} >= STATES
    # A state waits before it fires; a blocked key is never a page by itself.
    for name in ("KeysentryBlockedKeys", "KeysentryLeakedKeysOutstanding"):
        assert found[name]["for"] == "1h" and found[name]["labels"]["severity"] == "info"


def test_the_configuration_routes_news_and_states_apart() -> None:
    amtool = need_alertmanager("amtool")
    check = subprocess.run(
        [amtool, "check-config", str(ALERTMANAGER)], capture_output=True, text=True, check=False
    )
    assert check.returncode == 0, check.stdout + check.stderr
    config = yaml.safe_load(ALERTMANAGER.read_text())
    named = set(rules())
    for inhibition in config["inhibit_rules"]:  # every name an inhibition uses exists
        for matcher in inhibition["source_matchers"] + inhibition["target_matchers"]:
            if matcher.startswith("alertname=~"):
                pattern = re.compile(matcher.split("=~", 1)[1].strip('"'))
                assert len([n for n in named if pattern.fullmatch(n)]) >= 2, matcher
            elif matcher.startswith("alertname="):
                assert matcher.split("=", 1)[1].strip('"') in named, matcher
    for name, rule in rules().items():
        labels = [f"alertname={name}", f"cadence={rule['labels']['cadence']}"]
        routed = subprocess.run(
            [amtool, "config", "routes", "test", f"--config.file={ALERTMANAGER}", *labels],
            capture_output=True,
            text=True,
            check=False,
        )
        expected = "keysentry-page" if rule["labels"]["cadence"] == "page" else "keysentry-daily"
        assert routed.stdout.strip() == expected, (name, routed.stdout, routed.stderr)


class Alertmanager:
    def __init__(self, base: str) -> None:
        self.base = base

    def post(self, alerts: list[dict[str, Any]]) -> None:
        request = urllib.request.Request(
            f"{self.base}/api/v2/alerts",
            data=json.dumps(alerts).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            assert answer.status == 200

    def alerts(self) -> dict[str, dict[str, Any]]:
        with urllib.request.urlopen(f"{self.base}/api/v2/alerts", timeout=10) as answer:
            found = json.loads(answer.read())
        return {a["labels"]["alertname"]: a for a in found}


@pytest.fixture
def alertmanager(tmp_path: Path) -> Iterator[Alertmanager]:
    binary = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
    if binary is None:
        need_alertmanager("prometheus-alertmanager")
    assert binary is not None
    port = free_port()
    process = subprocess.Popen(
        [
            binary,
            f"--config.file={ALERTMANAGER}",
            f"--storage.path={tmp_path}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",  # one instance: no gossip
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = datetime.now(UTC) + timedelta(seconds=30)
        while True:
            try:
                with urllib.request.urlopen(f"{base}/-/ready", timeout=1) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                try:  # not listening yet: wait a little for it, or for its exit
                    process.wait(timeout=0.1)
                except subprocess.TimeoutExpired:
                    assert datetime.now(UTC) < deadline, "Alertmanager did not get ready"
                    continue
                raise AssertionError(process.stderr.read() if process.stderr else "") from None
        yield Alertmanager(base)
    finally:
        process.terminate()
        process.wait(10)


def alert(name: str, **labels: str) -> dict[str, Any]:
    cadence = rules()[name]["labels"]["cadence"]
    starts = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    return {"labels": {"alertname": name, "cadence": cadence, **labels}, "startsAt": starts}


def settled(manager: Alertmanager, names: set[str]) -> dict[str, dict[str, Any]]:
    """The alerts NAMES, once Alertmanager has judged their inhibition."""
    deadline = datetime.now(UTC) + timedelta(seconds=20)
    while True:
        found = manager.alerts()
        if names <= set(found) and all(found[n]["status"]["state"] != "unprocessed" for n in names):
            return found
        assert datetime.now(UTC) < deadline, found
        threading.Event().wait(0.2)  # it judges alerts as they arrive: ask again


def test_a_state_is_inhibited_while_its_news_is_fresh(alertmanager: Alertmanager) -> None:
    alertmanager.post(
        [
            alert("KeysentryBlockedKeys", project="checkout-web"),
            alert("KeysentryLeakedKeysOutstanding"),
            alert("KeysentryDeadlineApproaching", timeline_entry="cutoff"),
        ]
    )
    quiet = settled(
        alertmanager,
        {"KeysentryBlockedKeys", "KeysentryLeakedKeysOutstanding", "KeysentryDeadlineApproaching"},
    )
    assert all(a["status"]["state"] == "active" for a in quiet.values())
    alertmanager.post(
        [
            alert("KeysentryKeyNewlyBlocked", rule="gemini-unrestricted-standard-key"),
            alert("KeysentryDeadlineCrossed", timeline_entry="other-entry"),
        ]
    )
    found = settled(alertmanager, {"KeysentryKeyNewlyBlocked", "KeysentryDeadlineCrossed"})
    assert found["KeysentryBlockedKeys"]["status"]["state"] == "suppressed"
    assert found["KeysentryBlockedKeys"]["status"]["inhibitedBy"]
    assert found["KeysentryKeyNewlyBlocked"]["status"]["state"] == "active"
    # Another deadline's crossing does not hide this one; nor does a leak's state end.
    assert found["KeysentryDeadlineApproaching"]["status"]["state"] == "active"
    assert found["KeysentryLeakedKeysOutstanding"]["status"]["state"] == "active"


def test_states_are_inhibited_while_scans_fail(alertmanager: Alertmanager) -> None:
    alertmanager.post([alert("KeysentryBlockedKeys"), alert("KeysentryKeyNewlyBlocked")])
    alertmanager.post([alert("KeysentryScanFailing")])
    found = settled(alertmanager, {"KeysentryBlockedKeys", "KeysentryScanFailing"})
    assert found["KeysentryBlockedKeys"]["status"]["state"] == "suppressed"
    assert found["KeysentryScanFailing"]["status"]["state"] == "active"
    assert found["KeysentryKeyNewlyBlocked"]["status"]["state"] == "active"  # news still goes
