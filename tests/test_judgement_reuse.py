"""A scan that keeps the last judgement of keys nothing changed for
(scanner.scan.reuse) writes the history, the figures and the counts that judging
every key again writes: over scans hours and days apart whose span crosses
keys' rotation warnings and due instants, an exception's expiry, a key
restricted, deleted, gone and back, and the rules changed and changed back.
Keys and projects are built with tests.assets (Cloud Asset export shapes,
cited there)."""

from __future__ import annotations

import json
from contextlib import ExitStack
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from scanner.config import Config, InventoryConfig, RulesConfig
from scanner.config.exceptions import ExceptionEntry, ExceptionsConfig
from scanner.scan.engine import run_scan
from scanner.scan.reuse import COUNTS_ENTRY
from scanner.sources.inventory.asset import CloudAssetSource
from scanner.sources.inventory.export import ExportSource
from scanner.sources.inventory.source import InventorySource
from scanner.store import db
from scanner.store.tables import (
    FigureRow,
    FindingVersion,
    KeyVersion,
    Scan,
    Transition,
    UsageVersion,
)
from tests import assets
from tests.auditor_org import build_history
from tests.conftest import NOW
from tests.fakes.cloud_asset import serve

GEMINI = assets.GEMINI
ORGANIZATION = "organizations/900000000001"
HOURS = [0, 2, 20, 26, 27, 75, 80, 200, 201, 202, 240]  # when each scan runs, after NOW
# Keys due for rotation (90 days) around the scans: some in the span of one, most not.
DUE_AFTER = [-5, 1, 12, 25, 26.5, 60, 100, 190, 203, 1000]


def org(step: int) -> list[dict[str, Any]]:
    envelopes = [
        assets.project("100", "alpha"),
        assets.project("200", "beta"),
        assets.service("100", GEMINI),
        assets.service("200", "maps-backend.googleapis.com"),
    ]
    for i, hours in enumerate(DUE_AFTER):
        created = NOW + timedelta(hours=hours) - timedelta(days=90)
        stamp = created.strftime("%Y-%m-%dT%H:%M:%SZ")
        restricted = {"targets": [GEMINI], "server": ["192.0.2.1/32"]}
        if i == 3 and step >= 4:  # restricted from the fifth scan on
            restricted = {"targets": ["maps.googleapis.com"], "server": ["192.0.2.9/32"]}
        envelopes.append(assets.key("100", uid=f"k-{i}", created=stamp, **restricted))
        envelopes.append(assets.key("200", uid=f"open-{i}", created=stamp))
    envelopes.append(
        assets.key(
            "100",
            uid="k-auth",
            targets=["maps.googleapis.com"],
            server=["192.0.2.3/32"],
            service_account="sa@alpha.iam.gserviceaccount.com",
        )
    )
    if step >= 6:
        envelopes.append(
            assets.key("100", uid="k-deleted", deleted="2026-11-30T00:00:00Z", created=stamp)
        )
    if step not in (7, 8):  # gone for two scans, then back
        envelopes.append(assets.key("200", uid="k-gone", created="2025-01-01T00:00:00Z"))
    return envelopes


def config(step: int) -> Config:
    accepted = ExceptionEntry(
        id="beta-open-keys",
        rules=["key-api-unrestricted", "key-not-rotated"],
        projects=["beta"],
        reason="migrating",
        approved_by="owner@example.com",
        expires=date(2026, 11, 24),  # between the fifth and the sixth scan
    )
    rotation = 60 if step == 8 else 90  # changed for one scan, then back
    return Config(
        rules=RulesConfig(rotation_days=rotation, warn_days=1),
        exceptions=ExceptionsConfig(entries=[accepted]),
    )


def history(engine: Engine, tmp: Path, reuse: bool, live: bool) -> list[dict[str, Any]]:
    """Scans of the organization from an export file, or LIVE from the fake
    Cloud Asset server (whose keys a scan may keep without decoding them)."""
    counts = []
    for step, hours in enumerate(HOURS):
        at = NOW + timedelta(hours=hours)
        services = config(step).gemini.project_services
        with ExitStack() as stack:
            if live:
                server = stack.enter_context(serve(org(step)))
                source: InventorySource = CloudAssetSource(
                    server.client(), ORGANIZATION, InventoryConfig(page_size=7), services
                )
            else:
                export = assets.write_ndjson(tmp / f"org-{reuse}-{step}.jsonl", org(step))
                source = ExportSource([export], services)
            outcome = run_scan(source, engine, config(step), at, reuse_judgements=reuse)
        with engine.connect() as conn:
            row = conn.scalar(select(Scan.counts).where(Scan.id == outcome.scan_id))
        stats = outcome.stats
        counts.append(dict(row) | {"rows_written": stats.rows_written, "notes": stats.notes})
    return counts


def contents(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row a scan writes but its id, in a stable order: the order in
    which one scan resolves several findings is not part of what it records."""
    tables = [KeyVersion, FindingVersion, Transition, UsageVersion, FigureRow]
    found: dict[str, list[tuple[Any, ...]]] = {}
    with engine.connect() as conn:
        for table in tables:
            columns = [c for c in table.__table__.columns if c.name != "id"]  # type: ignore[attr-defined]
            rows = [tuple(r) for r in conn.execute(select(*columns))]
            found[table.__name__] = sorted(rows, key=repr)
    return found


@pytest.mark.parametrize("live", [False, True], ids=["export", "cloud-asset"])
def test_kept_judgements_write_what_judging_again_writes(
    engine: Engine, tmp_path: Path, live: bool
) -> None:
    judged_again = db.open_engine(f"sqlite:///{tmp_path / 'judged.sqlite'}")
    db.ensure_current(judged_again)
    kept_counts = history(engine, tmp_path, reuse=True, live=live)
    judged_counts = history(judged_again, tmp_path, reuse=False, live=live)

    kept = [c[COUNTS_ENTRY]["kept"] for c in kept_counts]
    undecoded = [c[COUNTS_ENTRY]["undecoded"] for c in kept_counts]
    for counted in ("kept", "undecoded"):
        assert [c[COUNTS_ENTRY][counted] for c in judged_counts] == [0] * len(HOURS)
        for c in kept_counts + judged_counts:
            del c[COUNTS_ENTRY][counted]
    assert kept_counts == judged_counts
    assert contents(engine) == contents(judged_again)
    judged_again.dispose()

    keys = 2 * len(DUE_AFTER) + 2
    assert kept[0] == 0  # nothing to keep
    assert 0 < kept[1] < keys  # two hours on: k-1's due instant falls between
    assert kept[5] == 0  # the exception lapses between the fifth and sixth scans
    assert kept[8] == 0 and kept[9] == 0  # the rules changed, and changed back
    assert kept[10] > keys // 2
    assert sum(kept) > 3 * keys  # mostly kept: this test compares something
    # A kept key is not decoded, from Cloud Asset (its resource's bytes) as from
    # an export (its line's): each source gives a digest of what it listed.
    assert undecoded == kept


def timeless(report: str) -> dict[str, Any]:
    """A JSON report without the wall-clock times of its scan (and the chain
    hash that covers them)."""
    document: dict[str, Any] = json.loads(report)
    for field in ("started_at", "finished_at", "chain_hash"):
        document["scan"].pop(field)
    return document


@pytest.mark.parametrize("live", [False, True], ids=["export", "cloud-asset"])
def test_the_auditor_story_kept_and_judged_again(
    engine: Engine, db_url: str, tmp_path: Path, live: bool
) -> None:
    """The auditor story (tests.auditor_org: usage from the fake Monitoring
    server, one project's usage refused, a rule disabled) writes the same
    history whether scans keep judgements or judge every key again."""
    judged_url = f"sqlite:///{tmp_path / 'judged.sqlite'}"
    judged_again = db.open_engine(judged_url)
    db.ensure_current(judged_again)
    # One folder: the reports name the export files they read.
    kept = build_history(engine, db_url, tmp_path, keep_judgements=True, live=live)
    judged = build_history(judged_again, judged_url, tmp_path, keep_judgements=False, live=live)
    assert contents(engine) == contents(judged_again)
    for step, outcome in kept.outcomes.items():
        assert outcome.stats == judged.outcomes[step].stats, step
        assert timeless(kept.reports[step]) == timeless(judged.reports[step]), step
    judged_again.dispose()
    with engine.connect() as conn:
        counts = list(conn.scalars(select(Scan.counts).order_by(Scan.id)))
    assert sum(c[COUNTS_ENTRY]["kept"] for c in counts) > 0  # some key was kept
    assert sum(c[COUNTS_ENTRY]["undecoded"] for c in counts) > 0  # and not even decoded
