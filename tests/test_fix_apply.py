"""`keysentry fix apply` and `fix rollback` through the real command and the
real google-cloud-api-keys client over gRPC, against the fake API Keys server
on loopback: GetKey, UpdateKey as a long-running operation, etags, faults."""

from __future__ import annotations

import json
import resource
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, select

from scanner.cli import main
from scanner.fixes.apikeys import KeyUpdater
from scanner.store.tables import KeyFixRow, Transition
from tests import assets
from tests.conftest import NOW
from tests.fakes.api_keys import FakeApiKeys, FakeApiKeysServer, Fault
from tests.test_fix_plan import GEMINI, TRANSLATE, org, scanned

GEMINI_KEY = "projects/100/locations/global/keys/k-gemini"
BETA_KEY = "projects/200/locations/global/keys/k-beta"
SERVER_ONLY = {"server_key_restrictions": {"allowed_ips": ["192.0.2.7"]}}


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def server() -> Iterator[FakeApiKeysServer]:
    """The keys the plan restricts, as the API holds them when the plan is made."""
    fake = FakeApiKeys(polls=2)
    fake.add_key(GEMINI_KEY, 'W/"k-gemini-1"', SERVER_ONLY)
    fake.add_key(BETA_KEY, 'W/"k-beta-1"')
    with FakeApiKeysServer(fake) as running:
        yield running


@pytest.fixture
def api(server: FakeApiKeysServer) -> FakeApiKeys:
    return server.fake


@pytest.fixture
def planned(
    tmp_path: Path, db_url: str, server: FakeApiKeysServer, monkeypatch: pytest.MonkeyPatch
) -> tuple[list[str], Path]:
    """A scanned history, its plan file, and `fix` reaching the fake API."""
    common = scanned(tmp_path, db_url)
    plan = tmp_path / "plan.json"
    code, _, err = run("fix", "plan", *common, "--output", str(plan))
    assert code == 0, err
    updater = KeyUpdater(server.client(), timeout_seconds=10, retry_deadline_seconds=20)
    monkeypatch.setattr("scanner.cli.fix_apply._updater", lambda: updater)
    return common, plan


# The plan's usage covers part of the lookback: its entries are `low`, which
# `fix apply` leaves out unless told.
EVERY = ("--min-confidence", "low")


def fixes(db_url: str) -> list[Any]:
    engine = create_engine(db_url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.connect() as conn:
        rows = list(conn.execute(select(KeyFixRow).order_by(KeyFixRow.id)))
    engine.dispose()
    return rows


def targets(fake: FakeApiKeys, name: str) -> list[str]:
    return [t.service for t in fake.resources[name].restrictions.api_targets]


def test_without_yes_nothing_changes(
    planned: tuple[list[str], Path], api: FakeApiKeys, db_url: str
) -> None:
    common, plan = planned
    code, out, err = run("fix", "apply", *common, *EVERY, str(plan))
    assert code == 0, err
    assert "k-gemini" in out and "k-beta" in out and "Dry run" in out
    assert "2 key(s) would be" in out and "k-idle" not in out  # only `restrict` entries
    assert api.calls["GetKey"] == api.calls["UpdateKey"] == 0
    assert fixes(db_url) == [] and not plan.with_name("plan.rollback.json").exists()


def test_apply_restricts_keeps_a_rollback_and_history(
    planned: tuple[list[str], Path], api: FakeApiKeys, db_url: str
) -> None:
    common, plan = planned
    code, out, err = run(
        "fix",
        "apply",
        *common,
        *EVERY,
        str(plan),
        "--yes",
        "--rate",
        "50",
        "--by",
        "ops@example.com",
    )
    assert code == 0, err
    assert out.startswith("applied 2, skipped 0")
    assert targets(api, GEMINI_KEY) == [GEMINI] and targets(api, BETA_KEY) == [TRANSLATE]
    # The application restriction the key had stays; only the API targets were set.
    assert list(api.resources[GEMINI_KEY].restrictions.server_key_restrictions.allowed_ips) == [
        "192.0.2.7"
    ]
    assert [list(u.update_mask.paths) for u in api.updates] == [["restrictions"]] * 2
    assert [u.key.etag for u in api.updates] == ['W/"k-gemini-1"', 'W/"k-beta-1"']
    assert api.calls["GetOperation"] >= 2  # waited on each long-running operation
    rollback = json.loads(plan.with_name("plan.rollback.json").read_text())
    assert rollback["schema"] == "keysentry.fix.rollback/v1" and rollback["by"] == "ops@example.com"
    by_key = {k["key"]: k for k in rollback["keys"]}
    assert by_key[GEMINI_KEY]["before"] == {"serverKeyRestrictions": {"allowedIps": ["192.0.2.7"]}}
    assert by_key[GEMINI_KEY]["etag"] == 'W/"k-gemini-2"'
    recorded = fixes(db_url)
    assert [(r.key_name, r.kind, r.by, r.plan_scan_id) for r in recorded] == [
        (GEMINI_KEY, "applied", "ops@example.com", 1),
        (BETA_KEY, "applied", "ops@example.com", 1),
    ]
    assert recorded[1].before == {} and recorded[1].after == {
        "apiTargets": [{"service": TRANSLATE}]
    }
    # A second apply would lose the rollback file: it is refused.
    code, _, err = run("fix", "apply", *common, *EVERY, str(plan), "--yes")
    assert code == 2 and "exists" in err


def test_a_key_changed_since_the_plan_is_skipped(
    planned: tuple[list[str], Path], api: FakeApiKeys, db_url: str
) -> None:
    common, plan = planned
    api.resources[GEMINI_KEY].etag = 'W/"k-gemini-7"'  # changed after the scan
    api.changed_after_get.add(BETA_KEY)  # changed between our read and our update
    code, out, err = run("fix", "apply", *common, *EVERY, str(plan), "--yes", "--rate", "50")
    assert code == 0, err
    assert out.startswith("applied 0, skipped 2")
    assert f"skipped {GEMINI_KEY}: the key changed since the plan" in out
    assert f"skipped {BETA_KEY}: UpdateKey {BETA_KEY}: the key changed meanwhile" in out
    assert targets(api, GEMINI_KEY) == [] and targets(api, BETA_KEY) == []
    assert fixes(db_url) == []


def test_a_refusal_stops_the_run_and_the_rollback_covers_what_was_done(
    planned: tuple[list[str], Path], api: FakeApiKeys, db_url: str
) -> None:
    common, plan = planned
    api.faults.append(Fault(grpc.StatusCode.UNAVAILABLE, times=1, method="GetKey", key=GEMINI_KEY))
    api.faults.append(
        Fault(grpc.StatusCode.PERMISSION_DENIED, times=-1, method="UpdateKey", key=BETA_KEY)
    )
    code, out, err = run("fix", "apply", *common, *EVERY, str(plan), "--yes", "--rate", "50")
    assert code == 2
    assert out.startswith("applied 1, skipped 0")  # the first, after one retry
    (line,) = err.strip().splitlines()
    assert "stopped: UpdateKey" in line and "apikeys.keys.update" in line
    rollback = json.loads(plan.with_name("plan.rollback.json").read_text())
    assert [k["key"] for k in rollback["keys"]] == [GEMINI_KEY]
    assert [r.key_name for r in fixes(db_url)] == [GEMINI_KEY]


def test_rollback_restores_what_the_keys_had(
    planned: tuple[list[str], Path], api: FakeApiKeys, db_url: str
) -> None:
    common, plan = planned
    assert run("fix", "apply", *common, *EVERY, str(plan), "--yes", "--rate", "50")[0] == 0
    undo = plan.with_name("plan.rollback.json")
    code, out, _ = run("fix", "rollback", *common, str(undo))
    assert code == 0 and "Dry run" in out and targets(api, BETA_KEY) == [TRANSLATE]
    code, out, err = run("fix", "rollback", *common, str(undo), "--yes", "--rate", "50")
    assert code == 0, err
    assert out.startswith("rolled back 2, skipped 0")
    assert targets(api, GEMINI_KEY) == [] and targets(api, BETA_KEY) == []
    assert list(api.resources[GEMINI_KEY].restrictions.server_key_restrictions.allowed_ips) == [
        "192.0.2.7"
    ]
    assert [r.kind for r in fixes(db_url)] == ["applied", "applied", "rolled_back", "rolled_back"]


def test_the_next_scan_resolves_the_fixed_findings_as_fixed(
    planned: tuple[list[str], Path], api: FakeApiKeys, db_url: str, tmp_path: Path
) -> None:
    common, plan = planned
    assert run("fix", "apply", *common, *EVERY, str(plan), "--yes", "--rate", "50")[0] == 0
    # The inventory as it now stands: the two keys restricted as applied.
    after = []
    for envelope in org():
        data = envelope.get("resource", {}).get("data", {})
        if data.get("uid") in ("k-gemini", "k-beta"):
            service = GEMINI if data["uid"] == "k-gemini" else TRANSLATE
            data["restrictions"] = {"apiTargets": [{"service": service}]}
        after.append(envelope)
    export = assets.write_ndjson(tmp_path / "after.jsonl", after)
    code, _, err = run(
        "scan",
        *common,
        "--from-export",
        str(export),
        "--usage-from",
        str(tmp_path / "usage.json"),
        "--now",
        NOW.isoformat(),
        "--output",
        str(tmp_path / "r.json"),
    )
    assert code == 0, err
    engine = create_engine(db_url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.connect() as conn:
        resolved = conn.execute(
            select(Transition.key_name, Transition.rule_id, Transition.reason).where(
                Transition.kind == "resolved", Transition.scan_id == 2
            )
        ).all()
    engine.dispose()
    assert (
        "projects/100/locations/global/keys/k-gemini",
        "key-api-unrestricted",
        "fixed",
    ) in resolved
    assert {r.reason for r in resolved if r.key_name in (GEMINI_KEY, BETA_KEY)} == {"fixed"}


def test_history_and_the_evidence_pack_list_the_changes(
    planned: tuple[list[str], Path], api: FakeApiKeys, tmp_path: Path
) -> None:
    from datetime import UTC, datetime, timedelta

    common, plan = planned
    assert (
        run("fix", "apply", *common, *EVERY, str(plan), "--yes", "--rate", "50", "--by", "ops")[0]
        == 0
    )
    code, out, err = run("history", "key", *common, "k-beta", "--format", "json")
    assert code == 0, err
    (change,) = json.loads(out)["fixes"]
    assert (change["kind"], change["by"], change["after"]) == (
        "applied",
        "ops",
        {"apiTargets": [{"service": TRANSLATE}]},
    )
    code, out, err = run("history", "key", *common, "k-beta", "--format", "csv")
    assert "fix applied" in out and f"API targets none -> {TRANSLATE}" in out
    pack = tmp_path / "pack"
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
    code, _, err = run(
        "evidence", *common, "--since", "2026-11-01", "--until", tomorrow, "--output", str(pack)
    )
    assert code == 0, err
    listed = json.loads((pack / "fixes.json").read_text())
    assert [(f["key"], f["kind"], f["targets_after"]) for f in listed] == [
        (GEMINI_KEY, "applied", GEMINI),
        (BETA_KEY, "applied", TRANSLATE),
    ]
    assert "Restrictions changed by keysentry" in (pack / "index.html").read_text()
    assert "fixes.csv" in {
        f["path"] for f in json.loads((pack / "MANIFEST.json").read_text())["files"]
    }


def test_a_malformed_plan_is_one_error_naming_the_entry(tmp_path: Path) -> None:
    plan = tmp_path / "plan.json"
    entry = {
        "action": "restrict",
        "key": "keys/../x",
        "etag": "e",
        "proposed_api_targets": [GEMINI],
    }
    plan.write_text(json.dumps({"schema": "keysentry.fix.plan/v1", "keys": [entry]}))
    code, _, err = run("fix", "apply", str(plan))
    assert code == 2
    assert err.strip() == (
        f"keysentry: error: {plan}: keys[0].key: "
        "expected projects/<number>/locations/global/keys/<id>"
    )
    plan.write_text(json.dumps({"schema": "keysentry.fix.rollback/v1", "keys": []}))
    code, _, err = run("fix", "apply", str(plan))
    assert code == 2 and "not a keysentry.fix.plan/v1 document" in err
    plan.write_text("{")
    code, _, err = run("fix", "rollback", str(plan))
    assert code == 2 and str(plan) in err and "Traceback" not in err


def test_who_applies_falls_back_to_the_user_id(monkeypatch: pytest.MonkeyPatch) -> None:
    import getpass
    import os

    from scanner.cli.fix_apply import _who

    assert _who("ops@example.com") == "ops@example.com"

    def nameless() -> str:
        raise KeyError("getpwuid(): uid not found")  # a container user without a name

    monkeypatch.setattr(getpass, "getuser", nameless)
    assert _who(None) == f"uid {os.getuid()}"


def _child(address: str, *args: str, limit_bytes: int | None = None) -> subprocess.Popen[str]:
    """`keysentry ARGS` in a child process reaching the fake API at ADDRESS;
    LIMIT_BYTES caps the size of any file it writes, as a full disk would."""

    def cap() -> None:
        if limit_bytes is not None:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write then fails with EFBIG
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))

    return subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.fix_child", address, *args],
        cwd=Path(__file__).parent.parent,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=cap,  # noqa: PLW1509 - no threads in the child yet
    )


def test_a_fix_killed_during_the_update_is_in_the_rollback_file(
    planned: tuple[list[str], Path], server: FakeApiKeysServer, api: FakeApiKeys, db_url: str
) -> None:
    common, plan = planned
    api.polls = 10**6  # UpdateKey's operation never completes: the run waits on it
    child = _child(
        server.address, "fix", "apply", *common, *EVERY, str(plan), "--yes", "--rate", "50"
    )
    try:
        assert api.polled.wait(60), "the fix never waited on UpdateKey's operation"
        child.kill()  # SIGKILL: no handler, no cleanup
    finally:
        child.wait(30)
    assert targets(api, GEMINI_KEY) == [GEMINI]  # the key changed on the API's side
    assert fixes(db_url) == []  # history never heard of it
    rollback = json.loads(plan.with_name("plan.rollback.json").read_text())
    (entry,) = rollback["keys"]
    assert (entry["key"], entry["state"], entry["etag"]) == (
        GEMINI_KEY,
        "intended",
        'W/"k-gemini-1"',
    )
    assert entry["before"] == {"serverKeyRestrictions": {"allowedIps": ["192.0.2.7"]}}
    api.polls = 1
    undo = plan.with_name("plan.rollback.json")
    code, out, err = run("fix", "rollback", *common, str(undo), "--yes", "--rate", "50")
    assert code == 0, err
    assert out.startswith("rolled back 1, skipped 0")
    assert targets(api, GEMINI_KEY) == []
    assert list(api.resources[GEMINI_KEY].restrictions.server_key_restrictions.allowed_ips) == [
        "192.0.2.7"
    ]
    assert [(r.key_name, r.kind) for r in fixes(db_url)] == [(GEMINI_KEY, "rolled_back")]
    # Undone once, the entry is what the key holds: a second rollback leaves it be.
    code, out, _ = run("fix", "rollback", *common, str(undo), "--yes", "--rate", "50")
    assert code == 0 and out.startswith("rolled back 0, skipped 1")
    assert "the fix was never made" in out


def test_a_fix_that_cannot_keep_its_rollback_file_changes_nothing(
    tmp_path: Path,
    server: FakeApiKeysServer,
    api: FakeApiKeys,
    postgres_url: str,
) -> None:
    """On a full disk (here: files capped at 16 bytes, on PostgreSQL so that
    the database writes nothing locally) the rollback file cannot be written:
    the run stops before its first change, with one error and no file."""
    common = scanned(tmp_path, postgres_url)
    plan = tmp_path / "plan.json"
    assert run("fix", "plan", *common, "--output", str(plan))[0] == 0
    undo = tmp_path / "undo.json"
    args = ("fix", "apply", *common, *EVERY, str(plan), "--yes", "--rollback", str(undo))
    child = _child(server.address, *args, limit_bytes=16)
    _, err = child.communicate(timeout=120)
    assert child.returncode == 2, err
    (line,) = err.strip().splitlines()
    assert f"--rollback {undo}: cannot write: File too large" in line
    assert api.calls["UpdateKey"] == 0 and api.calls["GetKey"] == 0
    assert not undo.exists() and list(tmp_path.glob(".undo.json.*")) == []
    assert fixes(postgres_url) == []


def test_a_plan_entry_for_a_key_outside_its_scan_is_refused(
    planned: tuple[list[str], Path], api: FakeApiKeys, db_url: str
) -> None:
    common, plan = planned
    document = json.loads(plan.read_text())
    stranger = "projects/999/locations/global/keys/k-elsewhere"
    entry = {"action": "restrict", "key": stranger, "etag": "e", "proposed_api_targets": [GEMINI]}
    document["keys"].append(entry)
    plan.write_text(json.dumps(document))
    code, _, err = run("fix", "apply", *common, *EVERY, str(plan), "--yes")
    assert code == 2
    assert err.strip() == (
        f"keysentry: error: {plan}: {stranger}: not a live key of scan 1, the plan's scan; "
        "a plan changes only keys it was made from"
    )
    assert api.calls["GetKey"] == api.calls["UpdateKey"] == 0
    assert not plan.with_name("plan.rollback.json").exists()
    # A plan limited to a project holds only that project's keys.
    document["keys"].pop()
    document["scope"] = {"projects": ["alpha"], "keys": []}
    plan.write_text(json.dumps(document))
    code, _, err = run("fix", "apply", *common, *EVERY, str(plan), "--yes")
    assert code == 2 and f"{BETA_KEY}: in project beta, outside the plan's projects (alpha)" in err
    assert api.calls["UpdateKey"] == 0


def test_entries_less_sure_than_asked_are_left_out_unless_named(
    planned: tuple[list[str], Path], api: FakeApiKeys, db_url: str
) -> None:
    common, plan = planned
    entries = [e for e in json.loads(plan.read_text())["keys"] if e["action"] == "restrict"]
    sure = [e["uid"] for e in entries if e["confidence"] == "high"]
    unsure = [e for e in entries if e["confidence"] == "low"]
    assert sure and unsure  # the plan's usage covers one project's lookback, not the other's
    code, out, err = run("fix", "apply", *common, str(plan))
    assert code == 0, err
    assert "Left out, less sure than --min-confidence high" in out
    assert f"{len(sure)} key(s) would be restricted" in out
    # Named, a less sure entry is applied after all; the dry run shows the
    # plan's own table: what the key has, what it would get, and why.
    named = unsure[0]
    code, out, err = run("fix", "apply", *common, str(plan), "--key", named["uid"])
    assert code == 0, err
    assert f"{len(sure) + 1} key(s) would be restricted" in out and f"({named['uid']})" in out
    assert " → " in out and "usage covers" in out
    assert api.calls["UpdateKey"] == 0 and fixes(db_url) == []
