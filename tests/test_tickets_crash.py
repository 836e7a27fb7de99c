"""A crash at any step of a ticket sync, then a rerun: exactly one ticket
per group, in the state its findings call for. `keysentry tickets sync` runs
as its own process against the loopback Jira and ServiceNow; the fake holds
the Nth request unanswered (before it is served, or after its write commits)
and the test kills the process there with SIGKILL; a sync run later (after
the lease and the search lag) finishes the work. Every request of a sync
that creates, one that updates, resolves and creates, is a step."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import Engine, delete

from scanner.config import Config
from scanner.scan.engine import run_scan
from scanner.sources.inventory.export import ExportSource
from scanner.store.side_tables import TicketRow
from scanner.store.tickets import tickets as stored
from scanner.tickets.make import systems
from scanner.tickets.sync import SEARCH_LAG, TicketSync
from tests import assets
from tests.conftest import NOW
from tests.fakes.tickets import FakeJira, FakeServiceNow, Faults
from tests.test_tickets import org, tickets_config, tickets_of
from tests.test_worker_process import KEYSENTRY

CREDENTIALS = {
    "JIRA_USER": "keysentry@example.com",
    "JIRA_TOKEN": "not-a-real-token",
    "SERVICENOW_USER": "keysentry",
    "SERVICENOW_PASSWORD": "not-a-real-password",
}
WAIT = 60.0


@pytest.fixture(params=["jira-cloud", "servicenow"])
def kind(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    return str(request.param)


@pytest.fixture
def scans(engine: Engine, tmp_path: Path) -> list[int]:
    """Scan 0: k-fixed open. Scan 1: k-fixed fixed, k-kept opened, k-new created."""
    ids = []
    for step in (0, 1):
        export = assets.write_ndjson(tmp_path / f"org-{step}.jsonl", org(step))
        source = ExportSource([export], Config().gemini.project_services)
        ids.append(run_scan(source, engine, Config(), NOW + timedelta(days=step)).scan_id)
    return ids


def fake(kind: str) -> Any:
    made = FakeServiceNow() if kind == "servicenow" else FakeJira()
    made.kind = kind
    return made


def later() -> datetime:
    """After a killed worker's lease and the search lag of its create."""
    return datetime.now(UTC) + SEARCH_LAG + timedelta(minutes=10)


def sync_in_process(engine: Engine, remote: Any, scan_id: int) -> None:
    config = tickets_config(remote)
    TicketSync(engine, config, systems(config), clock=later).run(scan_id)


def config_file(tmp_path: Path, remote: Any) -> Path:
    config = tickets_config(remote).model_dump(mode="json", exclude_defaults=True)
    config["timeout"] = WAIT  # the process is killed while it waits, never timed out
    path = tmp_path / "keysentry.yaml"
    path.write_text(yaml.safe_dump({"tickets": config}))
    return path


def kill_at(
    engine: Engine, tmp_path: Path, remote: Any, scan_id: int
) -> subprocess.CompletedProcess[str] | None:
    """`keysentry tickets sync --scan SCAN_ID` in a process of its own, killed
    when the fake holds a request; None if it did, else how it ended."""
    url = engine.url.render_as_string(hide_password=False)
    args = ["tickets", "sync", "--config", str(config_file(tmp_path, remote)), "--db", url]
    env = {"PATH": os.environ["PATH"], **CREDENTIALS}
    with subprocess.Popen(
        [str(KEYSENTRY), *args, "--scan", str(scan_id)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as process:
        while not remote.held.wait(0.05):
            if process.poll() is not None:
                out, err = process.communicate()
                return subprocess.CompletedProcess(process.args, process.returncode, out, err)
        process.send_signal(signal.SIGKILL)
        process.wait(WAIT)
    return None


def steps(kind: str, engine: Engine, scans: list[int], which: int) -> Iterator[Faults]:
    """A hold at each request of a clean sync of scan WHICH: before each is
    served, and after each write commits."""
    reset(engine)
    with fake(kind) as clean:
        if which == 1:
            sync_in_process(engine, clean, scans[0])
        first = len(clean.requests)
        sync_in_process(engine, clean, scans[which])
        made = clean.requests[first:]
    assert made, "a sync that makes no request tests nothing"
    for number, (method, _) in enumerate(made, start=1):
        yield Faults(hold_at=number)
        if method != "GET":
            yield Faults(hold_at=number, hold_after_commit=True)


def reset(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(delete(TicketRow))


def check(engine: Engine, remote: Any, scan_id: int, open_keys: set[str]) -> None:
    """One ticket per group, open for OPEN_KEYS and closed for the others;
    the database knows each; a further sync writes nothing."""
    made = tickets_of(remote)
    labels = [name for issue in getattr(remote, "issues", {}).values()
              for name in issue.fields["labels"] if name.startswith("keysentry-")]  # fmt: skip
    assert len(labels) == len(set(labels)), "two tickets for one group"
    if remote.kind == "servicenow":
        ids = [r["correlation_id"] for r in remote.records.values()]
        assert len(ids) == len(set(ids)), "two tickets for one group"
    with engine.connect() as conn:
        known = stored(conn)
    by_key = {t.key_names[0]: t for t in known.values() if t.key_names}
    assert set(by_key) >= open_keys
    for name, ticket in by_key.items():
        remote_ticket = made[f"keysentry-{ticket.group_id}"]
        number = remote_ticket["number"] if remote.kind == "servicenow" else remote_ticket.key
        assert ticket.remote_key == number
        done = (
            remote_ticket["state"] in ("6", "7")
            if remote.kind == "servicenow"
            else remote_ticket.status["statusCategory"]["key"] == "done"
        )
        assert done == (name not in open_keys), name
    writes = len(remote.writes)
    sync_in_process(engine, remote, scan_id)
    assert len(remote.writes) == writes


KEY = "projects/100/locations/global/keys/"


@pytest.mark.parametrize("which", [0, 1], ids=["creating", "updating"])
def test_a_crash_at_each_step_then_a_rerun_leaves_one_ticket_per_group(
    engine: Engine, tmp_path: Path, kind: str, scans: list[int], which: int
) -> None:
    open_keys = {KEY + "k-fixed"} if which == 0 else {KEY + "k-kept", KEY + "k-new"}
    tried = 0
    for faults in list(steps(kind, engine, scans, which)):
        reset(engine)
        with fake(kind) as remote:
            if which == 1:
                sync_in_process(engine, remote, scans[0])
            remote.requests.clear()  # the hold counts the killed sync's requests
            remote.state.faults = faults
            ended = kill_at(engine, tmp_path, remote, scans[which])
            assert ended is None, f"not held at {faults}: {ended}"
            sync_in_process(engine, remote, scans[which])
            check(engine, remote, scans[which], open_keys)
        tried += 1
    assert tried >= (3 if which == 0 else 8)
