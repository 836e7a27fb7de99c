"""What the planner queues after each scan, on both databases: nothing on the
baseline, transitions, reminders across 60 simulated days and restarts,
digests once per period, critical bypass, owners and the fallback."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select

from alerts.config import AlertsConfig
from alerts.planner import plan, scan_hook
from alerts.routing import ConfiguredOwners
from scanner.config import Config
from scanner.configfile import parse_config
from scanner.engine import run_scan
from scanner.inventory.export import ExportSource
from scanner.store import db
from scanner.store.tables import Notification
from tests import assets
from tests.conftest import NOW

ROUTES = """
alerts:
  route:
    receiver: security
    routes:
      - {match: {project: ["alpha*"]}, receiver: owners, continue: true}
      - {receiver: security}
  receivers:
    - {name: owners, email: {to_owners: true}}
    - name: security
      email: {to: [sec@example.com]}
      webhooks: [{name: feed, url: "https://feed.example.com/h"}]
  owners: {"alpha": [alice@example.com]}
  fallback_receiver: security
"""


def config_of(text: str) -> Config:
    return parse_config(text, "test.yaml")


def scan(
    engine: Engine, tmp_path: Path, envelopes: list[dict[str, Any]], at: datetime, config: Config
) -> list[Any]:
    """Scan ENVELOPES as of AT with alerts planned; the notifications it queued."""
    export = assets.write_ndjson(tmp_path / f"org-{at:%Y%m%d%H%M}.jsonl", envelopes)
    source = ExportSource([export], config.gemini.project_services)
    outcome = run_scan(source, engine, config, at, after_history=scan_hook(config.alerts))
    with engine.connect() as conn:
        return list(
            conn.execute(
                select(Notification)
                .where(Notification.scan_id == outcome.scan_id)
                .order_by(Notification.id)
            ).all()
        )


def org() -> list[dict[str, Any]]:
    return [
        assets.project("100", "alpha"),
        assets.project("200", "beta"),
        assets.service("100", assets.GEMINI),
        assets.key("100", uid="k-open", display_name="open gemini", targets=[assets.GEMINI]),
        assets.key(
            "200", uid="k-maps", targets=["maps-backend.googleapis.com"], server=["192.0.2.1/32"]
        ),
    ]


def test_the_first_scan_is_a_baseline_and_a_scan_without_change_sends_nothing(
    engine: Engine, tmp_path: Path
) -> None:
    config = config_of(ROUTES)
    first = scan(engine, tmp_path, org(), NOW, config)
    assert {n.kind for n in first} == {"reminder"}  # overdue deadlines, not transitions
    assert scan(engine, tmp_path, org(), NOW + timedelta(hours=6), config) == []


def test_transitions_opened_escalated_resolved(engine: Engine, tmp_path: Path) -> None:
    config = config_of(ROUTES)
    scan(engine, tmp_path, org(), NOW, config)
    changed = [
        assets.project("100", "alpha"),
        assets.project("200", "beta"),
        assets.service("100", assets.GEMINI),
        assets.service("200", assets.GEMINI),  # Gemini on in beta: k-maps's findings worsen
        assets.key("200", uid="k-maps", browser=["*"]),  # now unrestricted, any referrer
    ]
    sent = scan(engine, tmp_path, changed, NOW + timedelta(hours=6), config)
    events = Counter(
        (n.payload["event"], n.payload["keys"][0]["uid"]) for n in sent if n.kind == "transition"
    )
    kinds = {event for event, _ in events}
    assert {"opened", "resolved", "escalated"} <= kinds
    assert all(uid == "k-maps" for event, uid in events if event in ("opened", "escalated"))
    assert all(uid == "k-open" for event, uid in events if event == "resolved")
    # Each event goes to each target once: security's mail and feed; alpha's owner
    # only for alpha's key.
    targets = {(n.payload["keys"][0]["uid"], n.channel, n.target) for n in sent}
    assert ("k-open", "email", "alice@example.com") in targets
    assert ("k-maps", "email", "alice@example.com") not in targets
    assert ("k-maps", "webhook", "feed") in targets


def test_reminders_over_sixty_days_once_each_across_restarts(db_url: str, tmp_path: Path) -> None:
    """A rotation deadline 20 days after the first scan: reminders at 30 (the
    latest point already passed), 14, 7, 3, 1 and 0 days before, then weekly."""
    config = config_of(
        "alerts: {route: {receiver: owners}, "
        "receivers: [{name: owners, email: {to: [o@example.com]}}]}"
    )
    created = NOW - timedelta(days=90 - 20)
    envelopes = [
        assets.project("100", "alpha"),
        assets.key(
            "100",
            uid="k-rot",
            targets=["maps-backend.googleapis.com"],
            server=["192.0.2.1/32"],
            created=created.strftime("%Y-%m-%dT%H:%M:%SZ"),
        ),
    ]
    engine = db.open_engine(db_url)
    db.ensure_current(engine)
    by_day: dict[int, list[str]] = {}
    for day in range(60):
        if day % 10 == 0:  # a restart: new engine, new hook
            engine.dispose()
            engine = db.open_engine(db_url)
        sent = scan(engine, tmp_path, envelopes, NOW + timedelta(days=day, hours=1), config)
        labels = [n.payload["detail"] for n in sent if n.kind == "reminder"]
        if labels:
            by_day[day] = labels
    assert by_day == {
        0: ["20 days left"],
        6: ["14 days left"],
        13: ["7 days left"],
        17: ["3 days left"],
        19: ["1 days left"],
        20: ["0 days left"],
        27: ["7 days overdue"],
        34: ["14 days overdue"],
        41: ["21 days overdue"],
        48: ["28 days overdue"],
        55: ["35 days overdue"],
    }
    # Another replica planning the same scan again queues nothing new.
    with engine.begin() as conn:
        last = conn.scalar(select(Notification.scan_id).order_by(Notification.id.desc()).limit(1))
        assert last is not None
        again = plan(
            conn, config.alerts, ConfiguredOwners({}), last, NOW + timedelta(days=55, hours=1)
        )
    assert sum(again.queued.values()) == 0
    engine.dispose()


DIGESTS = """
alerts:
  route: {receiver: team}
  receivers:
    - name: team
      email: {to: [team@example.com]}
      digest: {every: 1d, bypass_severity: critical}
"""


def test_digests_once_per_period_and_critical_transitions_bypass_them(
    engine: Engine, tmp_path: Path
) -> None:
    config = config_of(DIGESTS)
    first = scan(engine, tmp_path, org(), NOW + timedelta(hours=1), config)
    assert [n.kind for n in first] == ["digest"]  # reminders fold into the digest
    digest = first[0].payload
    assert {k["uid"] for k in digest["keys"]} == {"k-open"}
    assert digest["counts"] == {"non_compliant": 1}
    assert scan(engine, tmp_path, org(), NOW + timedelta(hours=7), config) == []
    # A new critical finding is sent at once; the next day's digest follows.
    critical = [*org(), assets.key("100", uid="k-new", display_name="new unrestricted")]
    sent = scan(engine, tmp_path, critical, NOW + timedelta(hours=13), config)
    assert {(n.kind, n.payload["event"]) for n in sent} == {("transition", "opened")}
    assert {n.payload["keys"][0]["findings"][0]["severity"] for n in sent} == {"critical"}
    next_day = scan(engine, tmp_path, critical, NOW + timedelta(days=1, hours=1), config)
    assert [n.kind for n in next_day] == ["digest"]
    assert {k["uid"] for k in next_day[0].payload["keys"]} == {"k-open", "k-new"}


def test_keys_without_owner_go_to_the_fallback_and_are_counted(
    engine: Engine, tmp_path: Path
) -> None:
    config = config_of(
        """
alerts:
  route: {receiver: owners}
  receivers:
    - {name: owners, email: {to_owners: true}}
    - {name: security, email: {to: [sec@example.com]}}
  owners: {"alpha": [alice@example.com]}
  fallback_receiver: security
"""
    )
    envelopes = [*org(), assets.key("200", uid="k-beta-open")]
    export = assets.write_ndjson(tmp_path / "org.jsonl", envelopes)
    outcome = run_scan(
        ExportSource([export], config.gemini.project_services),
        engine,
        config,
        NOW,
        after_history=scan_hook(config.alerts),
    )
    assert outcome.stats.alerts["unowned_keys"] == 1  # k-beta-open: beta has no owner
    with engine.connect() as conn:
        sent = conn.execute(select(Notification)).all()
    by_target = {n.target: {k["uid"] for k in n.payload["keys"]} for n in sent}
    assert by_target["alice@example.com"] == {"k-open"}
    assert by_target["sec@example.com"] == {"k-beta-open"}


def test_alerts_config_errors_name_their_path() -> None:
    import pytest

    from scanner.errors import ConfigError

    for text, message in [
        ("alerts: {route: {receiver: nope}}", "route.receiver: no receiver named 'nope'"),
        ("alerts: {receivers: [{name: a, email: {to: [a@x.y]}}]}", "no `route` sends to them"),
        (
            "alerts: {route: {receiver: a}, receivers: [{name: a, email: {to: [not-an-address]}}]}",
            "alerts.receivers[0].email.to: not an email address",
        ),
        (
            "alerts: {route: {receiver: a}, receivers: [{name: a, webhooks: [{name: w, url: ftp://x}]}]}",
            "alerts.receivers[0].webhooks[0].url: not an http(s) URL",
        ),
        (
            "alerts: {route: {receiver: a}, receivers: [{name: a, email: {to: [a@x.y]}}], "
            "smtp: {password_env: 'bad name'}}",
            "alerts.smtp.password_env: not an environment variable name",
        ),
    ]:
        with pytest.raises(ConfigError) as caught:
            config_of(text)
        assert message in str(caught.value), str(caught.value)
    assert AlertsConfig().enabled is False
