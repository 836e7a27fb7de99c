"""Cloud Asset feed messages applied to history (scanner.feed), on SQLite
and PostgreSQL: a feed scan judges only the keys its messages name, as a
full scan would; the full scan after it agrees and finds nothing the feed
already said; stale, duplicate and reordered messages change nothing; the
saved sample in tests/data/real replays through the command."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from scanner.alerts.plan.planner import FEED_STAGES, scan_hook
from scanner.configfile import parse_config
from scanner.feed.apply import FeedError, apply_changes
from scanner.feed.messages import Change, parse
from scanner.report.build import build_report
from scanner.scan.engine import run_scan
from scanner.sources.inventory.export import ExportSource
from scanner.store import db
from scanner.store.chain import verify
from scanner.store.tables import Notification, Scan, Transition
from tests import assets
from tests.conftest import NOW
from tests.test_cli import run_installed

REAL = Path(__file__).parent / "data" / "real"
NAME = "projects/100/locations/global/keys/"
RESTRICTED = {"targets": ["maps-backend.googleapis.com"], "server": ["192.0.2.1"]}
CONFIG = parse_config(
    """
alerts:
  route: {receiver: team}
  receivers:
    - name: team
      webhooks: [{name: hook, url: "https://hooks.example.com/k", format: generic}]
""",
    "test.yaml",
)


def before() -> list[dict[str, Any]]:
    return [
        assets.project("100", "alpha"),
        assets.service("100", assets.GEMINI),
        assets.key("100", uid="k-kept", display_name="kept", **RESTRICTED),
        assets.key("100", uid="k-opened", display_name="opened", **RESTRICTED),
        assets.key("100", uid="k-gone", display_name="gone"),
    ]


def changed_key(uid: str, at: str, **restrictions: Any) -> dict[str, Any]:
    envelope = assets.key("100", uid=uid, display_name=uid.removeprefix("k-"), **restrictions)
    envelope["resource"]["data"]["updateTime"] = at
    return envelope


def after() -> list[dict[str, Any]]:
    """The organization after the changes of messages()."""
    return [
        *before()[:3],
        changed_key("k-opened", "2026-11-21T10:00:00Z"),  # its restrictions removed
        changed_key("k-new", "2026-11-21T10:01:00Z"),  # created unrestricted
    ]


def message(envelope: dict[str, Any], deleted: bool = False, prior: str = "PRESENT") -> bytes:
    """A TemporalAsset as the feed publishes it (camelCase, as in
    cloud.google.com/asset-inventory/docs/monitor-asset-changes)."""
    asset = {
        "ancestors": envelope["ancestors"],
        "assetType": envelope["asset_type"],
        "name": envelope["name"],
        "updateTime": envelope["resource"]["data"]["updateTime"],
    }
    if not deleted:
        asset["resource"] = {"data": envelope["resource"]["data"], "version": "v2"}
    body = {
        "asset": asset,
        "priorAssetState": prior,
        "window": {"startTime": asset["updateTime"]},
        "deleted": deleted,
    }
    return json.dumps(body).encode()


def messages() -> list[bytes]:
    gone = before()[4]
    gone["resource"]["data"]["updateTime"] = "2026-11-21T10:02:00Z"
    return [
        message(after()[3]),
        message(after()[4], prior="DOES_NOT_EXIST"),
        message(gone, deleted=True),
    ]


def changes(raw: list[bytes]) -> list[Change]:
    found = [parse(m, f"message {i}") for i, m in enumerate(raw)]
    return [c for c in found if isinstance(c, Change)]


def full_scan(engine: Engine, tmp_path: Path, envelopes: list[dict[str, Any]], at: datetime) -> int:
    export = assets.write_ndjson(tmp_path / f"org-{at:%d%H%M}.jsonl", envelopes)
    source = ExportSource([export], CONFIG.gemini.project_services)
    hook = scan_hook(CONFIG.alerts)
    return run_scan(source, engine, CONFIG, at, after_history=hook).scan_id


def judged(engine: Engine, scan_id: int) -> dict[str, Any]:
    """What a scan says of each key: status, score and open findings."""
    return {
        k.name: (k.status.value, k.score, sorted((f.rule, f.severity.value) for f in k.findings))
        for k in build_report(engine, scan_id).iter_keys()
    }


def counts(engine: Engine, scan_id: int) -> dict[str, Any]:
    with engine.connect() as conn:
        return dict(conn.scalar(select(Scan.counts).where(Scan.id == scan_id)) or {})


def queued(engine: Engine, scan_id: int) -> int:
    with engine.connect() as conn:
        found = select(func.count()).where(Notification.scan_id == scan_id)
        return int(conn.scalar(found.select_from(Notification)) or 0)


def test_a_feed_scan_judges_its_keys_as_the_next_full_scan_does(
    engine: Engine, tmp_path: Path
) -> None:
    full_scan(engine, tmp_path, before(), NOW)
    plan = scan_hook(CONFIG.alerts, stages=FEED_STAGES)
    at = NOW + timedelta(hours=10, minutes=5)
    outcome = apply_changes(engine, CONFIG, changes(messages()), at, "feed test", plan)
    assert outcome.outcomes == {"applied": 3, "superseded": 0}
    assert outcome.scan_id is not None and queued(engine, outcome.scan_id) > 0
    with engine.connect() as conn:
        reasons = set(
            conn.scalars(
                select(Transition.reason).where(
                    Transition.scan_id == outcome.scan_id,
                    Transition.key_name == NAME + "k-gone",
                    Transition.kind == "resolved",
                )
            )
        )
    assert reasons == {"key_deleted"}  # not "no longer in the inventory": the feed said why
    with engine.connect() as conn:
        payloads = conn.scalars(
            select(Notification.payload).where(Notification.scan_id == outcome.scan_id)
        ).all()
    (gone,) = {json.dumps(k): k for p in payloads for k in p["keys"]
               if k["name"] == NAME + "k-gone"}.values()  # fmt: skip
    assert (gone["status"], gone["due"]) == ("deleted", "nothing left open: the key is gone")
    with engine.connect() as conn:
        kind = conn.scalar(select(Scan.kind).where(Scan.id == outcome.scan_id))
    assert kind == "feed"
    # The report still stands on the last full scan; the feed's keys are in history.
    assert NAME + "k-new" not in judged(engine, 1)
    feed_counts = counts(engine, outcome.scan_id)
    final = full_scan(engine, tmp_path, after(), NOW + timedelta(days=1))
    assert counts(engine, final)["feed"] == {"missed": 0}
    assert queued(engine, final) == 0  # the feed scan said it all already
    checked = verify(engine)
    assert checked.broken_at is None and checked.scans_checked == 3

    # The same days with full scans only, in a database of its own.
    other = db.open_engine(f"sqlite:///{tmp_path / 'full-only.db'}")
    db.ensure_current(other)
    full_scan(other, tmp_path, before(), NOW)
    only_full = full_scan(other, tmp_path, after(), NOW + timedelta(days=1))
    assert judged(engine, final) == judged(other, only_full)
    # The feed scan's totals are those of the whole inventory after it.
    whole = counts(other, only_full)
    assert (feed_counts["by_status"], feed_counts["by_severity"]) == (
        whole["by_status"],
        whole["by_severity"],
    )
    assert counts(other, only_full)["feed"] == {"missed": 3}  # no feed: every change missed
    assert queued(other, only_full) > 0
    other.dispose()


def test_stale_duplicate_and_late_messages_change_nothing(engine: Engine, tmp_path: Path) -> None:
    full_scan(engine, tmp_path, before(), NOW)
    at = NOW + timedelta(hours=11)
    applied = apply_changes(engine, CONFIG, changes(messages()), at, "feed test")
    again = apply_changes(engine, CONFIG, changes(messages()), at + timedelta(minutes=1), "feed")
    assert again.scan_id is None and again.outcomes == {"duplicate": 3, "superseded": 0}
    # A change older than the one history holds, for a key still there and for one deleted.
    late = [
        message(changed_key("k-opened", "2026-11-21T09:00:00Z", **RESTRICTED)),
        message(changed_key("k-gone", "2026-11-21T10:01:30Z")),
    ]
    stale = apply_changes(engine, CONFIG, changes(late), at + timedelta(minutes=2), "feed")
    assert stale.scan_id is None and stale.outcomes == {"stale": 2, "superseded": 0}
    # Out of order within one delivery: the newest of each key counts.
    newer = changed_key("k-kept", "2026-11-21T10:05:00Z")
    older = changed_key("k-kept", "2026-11-21T10:04:00Z", **RESTRICTED)
    mixed = apply_changes(
        engine, CONFIG, changes([message(newer), message(older)]), at + timedelta(minutes=3), "f"
    )
    assert mixed.outcomes == {"applied": 1, "superseded": 1}
    assert applied.scan_id is not None and mixed.scan_id == applied.scan_id + 1
    with engine.connect() as conn:
        from scanner.store.key_records import key_labels

        assert NAME + "k-kept" in key_labels(conn, [NAME + "k-kept"])
    status, _, findings = judged_latest(engine, mixed.scan_id)[NAME + "k-kept"]
    assert status == "blocked" and ("key-api-unrestricted", "high") in findings


def judged_latest(engine: Engine, scan_id: int | None) -> dict[str, Any]:
    """History as it stands after a feed scan: the report at that scan."""
    assert scan_id is not None
    return {
        k.name: (k.status.value, k.score, sorted((f.rule, f.severity.value) for f in k.findings))
        for k in build_report(engine, scan_id).iter_keys()
    }


def test_a_feed_needs_a_full_scan_first(engine: Engine) -> None:
    with pytest.raises(FeedError, match="no full scan yet"):
        apply_changes(engine, CONFIG, changes(messages()), NOW, "feed test")


def test_the_saved_sample_replays_through_the_command(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'h.db'}"
    export = REAL / "asset-list-resource.json"
    scanned = run_installed("scan", "--from-export", str(export), "--db", url, "--now",
                            "2026-11-30T09:00:00Z")  # fmt: skip
    assert scanned.returncode in (0, 1), scanned.stderr
    sample = REAL / "feed-messages.jsonl"
    replayed = run_installed("feed", "replay", str(sample), "--db", url, "--now",
                             "2026-12-01T09:15:00Z")  # fmt: skip
    assert replayed.returncode == 0, replayed.stderr
    assert replayed.stdout.splitlines() == [
        "feed: 7 message(s): 3 applied, 1 iam_not_read, 2 superseded, 1 welcome; scan 2"
    ]
    history = run_installed("history", "key", "quick test key", "--db", url)
    assert "opened gemini-unrestricted-standard-" in history.stdout
    again = run_installed("feed", "replay", str(sample), "--db", url, "--now",
                          "2026-12-01T09:20:00Z")  # fmt: skip
    assert "3 duplicate" in again.stdout and "nothing written" in again.stdout
    verified = run_installed("verify", "--db", url)
    assert verified.returncode == 0 and "chain intact: 2 scan(s) checked" in verified.stdout
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"asset": {"name": "x"}}\n')
    refused = run_installed("feed", "replay", str(bad), "--db", url)
    assert refused.returncode == 2
    assert refused.stderr.strip() == (
        f"keysentry: error: {bad}:1: an asset needs 'name' and 'asset_type' (or 'assetType')"
    )
