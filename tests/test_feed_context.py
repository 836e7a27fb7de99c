"""Feed messages about what the rules read besides keys (a Gemini service,
a project's or the organization's IAM policy, a service account), on SQLite
and PostgreSQL: the feed scan judges the keys they reach as a full scan of
the changed organization judges them, the full scan after finds nothing new
to say, and a change the feed said that the organization then undid is not
kept by the next full scan's judgement reuse. The message shapes are those
of tests/data/real/feed-context-messages.jsonl (cited in its README)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select

from scanner.alerts.plan.planner import FEED_STAGES, scan_hook
from scanner.feed.apply import apply_changes
from scanner.report.build import build_report
from scanner.store import db
from scanner.store.chain import verify
from scanner.store.tables import Notification
from tests import assets
from tests.conftest import NOW
from tests.test_cli import run_installed
from tests.test_feed import CONFIG, changes, counts, full_scan, judged, queued

REAL = Path(__file__).parent / "data" / "real"
KEYS = "projects/{}/locations/global/keys/{}"
ACCOUNT = "runner@beta.iam.gserviceaccount.com"
SERVER = {"server": ["192.0.2.1"]}


def organization(changed: bool) -> list[dict[str, Any]]:
    """Two projects; CHANGED: after a Gemini service was enabled on beta,
    alpha's owner replaced, beta's service account disabled and granted
    roles/owner on the organization, and key administration granted to
    every signed-in user there."""
    owner = "user:carol@example.com" if changed else "user:alice@example.com"
    org_bindings: dict[str, list[str]] = {}
    if changed:  # the account made owner, and key administration granted to everyone
        org_bindings = {
            "roles/owner": [f"serviceAccount:{ACCOUNT}"],
            "roles/serviceusage.apiKeysAdmin": ["allAuthenticatedUsers"],
        }
    return [
        assets.project("100", "alpha"),
        assets.project("200", "beta"),
        assets.service("100", assets.GEMINI),
        assets.service("200", assets.GEMINI, "ENABLED" if changed else "DISABLED"),
        assets.iam_policy("projects/100", {"roles/owner": [owner]}),
        assets.iam_policy("projects/200", {"roles/owner": ["user:bob@example.com"]}),
        assets.iam_policy(assets.ORG, org_bindings),
        assets.service_account("200", "beta", "runner", disabled=changed),
        assets.key("100", uid="k-alpha", display_name="alpha unrestricted"),
        assets.key("200", uid="k-beta", display_name="beta unrestricted"),
        assets.key("200", uid="k-beta-ok", display_name="beta maps", targets=["maps"], **SERVER),
        assets.key("200", uid="k-auth", targets=[assets.GEMINI], service_account=ACCOUNT, **SERVER),
    ]


def message(envelope: dict[str, Any], at: str, deleted: bool = False) -> bytes:
    """A TemporalAsset as the feed publishes it: camelCase; an IAM policy as
    `asset.iamPolicy` (content type IAM_POLICY), any other asset as
    `asset.resource`."""
    asset: dict[str, Any] = {
        "ancestors": envelope["ancestors"],
        "assetType": envelope["asset_type"],
        "name": envelope["name"],
        "updateTime": at,
    }
    if "iam_policy" in envelope:
        asset["iamPolicy"] = {"version": 1, "etag": "BwYF8+3Q2kE=", **envelope["iam_policy"]}
    elif not deleted:
        asset["resource"] = assets.camel_case(envelope)["resource"]
    body = {"asset": asset, "priorAssetState": "PRESENT", "window": {"startTime": at}}
    return json.dumps(body | ({"deleted": True} if deleted else {})).encode()


def context_messages(at: str) -> list[bytes]:
    """The changes between organization(False) and organization(True)."""
    now = organization(True)
    return [message(now[i], at) for i in (3, 4, 6, 7)]


def test_a_feed_scan_judges_the_keys_a_context_change_reaches_as_a_full_scan_does(
    engine: Engine, tmp_path: Path
) -> None:
    full_scan(engine, tmp_path, organization(False), NOW)
    plan = scan_hook(CONFIG.alerts, stages=FEED_STAGES)
    at = NOW + timedelta(hours=2)
    raw = context_messages("2026-11-21T01:00:00Z")
    outcome = apply_changes(engine, CONFIG, changes(raw), at, "feed test", plan)
    assert outcome.outcomes == {"applied": 4, "superseded": 0}
    assert outcome.scan_id is not None and outcome.stats is not None
    # Every key is reached: beta's by its service, alpha's by its owner, all by the
    # organization's policy. None was named by a message.
    assert outcome.stats.keys_total == 4
    by_feed = judged(engine, outcome.scan_id)

    other = db.open_engine(f"sqlite:///{tmp_path / 'full-only.db'}")
    db.ensure_current(other)
    full_scan(other, tmp_path, organization(False), NOW)
    only_full = full_scan(other, tmp_path, organization(True), NOW + timedelta(days=1))
    by_full = judged(other, only_full)
    assert by_feed == by_full
    assert by_feed != judged(engine, 1)  # the changes moved something
    # The projects' own findings too: key administration granted broadly, above both.
    projects_by_full = build_report(other, only_full).project_findings()
    assert build_report(engine, outcome.scan_id).project_findings() == projects_by_full
    broadly = [f["subject"] for f in projects_by_full if f["rule"] == "key-admin-granted-broadly"]
    assert broadly == ["projects/100", "projects/200"]
    assert build_report(engine, 1).project_findings() != projects_by_full
    other.dispose()
    beta = by_feed[KEYS.format("200", "k-beta")]
    assert beta[0] == "blocked"  # Gemini is on in beta now: its unrestricted key is cut off
    auth = {rule for rule, _ in by_feed[KEYS.format("200", "k-auth")][2]}
    assert {"auth-key-missing-service-account", "auth-key-overprivileged-service-account"} <= auth

    with engine.connect() as conn:
        payloads = conn.scalars(
            select(Notification.payload).where(Notification.scan_id == outcome.scan_id)
        ).all()
    told = {k["name"] for p in payloads for k in p["keys"]}
    assert KEYS.format("200", "k-beta") in told and KEYS.format("200", "k-auth") in told

    final = full_scan(engine, tmp_path, organization(True), NOW + timedelta(days=1))
    assert judged(engine, final) == by_full
    assert counts(engine, final)["feed"] == {"missed": 0}
    assert queued(engine, final) == 0  # the feed scan said it all already
    checked = verify(engine)
    assert checked.broken_at is None and checked.scans_checked == 3


def test_context_messages_that_change_nothing_are_told_apart(
    engine: Engine, tmp_path: Path
) -> None:
    full_scan(engine, tmp_path, organization(False), NOW)
    at = NOW + timedelta(hours=2)
    raw = context_messages("2026-11-21T01:00:00Z")
    first = apply_changes(engine, CONFIG, changes(raw), at, "feed")
    assert first.scan_id is not None
    again = apply_changes(engine, CONFIG, changes(raw), at + timedelta(minutes=1), "feed")
    assert again.scan_id is None and again.outcomes == {"stale": 4, "superseded": 0}
    before_scan = context_messages("2026-11-19T23:00:00Z")  # older than the full scan
    late = apply_changes(engine, CONFIG, changes(before_scan), at, "feed")
    assert late.scan_id is None and late.outcomes == {"stale": 4, "superseded": 0}
    other_service = assets.service("100", "maps-backend.googleapis.com", "DISABLED")
    same_owner = assets.iam_policy("projects/200", {"roles/owner": ["user:bob@example.com"]})
    quiet = [message(other_service, "2026-11-21T02:00:00Z"),
             message(same_owner, "2026-11-21T02:00:00Z")]  # fmt: skip
    nothing = apply_changes(engine, CONFIG, changes(quiet), at, "feed")
    assert nothing.scan_id is None
    assert nothing.outcomes == {"ignored": 1, "duplicate": 1, "superseded": 0}
    # A grant no rule reads reaches beta's keys; judged again, none of them moves.
    viewer = assets.iam_policy(
        "projects/200",
        {"roles/owner": ["user:bob@example.com"], "roles/viewer": ["user:dan@example.com"]},
    )
    viewed = apply_changes(
        engine, CONFIG, changes([message(viewer, "2026-11-21T02:30:00Z")]), at, "feed"
    )
    assert viewed.outcomes == {"applied": 1, "superseded": 0}
    assert viewed.stats is not None and viewed.stats.keys_total == 3
    assert viewed.stats.rows_written == 0
    # Disabling Gemini again takes beta back out of the feed scan's Gemini projects.
    off = assets.service("200", assets.GEMINI, "DISABLED")
    undone = apply_changes(
        engine, CONFIG, changes([message(off, "2026-11-21T03:00:00Z")]), at, "feed"
    )
    assert undone.scan_id is not None
    assert judged(engine, undone.scan_id)[KEYS.format("200", "k-beta")][0] != "blocked"


def test_the_next_full_scan_keeps_no_judgement_a_feed_made_with_another_context(
    engine: Engine, tmp_path: Path
) -> None:
    """The feed said the account was granted roles/owner; the grant was
    undone and the feed missed it. The full scan reads the organization as
    it was at the scan before the feed's: its judging digest is that scan's,
    yet the keys the feed judged must be judged again."""
    full_scan(engine, tmp_path, organization(False), NOW)
    grant = assets.iam_policy(assets.ORG, {"roles/owner": [f"serviceAccount:{ACCOUNT}"]})
    raw = [message(grant, "2026-11-21T01:00:00Z")]
    fed = apply_changes(engine, CONFIG, changes(raw), NOW + timedelta(hours=2), "feed")
    assert fed.scan_id is not None
    auth = KEYS.format("200", "k-auth")
    rules = {rule for rule, _ in judged(engine, fed.scan_id)[auth][2]}
    assert "auth-key-overprivileged-service-account" in rules
    final = full_scan(engine, tmp_path, organization(False), NOW + timedelta(days=1))
    assert judged(engine, final) == judged(engine, 1)
    assert counts(engine, final)["judging"]["kept"] == 0
    # With no feed scan between, the scan after keeps every judgement again.
    after = full_scan(engine, tmp_path, organization(False), NOW + timedelta(days=2))
    assert counts(engine, after)["judging"]["kept"] == 4


def test_the_saved_context_sample_replays_through_the_command(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'h.db'}"
    export = assets.write_ndjson(tmp_path / "org.jsonl", organization(False))
    scanned = run_installed("scan", "--from-export", str(export), "--db", url, "--now",
                            "2026-11-30T09:00:00Z")  # fmt: skip
    assert scanned.returncode in (0, 1), scanned.stderr
    sample = REAL / "feed-context-messages.jsonl"
    replayed = run_installed("feed", "replay", str(sample), "--db", url, "--now",
                             "2026-12-01T09:15:00Z")  # fmt: skip
    assert replayed.returncode == 0, replayed.stderr
    assert replayed.stdout.splitlines() == [
        "feed: 6 message(s): 4 applied, 1 ignored, 1 superseded; scan 2"
    ]
    history = run_installed("history", "key", "beta unrestricted", "--db", url)
    assert "blocked" in history.stdout
