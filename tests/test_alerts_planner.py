"""What the planner queues after each scan, on both databases: one overview
per recipient on the baseline, one batch per scan for receivers without a
digest, one message per key and day for those with one, reminders across 60
simulated days and restarts with the overdue back-off, digests once per
period that lead with what changed, owners and the fallback."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, select

from scanner.alerts.plan.planner import (
    STAGES,
    Planning,
    add_key_context,
    enqueue,
    find_due_digests,
    mail_approvers,
    plan,
    read_due_digests,
    read_events,
    refresh_lines,
    route_news,
    scan_hook,
    write_overviews,
)
from scanner.alerts.plan.routing import ConfiguredOwners, Router
from scanner.config import Config
from scanner.config.alerts import AlertsConfig
from scanner.configfile import parse_config
from scanner.scan.engine import run_scan
from scanner.sources.inventory.export import ExportSource
from scanner.store import db
from scanner.store.tables import Notification, Scan
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
    # One overview per recipient, not a reminder per overdue finding.
    assert sorted((n.kind, n.channel, n.target) for n in first) == [
        ("overview", "email", "alice@example.com"),
        ("overview", "email", "sec@example.com"),
        ("overview", "webhook", "feed"),
    ]
    overview = next(n for n in first if n.target == "alice@example.com")
    assert overview.subject.startswith("[keysentry] first scan: 1 of your API keys needs action")
    assert overview.payload["why"] == "alerts.owners names you for project alpha."
    assert scan(engine, tmp_path, org(), NOW + timedelta(hours=6), config) == []


def test_the_counts_of_what_was_queued_are_the_rows_queued(engine: Engine, tmp_path: Path) -> None:
    """What a scan says it queued (its counts, the CLI's line, the metrics) is
    what the outbox holds, on PostgreSQL too, whose driver reports no row
    count for a batch; a repeat inserts nothing and says so."""
    config = config_of(ROUTES)
    export = assets.write_ndjson(tmp_path / "org.jsonl", org())
    for at, expected in ((NOW, 3), (NOW + timedelta(hours=6), 0)):
        source = ExportSource([export], config.gemini.project_services)
        outcome = run_scan(source, engine, config, at, after_history=scan_hook(config.alerts))
        with engine.connect() as conn:
            rows = conn.scalar(
                select(func.count())
                .select_from(Notification)
                .where(Notification.scan_id == outcome.scan_id)
            )
        assert sum(outcome.stats.alerts["queued"].values()) == rows == expected


def events_of(notifications: list[Any]) -> Counter[tuple[str, str, str, str]]:
    """(target, key uid, event, rule) of every finding event the messages carry."""
    return Counter(
        (n.target, k["uid"], f["event"], f["rule"])
        for n in notifications
        for k in n.payload["keys"]
        for f in k["findings"]
        if "event" in f
    )


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
    # No digest anywhere: one batch message per recipient and scan, all keys in it.
    assert sorted((n.kind, n.target) for n in sent) == [
        ("batch", "alice@example.com"),
        ("batch", "feed"),
        ("batch", "sec@example.com"),
    ]
    events = events_of(sent)
    kinds = {event for _, _, event, _ in events}
    assert {"opened", "resolved", "escalated"} <= kinds
    assert all(uid == "k-maps" for _, uid, event, _ in events if event in ("opened", "escalated"))
    assert all(uid == "k-open" for _, uid, event, _ in events if event == "resolved")
    assert all(n == 1 for n in events.values())  # each event once per target
    # Alpha's owner hears only of alpha's key.
    assert {uid for target, uid, _, _ in events if target == "alice@example.com"} == {"k-open"}
    batch = next(n for n in sent if n.target == "sec@example.com").payload
    assert batch["keys"][0]["uid"] == "k-maps"  # the worse key first
    resolved = next(k for k in batch["keys"] if k["uid"] == "k-open")
    assert resolved["checklists"] == []  # nothing left to do on a resolved finding
    assert {f["event_detail"] for f in resolved["findings"]} == {
        "the key is no longer in the inventory"  # k-open is not in the changed export
    }


def test_reminders_over_sixty_days_once_each_across_restarts(db_url: str, tmp_path: Path) -> None:
    """A rotation deadline 20 days after the first scan: reminders at 30 (the
    latest point already passed), 14, 7, 3, 1 and 0 days before, then overdue
    after a week, with gaps that double."""
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
        labels = [n.payload["detail"] for n in sent if n.kind == "batch"]
        if labels:
            by_day[day] = labels
        if day == 0:
            assert [n.kind for n in sent] == ["overview"]
    due = "due 11 Dec 2026"
    # The first overdue reminder a week after the deadline, then gaps of 2 and 4 weeks.
    assert by_day == {
        6: [f"{due} (in 14 days)"],
        13: [f"{due} (in 7 days)"],
        17: [f"{due} (in 3 days)"],
        19: [f"{due} (tomorrow)"],
        # The finding's severity rises on its deadline: one message, the worse news.
        20: ["severity raised from low to medium"],
        27: ["overdue since 11 Dec 2026 (7 days)"],
        41: ["overdue since 11 Dec 2026 (21 days)"],
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
    assert [n.kind for n in first] == ["digest"]  # the first digest is the overview
    digest = first[0].payload
    assert digest["kind"] == "overview"
    assert {k["uid"] for k in digest["keys"]} == {"k-open"}
    assert digest["counts"] == {"non_compliant": 1}
    assert scan(engine, tmp_path, org(), NOW + timedelta(hours=7), config) == []
    # A new critical finding is sent at once, all of the key's findings in one
    # message; a second critical change the same day waits for the digest.
    critical = [*org(), assets.key("100", uid="k-new", display_name="new unrestricted")]
    sent = scan(engine, tmp_path, critical, NOW + timedelta(hours=13), config)
    assert [(n.kind, n.payload["keys"][0]["uid"]) for n in sent] == [("transition", "k-new")]
    findings = sent[0].payload["keys"][0]["findings"]
    assert findings[0]["severity"] == "critical" and findings[0]["event"] == "opened"
    checklists = [c["id"] for c in sent[0].payload["keys"][0]["checklists"]]
    assert len(checklists) == len(set(checklists))  # each checklist once
    deleted_again = [*org(), assets.key("100", uid="k-new2", display_name="another")]
    later = scan(engine, tmp_path, deleted_again, NOW + timedelta(hours=19), config)
    assert [n.payload["keys"][0]["uid"] for n in later if n.kind == "transition"] == ["k-new2"]
    next_day = scan(engine, tmp_path, deleted_again, NOW + timedelta(days=1, hours=1), config)
    assert [n.kind for n in next_day] == ["digest"]
    keys = next_day[0].payload["keys"]
    assert [k["uid"] for k in keys if k["new"]] == ["k-new2"]  # what changed leads
    assert keys[0]["uid"] == "k-new2" and {k["uid"] for k in keys} == {"k-open", "k-new2"}


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

    from scanner.core.errors import ConfigError

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


def test_each_stage_of_planning_runs_alone(engine: Engine, tmp_path: Path) -> None:
    """The stages in their order, one at a time, over the scan of the test
    above: what each adds, and that nothing is queued before the outbox."""
    config = config_of(ROUTES)
    scan(engine, tmp_path, org(), NOW, config)
    changed = [e for e in org() if "k-open" not in str(e.get("name"))]
    export = assets.write_ndjson(tmp_path / "changed.jsonl", changed)
    source = ExportSource([export], config.gemini.project_services)
    scan_id = run_scan(source, engine, config, NOW + timedelta(hours=6)).scan_id  # no planning
    assert [stage.__name__ for stage in STAGES] == [
        "read_events",
        "refresh_lines",
        "find_due_digests",
        "add_key_context",
        "route_news",
        "mail_approvers",
        "read_due_digests",
        "write_overviews",
        "enqueue",
        "count_unowned",
    ]
    with engine.connect() as conn:
        owners = ConfiguredOwners(config.alerts.owners)
        previous = conn.execute(
            select(Scan.id, Scan.evaluated_at).where(Scan.id == scan_id - 1)
        ).one()
        run = Planning(conn, config.alerts, Router(config.alerts, owners), scan_id, NOW, previous)
        read_events(run)
        assert {e.kind for e in run.events} == {"resolved"}
        assert {e.key.uid for e in run.events} == {"k-open"}
        for stage in (refresh_lines, find_due_digests, add_key_context, route_news):
            stage(run)
        assert sorted(r["target"] for r in run.rows) == [
            "alice@example.com",
            "feed",
            "sec@example.com",
        ]
        assert conn.scalar(select(func.count()).select_from(Notification)) == 3  # baseline's
        for stage in (mail_approvers, read_due_digests, write_overviews, enqueue):
            stage(run)
        assert run.stats.queued == Counter({"batch": 3})
        conn.rollback()
