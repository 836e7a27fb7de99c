"""Tickets that follow the findings, in Jira (Cloud and Data Center, through
atlassian-python-api) and ServiceNow (the Table API), against loopback fakes
that speak their REST (tests/fakes/tickets.py), on SQLite and PostgreSQL:
one ticket per group, created once whatever fails, updated when its findings
change, resolved and reopened with them, and a ticket closed without a fix
reported, never taken as an exception."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import Engine

from scanner.config import Config
from scanner.config.alerts import RouteConfig
from scanner.config.tickets import (
    JiraConfig,
    ServiceNowConfig,
    TicketReceiverConfig,
    TicketsConfig,
)
from scanner.core.errors import SourceError
from scanner.scan.engine import run_scan
from scanner.sources.inventory.export import ExportSource
from scanner.tickets.make import systems
from scanner.tickets.sync import TicketSync
from tests import assets
from tests.conftest import NOW
from tests.fakes.tickets import FakeJira, FakeServiceNow
from tests.test_cli import run_installed

SYSTEMS = ["jira-cloud", "jira-datacenter", "servicenow"]


@pytest.fixture(autouse=True)
def credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in (
        ("JIRA_USER", "keysentry@example.com"),
        ("JIRA_TOKEN", "not-a-real-token"),
        ("SERVICENOW_USER", "keysentry"),
        ("SERVICENOW_PASSWORD", "not-a-real-password"),
    ):
        monkeypatch.setenv(name, value)


@pytest.fixture(params=SYSTEMS)
def remote(request: pytest.FixtureRequest) -> Iterator[Any]:
    fake = FakeServiceNow() if request.param == "servicenow" else FakeJira()
    fake.kind = request.param  # type: ignore[union-attr]
    with fake:
        yield fake


def tickets_config(remote: Any, group_by: str = "key") -> TicketsConfig:
    if remote.kind == "servicenow":
        receiver = TicketReceiverConfig(name="sec", servicenow=ServiceNowConfig(url=remote.url))
    else:
        jira = JiraConfig(url=remote.url, project="SEC", cloud=remote.kind == "jira-cloud")
        receiver = TicketReceiverConfig(name="sec", jira=jira)
    return TicketsConfig(
        enabled=True,
        group_by=group_by,  # type: ignore[arg-type]
        route=RouteConfig(receiver="sec"),
        receivers=[receiver],
        requests_per_second=100,
        timeout=1.0,
    )


def org(step: int) -> list[dict[str, Any]]:
    restricted = {"targets": ["maps-backend.googleapis.com"], "server": ["192.0.2.1"]}
    envelopes = [
        assets.project("100", "alpha"),
        assets.key("100", uid="k-fixed", display_name="fixed later"),
        assets.key("100", uid="k-kept", display_name="kept", **restricted),
    ]
    if step == 1:  # k-fixed restricted; k-kept loses its restrictions; a new key
        envelopes[1] = assets.key("100", uid="k-fixed", display_name="fixed later", **restricted)
        envelopes[2] = assets.key("100", uid="k-kept", display_name="kept")
        envelopes.append(assets.key("100", uid="k-new", display_name="new"))
    return envelopes


def scan(engine: Engine, tmp_path: Path, step: int, at_day: int | None = None) -> None:
    export = assets.write_ndjson(tmp_path / f"org-{step}.jsonl", org(step))
    source = ExportSource([export], Config().gemini.project_services)
    run_scan(source, engine, Config(), NOW + timedelta(days=step if at_day is None else at_day))


def sync(engine: Engine, remote: Any, **options: Any) -> Any:
    config = tickets_config(remote)
    return TicketSync(engine, config, systems(config), **options).run()


def tickets_of(remote: Any) -> dict[str, Any]:
    """label or correlation id -> the ticket."""
    if remote.kind == "servicenow":
        return {r["correlation_id"]: r for r in remote.records.values()}
    found = {}
    for issue in remote.issues.values():
        for name in issue.fields["labels"]:
            if name.startswith("keysentry-"):
                found[name] = issue
    return found


def is_done(remote: Any, ticket: Any) -> bool:
    if remote.kind == "servicenow":
        return bool(ticket["state"] in ("6", "7"))
    return bool(ticket.status["statusCategory"]["key"] == "done")


def test_one_ticket_per_key_follows_its_findings(
    engine: Engine, tmp_path: Path, remote: Any
) -> None:
    scan(engine, tmp_path, 0)
    stats = sync(engine, remote)
    assert stats.done == {"created": 1}  # only k-fixed has findings
    (only,) = tickets_of(remote).values()
    writes = len(remote.writes)
    assert sync(engine, remote).done == {} and len(remote.writes) == writes  # nothing new

    scan(engine, tmp_path, 1)  # k-fixed fixed, k-kept opened, k-new created
    stats = sync(engine, remote)
    assert stats.done == {"created": 2, "resolved": 1}
    made = tickets_of(remote)
    assert len(made) == 3 and is_done(remote, only)
    assert sum(not is_done(remote, t) for t in made.values()) == 2

    scan(engine, tmp_path, 0, at_day=2)  # back as at first: k-fixed open again
    stats = sync(engine, remote)
    assert stats.done == {"reopened": 1, "resolved": 2}
    assert not is_done(remote, only) and len(tickets_of(remote)) == 3


def test_a_change_in_a_ticket_s_findings_is_a_comment_and_an_update(
    engine: Engine, tmp_path: Path, remote: Any
) -> None:
    config = tickets_config(remote, group_by="project_owner")
    scan(engine, tmp_path, 0)
    TicketSync(engine, config, systems(config)).run()
    scan(engine, tmp_path, 1)
    stats = TicketSync(engine, config, systems(config)).run()
    assert stats.done == {"updated": 1}  # one project, one owner: one ticket
    (ticket,) = tickets_of(remote).values()
    notes = ticket["work_notes_list"] if remote.kind == "servicenow" else ticket.comments
    assert len(notes) == 1 and "Now open:" in notes[0] and "Resolved:" in notes[0]


def test_a_create_whose_answer_is_lost_is_made_once(
    engine: Engine, tmp_path: Path, remote: Any
) -> None:
    """The create commits, the answer comes after the client gave up; the
    search does not show the new ticket yet: no second create until it does,
    and then the ticket is taken up, not made again."""
    scan(engine, tmp_path, 0)
    remote.faults.slow_creates, remote.faults.slow, remote.faults.search_lag = 1, 3.0, 3600
    with pytest.raises(SourceError, match="tickets: "):
        sync(engine, remote)
    assert len(tickets_of(remote)) == 1
    stats = sync(engine, remote)
    assert stats.waiting == 1 and stats.done == {}
    remote.faults.search_lag = 0  # the index caught up
    stats = sync(engine, remote)
    assert stats.done == {"created": 1} and len(tickets_of(remote)) == 1


def test_two_workers_at_once_and_a_429_make_one_ticket(
    engine: Engine, tmp_path: Path, remote: Any
) -> None:
    scan(engine, tmp_path, 1)
    remote.faults.too_many = 1  # answered with Retry-After: 1, then served
    threads = [threading.Thread(target=sync, args=(engine, remote)) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert remote.faults.too_many == 0
    assert len(tickets_of(remote)) == 2  # k-kept and k-new, once each


def test_a_ticket_closed_without_a_fix_is_reported_not_accepted(
    engine: Engine, tmp_path: Path, remote: Any
) -> None:
    scan(engine, tmp_path, 0)
    sync(engine, remote)
    (ticket,) = tickets_of(remote).values()
    if remote.kind == "servicenow":
        remote.close_as(ticket["number"], "Risk Accepted")
    else:
        remote.close_as(ticket.key, "Won't Do")
    stats = sync(engine, remote)
    ((group, closed),) = stats.declined
    assert closed.resolution in ("Risk Accepted", "Won't Do")
    assert {i.key_name for i in group.items} == {"projects/100/locations/global/keys/k-fixed"}


def test_tickets_sync_and_list_through_the_command(tmp_path: Path) -> None:
    with FakeJira() as jira:
        database = f"sqlite:///{tmp_path / 'h.db'}"
        export = assets.write_ndjson(tmp_path / "org.jsonl", org(1))
        assert run_installed("scan", "--db", database, "--from-export", str(export)).returncode == 0
        config = tmp_path / "keysentry.yaml"
        config.write_text(
            yaml.safe_dump(
                {
                    "tickets": {
                        "route": {"receiver": "sec"},
                        "receivers": [{"name": "sec", "jira": {"url": jira.url, "project": "SEC"}}],
                    }
                }
            )
        )
        common = ["--config", str(config), "--db", database]
        env = {"PATH": "/usr/bin:/bin", "JIRA_USER": "u@example.com", "JIRA_TOKEN": "t"}
        dry = run_installed("tickets", "sync", *common, "--dry-run", env=env)
        assert dry.returncode == 0, dry.stderr
        assert 'would be created: sec: API key "new" (alpha)' in dry.stdout
        assert dry.stdout.rstrip().endswith("(dry run) tickets: scan 1: 2 created; 0 unchanged")
        assert jira.issues == {}
        done = run_installed("tickets", "sync", *common, env=env)
        assert done.returncode == 0, done.stderr
        listed = run_installed("tickets", "list", *common, env=env)
        assert "SEC-1  open" in listed.stdout and listed.stdout.rstrip().endswith("2 ticket(s)")
        refused = run_installed("tickets", "sync", *common, env={"PATH": "/usr/bin:/bin"})
        assert refused.returncode == 2 and "JIRA_USER and JIRA_TOKEN" in refused.stderr


def test_the_worker_syncs_after_its_scan_and_history_shows_the_ticket(
    engine: Engine, tmp_path: Path, remote: Any
) -> None:
    from scanner.report.key_history import key_history
    from scanner.service.worker import Worker

    config = Config(tickets=tickets_config(remote))
    export = assets.write_ndjson(tmp_path / "org.jsonl", org(0))
    worker = Worker(
        config,
        engine,
        lambda: ExportSource([export], config.gemini.project_services),
        evaluated_at=lambda: NOW,
        ticket_systems=systems(config.tickets),
    )
    assert worker.scan_once() == "succeeded"
    (ticket,) = tickets_of(remote).values()
    with engine.connect() as conn:
        history = key_history(conn, "projects/100/locations/global/keys/k-fixed")
    (shown,) = history.tickets
    expected = ticket["number"] if remote.kind == "servicenow" else ticket.key
    assert (shown["ticket"], shown["state"]) == (expected, "open")
    assert shown["url"].startswith(remote.url)


def test_the_evidence_pack_holds_the_tickets(engine: Engine, tmp_path: Path, remote: Any) -> None:
    import csv
    import json

    from scanner.evidence.pack import write_pack

    scan(engine, tmp_path, 1)
    sync(engine, remote)
    pack = tmp_path / "pack"
    write_pack(engine, NOW - timedelta(days=1), NOW + timedelta(days=3), pack)
    with (pack / "tickets.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 2 and {r["state"] for r in rows} == {"open"}
    assert all(r["url"].startswith(remote.url) and r["ticket"] for r in rows)
    assert {r["keys"] for r in rows} == {
        "projects/100/locations/global/keys/k-kept",
        "projects/100/locations/global/keys/k-new",
    }
    listed = {f["path"] for f in json.loads((pack / "MANIFEST.json").read_text())["files"]}
    assert {"tickets.csv", "tickets.json"} <= listed


def test_a_message_about_a_key_links_its_ticket(
    engine: Engine, tmp_path: Path, remote: Any
) -> None:
    """Messages are queued by the scan, tickets made after it: the link is
    looked up when the message is sent, in the email and the webhook."""
    from email import message_from_bytes, policy

    from scanner.alerts.delivery.dispatch import DirectoryTransport, Dispatcher
    from scanner.alerts.plan.planner import scan_hook
    from scanner.configfile import parse_config
    from scanner.store.tickets import tickets as stored
    from scanner.tickets.links import ticket_links

    alerts = parse_config(
        """
alerts:
  route: {receiver: team}
  receivers:
    - name: team
      email: {to: [team@example.com]}
      webhooks: [{name: slack, url: "https://hooks.example.com/s", format: slack}]
""",
        "c.yaml",
    ).alerts
    config = Config(alerts=alerts, tickets=tickets_config(remote))
    for step in (0, 1):  # then k-kept opens and k-new appears: a ticket and a message each
        export = assets.write_ndjson(tmp_path / f"org-{step}.jsonl", org(step))
        source = ExportSource([export], config.gemini.project_services)
        at = NOW + timedelta(days=step)
        run_scan(source, engine, config, at, after_history=scan_hook(config.alerts))
    TicketSync(engine, config.tickets, systems(config.tickets)).run()
    outbox = DirectoryTransport(tmp_path / "outbox")
    links = ticket_links(engine, config.tickets)
    Dispatcher(engine, alerts, outbox, lambda: at, completed=links).run_once()
    with engine.connect() as conn:
        made = {t.key_names[0]: t for t in stored(conn).values() if t.state == "open"}
    new = made["projects/100/locations/global/keys/k-new"]
    assert new.remote_key and new.url and new.url.startswith(remote.url)
    texts, slack = [], []
    for path in outbox.written:
        if path.suffix == ".eml":
            email = message_from_bytes(path.read_bytes(), policy=policy.default)
            texts.append(email.get_body(("plain",)).get_content())  # type: ignore[union-attr]
        else:
            slack.append(path.read_text())
    line = f"Ticket:    {new.remote_key} (open) {new.url}"
    assert sum(line in text for text in texts) == 1, texts
    assert any(new.url in body and f"Ticket {new.remote_key}" in body for body in slack)
