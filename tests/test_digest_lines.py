"""Digest lines are kept from scan to scan and redone only for the keys whose
versions moved. Over a random walk of scans on both databases (keys coming,
going and changing, owners, Gemini, usage from the fake Monitoring server,
an exception, the clock crossing deadlines), after every scan: the lines and
figures kept equal those rebuilt from history; each digest read from them
equals the one gathered from every key (the preview's way), with and without
findings new in the period; and the reminders found from the deadlines
crossed equal those of every finding."""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, delete, select

from scanner.alerts.content.digest_content import DigestContent
from scanner.alerts.content.why import why_for
from scanner.alerts.facts import Target
from scanner.alerts.plan import lines
from scanner.alerts.plan.digests import collect, digests, max_keys
from scanner.alerts.plan.events import reminder_for
from scanner.alerts.plan.planner import scan_hook
from scanner.alerts.plan.reminders import reminder_events
from scanner.alerts.plan.routing import ConfiguredOwners, Router
from scanner.alerts.plan.stored_digest import StoredDigest, fresh_keys, read_digests
from scanner.alerts.store.moves import new_fingerprints
from scanner.alerts.store.open_keys import open_keys
from scanner.config import Config
from scanner.config.alerts import AlertsConfig
from scanner.configfile import parse_config
from scanner.scan.engine import run_scan
from scanner.sources.inventory.export import ExportSource
from scanner.sources.usage.monitoring import UsageCollector
from scanner.store.queries import valid_at
from scanner.store.tables import (
    DigestLine,
    DigestLineState,
    DigestTarget,
    FindingVersion,
    Notification,
    Scan,
    UnownedKey,
)
from tests import assets
from tests.conftest import NOW
from tests.fakes.monitoring import FakeMonitoring, FakeMonitoringServer, Traffic

ALERTS = """
alerts:
  route:
    receiver: security
    routes:
      - {match: {status: [blocked, non_compliant, at_risk]}, receiver: owners, continue: true}
      - {match: {severity: [critical]}, receiver: feed, continue: true}
      - {receiver: security}
  receivers:
    - {name: owners, email: {to_owners: true}, digest: {every: 1d, max_keys: 3}}
    - name: feed
      webhooks: [{name: siem, url: "http://127.0.0.1:9/hook"}]
    - {name: security, email: {to: [sec@example.com]}, digest: {every: 1d, max_keys: 4}}
  owners: {"alpha": [alice@example.com]}
  fallback_receiver: security
"""
PROJECTS = {"100": "alpha", "200": "beta", "300": "gamma"}
# Names whose byte order is not their order in most collations.
UIDS = ["alpha", "Beta", "beta", "_x", "Zeta", "a.b", "a_b", "aB", "A1", "k10", "k9", "m"]
TARGETS: list[list[str] | None] = [None, [assets.GEMINI], ["maps-backend.googleapis.com"]]


def config_for(accepting: bool) -> Config:
    text = ALERTS + "usage: {enabled: true, requests_per_second: 1000}\n"
    if accepting:  # beta's unrestricted keys are accepted while this is on
        entry = {
            "id": "beta-open",
            "rules": ["key-application-unrestricted"],
            "projects": ["beta"],
            "reason": "internal tools",
            "approved_by": "lead@example.com",
            "expires": str((NOW + timedelta(days=150)).date()),
        }
        text += "exceptions: " + json.dumps([entry]) + "\n"
    return parse_config(text, "test.yaml", today=NOW.date())


class Organization:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.keys: dict[str, dict[str, Any]] = {}
        self.gemini = {"100"}
        self.owners: dict[str, list[str]] = {"200": ["user:bob@example.com"]}
        self.used: set[str] = set()
        for _ in range(8):
            self.add_key()

    def add_key(self) -> None:
        free = [uid for uid in UIDS if uid not in self.keys]
        if free:
            uid = self.rng.choice(free)
            age = self.rng.choice([5, 60, 85, 89, 120, 400])
            self.keys[uid] = {
                "number": self.rng.choice(list(PROJECTS)),
                "created": (NOW - timedelta(days=age)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "targets": self.rng.choice(TARGETS),
                "display_name": f"key {uid}",
            }

    def step(self) -> None:
        for _ in range(self.rng.randint(0, 3)):
            moves = ["add", "drop", "restrict", "rename", "gemini", "owner", "use"]
            move = self.rng.choice(moves)
            uid = self.rng.choice(sorted(self.keys)) if self.keys else None
            if move == "add" or uid is None:
                self.add_key()
            elif move == "drop":
                del self.keys[uid]
            elif move == "restrict":
                self.keys[uid]["targets"] = self.rng.choice(TARGETS)
            elif move == "rename":
                self.keys[uid]["display_name"] = f"key {uid} {self.rng.randint(0, 9)}"
            elif move == "use":
                self.used ^= {uid}
            elif move == "gemini":
                self.gemini ^= {self.rng.choice(list(PROJECTS))}
            else:
                number = self.rng.choice(list(PROJECTS))
                self.owners[number] = [] if self.owners.get(number) else ["user:carol@example.com"]

    def traffic(self) -> dict[str, list[Traffic]]:
        found: dict[str, list[Traffic]] = {}
        for uid in sorted(self.used & set(self.keys)):
            project = PROJECTS[self.keys[uid]["number"]]
            found.setdefault(project, []).append(
                Traffic(f"apikey:{uid}", assets.GEMINI, "2xx", {1: 5 + len(uid)})
            )
        return found

    def envelopes(self) -> list[dict[str, Any]]:
        found = [assets.project(n, p) for n, p in PROJECTS.items()]
        found += [assets.service(n, assets.GEMINI) for n in sorted(self.gemini)]
        found += [
            assets.iam_policy(f"projects/{n}", {"roles/owner": members})
            for n, members in self.owners.items()
            if members
        ]
        for uid, key in sorted(self.keys.items()):
            found.append(
                assets.key(
                    key["number"],
                    uid=uid,
                    display_name=key["display_name"],
                    created=key["created"],
                    targets=key["targets"],
                )
            )
        return found


def snapshot(conn: Connection) -> tuple[Any, ...]:
    """The lines (with their target, not its id), each target's figures, the unowned keys."""
    t, line = DigestTarget, DigestLine
    targets = {
        id_: (r, c, a)
        for id_, r, c, a in conn.execute(select(t.id, t.receiver, t.channel, t.address))
    }
    rows = sorted(
        (
            targets[row.target_id],
            row.key_name,
            row.listed,
            row.accepted,
            row.urgency,
            row.status,
            row.project,
            row.named,
            row.owned,
            row.created,
        )
        for row in conn.execute(select(line))
    )
    figures = {
        (r, c, a): f
        for r, c, a, f in conn.execute(select(t.receiver, t.channel, t.address, t.figures))
    }
    unowned = set(conn.scalars(select(UnownedKey.key_name)))
    return rows, figures, unowned


def shown(content: DigestContent | StoredDigest) -> dict[str, Any]:
    return {
        "total": content.total,
        "fresh": content.fresh,
        "omitted": content.omitted,
        "by_status": dict(content.by_status),
        "why": why_for(content.audience),
        "top": [(k.name, sorted(f.fingerprint for f in fs), new) for k, fs, new in content.top()],
    }


def gathered(
    conn: Connection,
    config: AlertsConfig,
    router: Router,
    scan_id: int,
    changed: frozenset[str],
    receivers: set[str],
) -> dict[Target, dict[str, Any]]:
    """Each target's digest gathered from every open key, as previews do."""
    contents: dict[Target, DigestContent] = {}

    def make(target: Target) -> DigestContent | None:
        if target.receiver not in receivers:
            return None
        return DigestContent(config, target, max_keys(config, target.receiver), changed)

    for key, findings, _ in open_keys(conn, scan_id):
        if findings:
            collect(contents, make, key, router.key_targets(key, findings))
    return {target: shown(content) for target, content in contents.items()}


def check(conn: Connection, config: Config, scan_id: int, at: datetime, rng: random.Random) -> None:
    alerts = config.alerts
    with_digest = {r.name for r in alerts.receivers if r.digest is not None}
    kept = snapshot(conn)
    conn.execute(delete(DigestLineState))  # what a rebuild from history gives
    router = Router(alerts, ConfiguredOwners(alerts.owners))
    targets = lines.refresh(conn, alerts, router, scan_id, with_digest).targets
    assert snapshot(conn) == kept
    fv = FindingVersion
    open_ = sorted(conn.scalars(select(fv.fingerprint).where(valid_at(fv, scan_id))))
    for changed in (frozenset(), frozenset(rng.sample(open_, len(open_) // 3))):
        fresh = fresh_keys(conn, router, scan_id, changed)
        stored = read_digests(
            conn, alerts, router, scan_id, targets, with_digest, {r: fresh for r in with_digest}
        )
        assert {d.target: shown(d) for d in stored} == gathered(
            conn, alerts, router, scan_id, changed, with_digest
        )
    previous = conn.scalar(
        select(Scan.evaluated_at)
        .where(Scan.id < scan_id, Scan.status == "succeeded")
        .order_by(Scan.id.desc())
        .limit(1)
    )
    if previous is None:
        return
    reminders = alerts.reminders
    new = new_fingerprints(conn, scan_id)
    found = reminder_events(conn, scan_id, at, previous, new, reminders)
    every, cap = (
        timedelta(seconds=reminders.overdue_every),
        timedelta(seconds=reminders.max_overdue),
    )
    expected = [
        event.identity
        for key, findings, _ in open_keys(conn, scan_id)
        for f in findings
        if (
            event := reminder_for(
                key, f, at, previous, f.fingerprint in new, reminders.offsets_days, every, cap
            )
        )
    ]
    assert sorted(e.identity for e in found) == sorted(expected)


def test_kept_lines_and_the_digests_and_reminders_from_them_match_every_key(
    engine: Engine, tmp_path: Path
) -> None:
    rng = random.Random(7)
    org = Organization(11)
    at = NOW
    reminders_seen = 0
    for step in range(24):
        config = config_for(accepting=step % 8 >= 4)
        export = assets.write_ndjson(tmp_path / f"org-{step}.jsonl", org.envelopes())
        source = ExportSource([export], config.gemini.project_services)
        with FakeMonitoringServer(FakeMonitoring(org.traffic())) as server:
            usage = UsageCollector(server.client(), config.usage, config.gemini.api_services)
            hook = scan_hook(config.alerts)
            outcome = run_scan(source, engine, config, at, after_history=hook, usage=usage)
        reminders_seen += sum(outcome.stats.alerts["queued"].values())
        with engine.connect() as conn:
            check(conn, config, outcome.scan_id, at, rng)
            conn.rollback()
        org.step()
        at += rng.choice(
            [timedelta(hours=6), timedelta(days=1), timedelta(days=3), timedelta(days=12)]
        )
    assert reminders_seen > 24  # the walk did send news, not only baselines


def test_a_scan_redoes_the_lines_of_the_keys_that_moved_and_no_other(
    engine: Engine, tmp_path: Path
) -> None:
    org = Organization(3)
    config = config_for(accepting=False)

    def scan(at: datetime) -> tuple[int, bool]:
        export = assets.write_ndjson(tmp_path / f"org-{at:%d%H}.jsonl", org.envelopes())
        source = ExportSource([export], config.gemini.project_services)
        outcome = run_scan(source, engine, config, at, after_history=scan_hook(config.alerts))
        counts = outcome.stats.alerts
        return counts["lines_redone"], counts["lines_rebuilt"]

    assert scan(NOW) == (len(org.keys), True)  # every key has findings
    assert scan(NOW + timedelta(hours=1)) == (0, False)  # nothing moved: nothing redone
    org.keys[sorted(org.keys)[0]]["display_name"] = "renamed"
    org.keys[sorted(org.keys)[1]]["targets"] = [assets.GEMINI]
    assert scan(NOW + timedelta(hours=2)) == (2, False)
    # Another alert configuration: every line is redone.
    config = parse_config(ALERTS.replace("max_keys: 3", "max_keys: 5"), "test.yaml")
    assert scan(NOW + timedelta(hours=3)) == (len(org.keys), True)
    assert scan(NOW + timedelta(hours=4)) == (0, False)


def test_overviews_and_digests_show_each_key_as_a_preview_does(
    engine: Engine, tmp_path: Path
) -> None:
    """Lines are made from routing facts alone; what a message shows of a key
    is read in full, as `alerts preview` (which reads every key) shows it."""
    org = Organization(5)
    config = config_for(accepting=True)
    alerts = config.alerts
    for day, kinds in ((0, {"overview", "digest"}), (1, {"digest"})):
        at = NOW + timedelta(days=day, hours=1)
        export = assets.write_ndjson(tmp_path / f"org-{day}.jsonl", org.envelopes())
        source = ExportSource([export], config.gemini.project_services)
        outcome = run_scan(source, engine, config, at, after_history=scan_hook(alerts))
        with engine.connect() as conn:
            sent = conn.execute(
                select(Notification).where(Notification.scan_id == outcome.scan_id)
            ).all()
            router = Router(alerts, ConfiguredOwners(alerts.owners))
            names = {r.name for r in alerts.receivers}
            previews = digests(conn, alerts, router, outcome.scan_id, at, names)
        previewed = {
            (t.receiver, t.channel, t.address, k["uid"]): k | {"new": False}
            for t, _, document in previews
            for k in document["keys"]
        }
        shown = [
            ((n.receiver, n.channel, n.target, k["uid"]), k | {"new": False})
            for n in sent
            if n.kind in kinds
            for k in n.payload["keys"]
        ]
        assert {n.kind for n in sent} >= kinds and len(shown) >= 8
        for where, document in shown:
            assert document == previewed[where], where
