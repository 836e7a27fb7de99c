"""A key's version carries a digest of its findings, so that a scan reads back
only the findings of keys whose digest moved. These tests hold the history
such scans write equal to what reading every finding would give."""

from __future__ import annotations

import random
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event, func, select, update

from scanner.config import Config
from scanner.report.build import build_report
from scanner.report.documents import to_document
from scanner.scan.engine import run_scan
from scanner.scan.outcome import ScanOutcome
from scanner.sources.inventory.export import ExportSource
from scanner.store import db
from scanner.store.tables import KeyVersion, Transition
from tests import assets
from tests.conftest import NOW

PROJECTS = ("100", "200", "300")


def scan(engine: Engine, tmp_path: Path, org: list[dict[str, Any]], day: int) -> ScanOutcome:
    path = assets.write_ndjson(tmp_path / f"org-{day}.jsonl", org)
    source = ExportSource([path], Config().gemini.project_services)
    return run_scan(source, engine, Config(), NOW + timedelta(days=day))


def random_org(rng: random.Random) -> list[dict[str, Any]]:
    """Projects with Gemini on or off and key administration granted to a whole
    domain or not (a finding on the project), and keys of every kind that come,
    change and go."""
    org: list[dict[str, Any]] = []
    for number in PROJECTS:
        org.append(assets.project(number, f"p{number}"))
        org.append(assets.service(number, assets.GEMINI, rng.choice(["ENABLED", "DISABLED"])))
        admins = ["domain:example.com"] if rng.random() < 0.5 else ["user:a@example.com"]
        org.append(assets.iam_policy(f"projects/{number}", {"roles/owner": admins}))
    for i in range(24):
        if rng.random() < 0.2:
            continue  # not in this scan's inventory
        kind = rng.choice(["unrestricted", "gemini", "shared", "auth", "deleted"])
        created = rng.choice(["2026-11-01T00:00:00Z", "2025-01-01T00:00:00Z"])
        number = PROJECTS[i % len(PROJECTS)]
        args: dict[str, Any] = {"uid": f"k{i}", "created": created}
        if kind in ("gemini", "auth"):
            args |= {"targets": [assets.GEMINI], "server": ["192.0.2.1/32"]}
        if kind == "shared":
            args |= {"targets": [assets.GEMINI, "translate.googleapis.com"]}
        if kind == "auth":
            args["service_account"] = f"sa@p{number}.iam.gserviceaccount.com"
        if kind == "deleted":
            args["deleted"] = "2026-10-01T00:00:00Z"
        org.append(assets.key(number, **args))
    return org


def findings_of(document: dict[str, Any]) -> dict[str, Any]:
    """What a report says is open: each key's status and findings, and the
    projects' findings."""
    return {
        "keys": {
            k["name"]: (
                k["status"],
                k["score"],
                [(f["rule"], f["severity"]) for f in k["findings"]],
            )
            for k in document["keys"]
        },
        "projects": sorted((f["subject"], f["rule"]) for f in document["project_findings"]),
    }


def open_pairs(summary: dict[str, Any]) -> set[tuple[str, str]]:
    keys = {(name, rule) for name, (_, _, fs) in summary["keys"].items() for rule, _ in fs}
    return keys | set(summary["projects"])


def test_a_history_of_changes_holds_what_a_fresh_scan_finds(engine: Engine, tmp_path: Path) -> None:
    """Twelve scans of an organization that changes at random: after each, the
    open findings equal those of a fresh history scanning the same inventory,
    and the scan's opened and resolved transitions are exactly the difference
    from the scan before."""
    rng = random.Random(19)
    before: set[tuple[str, str]] = set()
    for day in range(12):
        org = random_org(rng)
        outcome = scan(engine, tmp_path, org, day)
        fresh = db.open_engine(f"sqlite:///{tmp_path}/fresh-{day}.db")
        db.ensure_current(fresh)
        scan(fresh, tmp_path, org, day)
        got = findings_of(to_document(build_report(engine)))
        assert got == findings_of(to_document(build_report(fresh))), f"scan of day {day}"
        fresh.dispose()
        with engine.connect() as conn:
            rows = conn.execute(
                select(Transition.kind, Transition.key_name, Transition.rule_id).where(
                    Transition.scan_id == outcome.scan_id, Transition.rule_id.is_not(None)
                )
            ).all()
        now = open_pairs(got)
        opened = {(r.key_name, r.rule_id) for r in rows if r.kind in ("opened", "reopened")}
        resolved = {(r.key_name, r.rule_id) for r in rows if r.kind == "resolved"}
        assert opened == now - before, f"scan of day {day}"
        assert resolved == before - now, f"scan of day {day}"
        before = now


def test_a_scan_reads_back_only_the_findings_of_keys_that_changed(
    engine: Engine, tmp_path: Path
) -> None:
    org = [
        assets.project("100", "alpha"),
        assets.service("100", assets.GEMINI),
        *(assets.key("100", uid=f"k{i}") for i in range(40)),
    ]
    scan(engine, tmp_path, org, 0)
    read: list[Any] = []

    def remember(conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        # The open findings of some subjects (the seal reads what the scan wrote).
        if "findings.state_hash" in statement and "valid_to_scan_id IS NULL" in statement:
            read.append(parameters)

    event.listen(engine, "before_cursor_execute", remember)
    try:
        repeat = scan(engine, tmp_path, org, 1)
        assert repeat.stats.rows_written == 0
        assert read == []  # nothing changed: no finding is read back
        restricted = assets.key("100", uid="k7", targets=[assets.GEMINI], server=["192.0.2.1/32"])
        changed = [restricted if e["name"].endswith("/k7") else e for e in org]
        scan(engine, tmp_path, changed, 2)
    finally:
        event.remove(engine, "before_cursor_execute", remember)
    (parameters,) = read
    named = parameters.values() if isinstance(parameters, dict) else parameters
    keys = [p for p in named if isinstance(p, str) and "/keys/" in p]
    assert keys == ["projects/100/locations/global/keys/k7"]


def test_history_written_before_the_digest_is_diffed_in_full_once(
    engine: Engine, tmp_path: Path
) -> None:
    """Versions from before schema 0014 have no digest: the next scan reads
    every key's findings, records the same transitions as a history with
    digests, and gives each key a digest; the scan after reads nothing."""
    control = db.open_engine(f"sqlite:///{tmp_path}/control.db")
    db.ensure_current(control)
    org = assets.small_org()
    for history in (engine, control):
        scan(history, tmp_path, org, 0)
    with engine.begin() as conn:
        conn.execute(update(KeyVersion).values(findings_hash=None))
    # One key restricted, one gone, one new.
    changed = [e for e in org if not e["name"].endswith("k-maps")]
    changed = [
        assets.key("100", uid="k-unrestricted", targets=[assets.GEMINI], server=["192.0.2.9/32"])
        if e["name"].endswith("k-unrestricted")
        else e
        for e in changed
    ]
    changed.append(assets.key("200", uid="k-new"))

    def transitions(history: Engine, scan_id: int) -> list[tuple[Any, ...]]:
        with history.connect() as conn:
            rows = conn.execute(
                select(
                    Transition.kind,
                    Transition.key_name,
                    Transition.rule_id,
                    Transition.from_value,
                    Transition.to_value,
                    Transition.reason,
                ).where(Transition.scan_id == scan_id)
            ).all()
        return sorted(tuple(r) for r in rows)

    upgraded = scan(engine, tmp_path, changed, 1)
    expected = scan(control, tmp_path, changed, 1)
    assert transitions(engine, upgraded.scan_id) == transitions(control, expected.scan_id)
    assert ("resolved", "projects/200/locations/global/keys/k-maps") in {
        t[:2] for t in transitions(engine, upgraded.scan_id)
    }
    got, want = to_document(build_report(engine)), to_document(build_report(control))
    assert findings_of(got) == findings_of(want)
    with engine.connect() as conn:
        undigested = conn.scalar(
            select(func.count())
            .select_from(KeyVersion)
            .where(KeyVersion.valid_to_scan_id.is_(None), KeyVersion.findings_hash.is_(None))
        )
    assert undigested == 0
    assert scan(engine, tmp_path, changed, 2).stats.rows_written == 0
    control.dispose()
