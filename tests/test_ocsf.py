"""Findings as OCSF 1.5.0 Compliance Finding events: `report --format ocsf`
through the installed command, and the `ocsf` webhook format through the
dispatcher to a real HTTP receiver. Every event is validated with
py-ocsf-models (the models Prowler writes OCSF with), and nothing it does
not know is in an event but the cloud profile's `cloud`."""

from __future__ import annotations

import json
import os
from datetime import timedelta
from pathlib import Path
from typing import Any

from py_ocsf_models.events.findings.compliance_finding import ComplianceFinding

from scanner.configfile import parse_config
from scanner.store import db
from tests import assets
from tests.conftest import NOW
from tests.peers import HttpReceiver
from tests.test_alerts_cli import run, write
from tests.test_cli import run_installed

KEY = "projects/100/locations/global/keys/"


def validated(event: dict[str, Any]) -> ComplianceFinding:
    """EVENT as the OCSF models read it; and every field it has is one they
    know (but `cloud`, which the cloud profile adds to the class)."""
    model = ComplianceFinding.model_validate(event)
    known = set(model.model_dump(exclude_none=True))
    assert set(event) - {"cloud"} <= known | {"unmapped"}, set(event) - known
    assert event["class_uid"] == 2003 and event["type_uid"] == 200300 + event["activity_id"]
    return model


def ocsf_report(tmp_path: Path, *args: str) -> list[dict[str, Any]]:
    database = f"sqlite:///{tmp_path / '.keysentry-demo' / 'keysentry.db'}"
    result = run_installed("report", "--db", database, "--format", "ocsf", *args)
    assert result.returncode == 0, result.stderr
    events: list[dict[str, Any]] = json.loads(result.stdout)
    return events


def test_report_ocsf_is_one_valid_event_per_finding_with_a_stable_uid(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEYSENTRY_")}
    demo = run_installed("demo", cwd=tmp_path, env=env)
    assert demo.returncode == 0, demo.stderr
    database = f"sqlite:///{tmp_path / '.keysentry-demo' / 'keysentry.db'}"
    document = json.loads(run_installed("report", "--db", database, "--format", "json").stdout)
    findings = {
        (key["name"], f["rule"]): f
        for key in document["keys"]
        for f in (*key["findings"], *key["accepted"])
    }
    events = ocsf_report(tmp_path)
    assert len(events) == len(findings) > 20
    for event in events:
        validated(event)
    by_finding = {(e["resources"][0]["uid"], e["finding_info"]["types"][0]): e for e in events}
    assert set(by_finding) == set(findings)
    # Accepted findings are suppressed; the others new or in progress.
    accepted = {(k["name"], f["rule"]) for k in document["keys"] for f in k["accepted"]}
    assert accepted and {by_finding[a]["status"] for a in accepted} == {"Suppressed"}
    assert {e["status"] for e in events} == {"New", "In Progress", "Suppressed"}
    # A CIS control's rule carries the control; a leak its checklist and deadline.
    rotated = next(e for e in events if e["finding_info"]["types"] == ["key-not-rotated"])
    assert rotated["compliance"]["control"] == "1.16"
    assert rotated["compliance"]["standards"] == [
        "CIS Google Cloud Platform Foundation Benchmark v5.0.0"
    ]
    leak = next(e for e in events if e["finding_info"]["types"] == ["key-leaked"])
    assert leak["severity_id"] == 5 and leak["unmapped"]["keysentry_checklist"] == "leak-response"
    assert leak["remediation"]["desc"].startswith("Respond to a leaked key")

    # The scan before: the same findings have the same uids; what was new
    # then is in progress now, and first seen where it opened.
    before = {e["finding_info"]["uid"]: e for e in ocsf_report(tmp_path, "--scan", "1")}
    now = {e["finding_info"]["uid"]: e for e in events}
    carried = set(before) & set(now)
    assert len(carried) > 10
    for uid in carried:
        if before[uid]["status"] == "New" and now[uid]["status"] != "Suppressed":
            assert now[uid]["status"] == "In Progress" and now[uid]["activity_id"] == 2
            assert now[uid]["finding_info"]["first_seen_time"] == before[uid]["time"]
    assert any(e["status"] == "New" for uid, e in now.items() if uid not in before)


def test_the_ocsf_webhook_sends_events_a_siem_can_read(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/h.db"
    engine = db.open_engine(url)
    db.ensure_current(engine)
    engine.dispose()
    first = [
        assets.project("100", "alpha"),
        assets.key("100", uid="k-open", display_name="open key"),
        assets.key(
            "100", uid="k-ok", targets=["maps-backend.googleapis.com"], server=["192.0.2.1"]
        ),
    ]
    # The next day the open key is restricted and another one appears.
    restricted = assets.key("100", uid="k-open", targets=["x.googleapis.com"], server=["192.0.2.9"])
    second = [first[0], restricted, first[2], assets.key("100", uid="k-new", display_name="new")]
    with HttpReceiver() as hook:
        config = write(
            tmp_path,
            f"""
alerts:
  route: {{receiver: siem}}
  receivers:
    - name: siem
      webhooks: [{{name: collector, url: "{hook.url}", format: ocsf}}]
""",
        )
        parse_config(config.read_text(), "c")
        for step, envelopes in enumerate((first, second)):
            export = assets.write_ndjson(tmp_path / f"org-{step}.jsonl", envelopes)
            at = (NOW + timedelta(days=step)).strftime("%Y-%m-%dT%H:%M:%SZ")
            scanned = run(
                "scan",
                "--config",
                str(config),
                "--db",
                url,
                "--from-export",
                str(export),
                "--now",
                at,
            )
            assert scanned.returncode == 0, scanned.stderr
            sent = run("alerts", "dispatch", "--config", str(config), "--db", url)
            assert sent.returncode == 0, sent.stderr
    bodies = [json.loads(r.body) for r in hook.requests]
    assert len(bodies) == 2 and all(isinstance(b, list) for b in bodies)
    for event in (e for body in bodies for e in body):
        validated(event)
    # The first scan's overview: what is open, in progress.
    overview, news = bodies
    assert {e["status"] for e in overview} == {"In Progress"}
    assert {e["resources"][0]["uid"] for e in overview} == {KEY + "k-open"}
    # The next: the new key's findings opened, the restricted key's resolved:
    # the same findings (by uid) as the overview's, closed, their checks passing.
    opened = [e for e in news if e["status"] == "New"]
    resolved = [e for e in news if e["status"] == "Resolved"]
    assert {e["resources"][0]["uid"] for e in opened} == {KEY + "k-new"}
    assert {e["activity_id"] for e in opened} == {1}
    assert resolved and {e["finding_info"]["uid"] for e in resolved} <= {
        e["finding_info"]["uid"] for e in overview
    }
    assert all(e["activity_id"] == 3 and e["compliance"]["status"] == "Pass" for e in resolved)
