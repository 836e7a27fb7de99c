"""A scan from Cloud Asset keeps a key's last judgement without decoding it
when the key's digest as listed (its resource's bytes, its creator and its
leak reports) is its open version's (scanner.sources.inventory.listed,
Enricher.source_hash). Each of those moving alone, and usage appearing, has
the key judged again; a database written before the digest existed gets it
once. Keys come from the fake Cloud Asset server (tests.assets, Cloud Asset
export shapes, cited there); usage from the fake Monitoring server, creators
from the fake Logging server, leak reports as gitleaks writes them
(tests.leakdata)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

from google.protobuf import struct_pb2
from sqlalchemy import Engine, func, select

from scanner.config import Config, InventoryConfig
from scanner.configfile import parse_config
from scanner.core.models import InventoryContext, KeyRecord
from scanner.leaks.reports import read
from scanner.scan.engine import ScanOutcome, run_scan
from scanner.scan.reuse import COUNTS_ENTRY
from scanner.sources.audit.logs import AuditLogReader
from scanner.sources.inventory.asset import CloudAssetSource
from scanner.sources.inventory.export import ExportSource
from scanner.sources.inventory.listed import ListedKey, listed_from_struct
from scanner.sources.usage.monitoring import UsageCollector
from scanner.store import db
from scanner.store.chain import verify
from scanner.store.tables import FindingVersion, KeyVersion, Scan, Transition, UsageVersion
from tests import assets, leakdata
from tests.conftest import NOW
from tests.fakes.api_keys import FakeApiKeysServer
from tests.fakes.cloud_asset import serve
from tests.fakes.logging import Change, FakeLogging, FakeLoggingServer
from tests.fakes.monitoring import FakeMonitoring, FakeMonitoringServer, Traffic
from tests.test_judgement_reuse import contents
from tests.test_leaks import OURS, fake_api_keys, importer
from tests.test_leaks import org as leaks_org

ORGANIZATION = "organizations/900000000001"
KEY = "projects/100/locations/global/keys/{}"
QUIET_UID = "4c4e2f9e-1e0b-4a55-9d0e-3b1f7f3c2a10"


def live_scan(
    engine: Engine,
    envelopes: list[dict[str, Any]],
    hours: float,
    config: Config | None = None,
    **sources: Any,
) -> ScanOutcome:
    config = config or Config()
    with serve(envelopes) as server:
        source = CloudAssetSource(
            server.client(), ORGANIZATION, InventoryConfig(), config.gemini.project_services
        )
        return run_scan(source, engine, config, NOW + timedelta(hours=hours), **sources)


def judging(engine: Engine, outcome: ScanOutcome) -> dict[str, Any]:
    with engine.connect() as conn:
        counts = conn.scalar(select(Scan.counts).where(Scan.id == outcome.scan_id))
    return dict(counts[COUNTS_ENTRY])


def versions(engine: Engine, uid: str) -> int:
    with engine.connect() as conn:
        query = select(func.count()).where(KeyVersion.key_name == KEY.format(uid))
        return int(conn.scalar(query) or 0)


def open_rules(engine: Engine, uid: str) -> set[str]:
    with engine.connect() as conn:
        query = select(FindingVersion.rule_id).where(
            FindingVersion.key_name == KEY.format(uid), FindingVersion.valid_to_scan_id.is_(None)
        )
        return set(conn.scalars(query))


def test_a_leak_report_alone_has_the_key_judged_again(engine: Engine, tmp_path: Path) -> None:
    live_scan(engine, leaks_org(), 0)
    second = live_scan(engine, leaks_org(), 1)
    assert judging(engine, second)["undecoded"] == 2  # both keys, nothing moved
    path = leakdata.write_json(tmp_path / "r.json", [leakdata.gitleaks_finding(OURS)])
    with FakeApiKeysServer(fake_api_keys()) as server:
        importer(engine, server).run(read(path), str(path), NOW)
    leaked = live_scan(engine, leaks_org(), 2)
    assert judging(engine, leaked)["undecoded"] == 1  # k-auth; k-ours is judged
    assert "key-leaked" in open_rules(engine, "k-ours")
    assert versions(engine, "k-ours") == 2 and versions(engine, "k-auth") == 1
    after = live_scan(engine, leaks_org(), 3)
    assert judging(engine, after)["undecoded"] == 2  # the report is in its digest now


def test_a_creator_alone_has_the_key_judged_again(engine: Engine) -> None:
    config = parse_config("audit: {enabled: true, projects_per_request: 1}", "c")
    org = [assets.project("100", "alpha"), assets.key("100", uid="k-made")]
    made = Change(
        "alpha", KEY.format("k-made"), "CreateKey", "dev@example.com", NOW + timedelta(minutes=30)
    )

    def scan(hours: float, changes: list[Change]) -> ScanOutcome:
        with FakeLoggingServer(FakeLogging(changes)) as server:
            reader = AuditLogReader(server.client(), config.audit)
            return live_scan(engine, org, hours, config, audit=reader)

    scan(0, [])
    creator_read = scan(1, [made])
    assert judging(engine, creator_read)["undecoded"] == 0
    with engine.connect() as conn:
        creators = list(
            conn.scalars(
                select(KeyVersion.creator)
                .order_by(KeyVersion.id)
                .where(KeyVersion.key_name == KEY.format("k-made"))
            )
        )
    assert creators == [None, "dev@example.com"]
    # The creator is kept in history: later scans find the digest unmoved.
    assert judging(engine, scan(2, []))["undecoded"] == 1


def test_usage_that_appears_has_the_key_judged_again(engine: Engine) -> None:
    """Usage is read by the key's uid, which a scan that keeps a key undecoded
    reads from the listed resource; a key first used between two scans gets
    its usage interval."""
    config = parse_config("usage: {enabled: true, requests_per_second: 1000}", "c")
    quiet = assets.key("100", uid="k-quiet")
    # As Google's keys: the uid is not the id the key's name ends with.
    quiet["resource"]["data"]["uid"] = QUIET_UID
    org = [assets.project("100", "alpha"), quiet, assets.key("100", uid="k-busy")]

    def scan(hours: float, traffic: list[Traffic]) -> ScanOutcome:
        fake = FakeMonitoring({"alpha": traffic})
        with FakeMonitoringServer(fake) as server:
            usage = UsageCollector(server.client(), config.usage, config.gemini.api_services)
            return live_scan(engine, org, hours, config, usage=usage)

    # A used key's last use moves with the scan's window: it is judged each time.
    busy = Traffic("apikey:k-busy", assets.GEMINI, "2xx", {1: 40})
    scan(0, [busy])
    assert judging(engine, scan(1, [busy]))["undecoded"] == 1  # k-quiet
    woke = Traffic(f"apikey:{QUIET_UID}", assets.GEMINI, "2xx", {0: 7})
    assert judging(engine, scan(2, [busy, woke]))["undecoded"] == 0
    with engine.connect() as conn:
        used = conn.scalars(
            select(UsageVersion.requests_7d).where(
                UsageVersion.key_name == KEY.format("k-quiet"),
                UsageVersion.valid_to_scan_id.is_(None),
            )
        )
        assert list(used) == [7]


class _Undigested(ExportSource):
    """An export read as a source that gives no digest (the API Keys API; any
    source before schema 0016): each key handed over decoded."""

    def iter_listed(self, context: InventoryContext) -> Iterator[ListedKey]:
        return (ListedKey.of(listed.record()) for listed in super().iter_listed(context))


def test_versions_written_before_the_digest_get_it_once(engine: Engine, tmp_path: Path) -> None:
    org = assets.small_org()
    export = assets.write_ndjson(tmp_path / "org.jsonl", org)
    before = run_scan(
        _Undigested([export], Config().gemini.project_services), engine, Config(), NOW
    )
    keys = before.stats.keys_total
    with engine.connect() as conn:
        unset = select(func.count()).where(KeyVersion.source_hash.is_(None))
        assert conn.scalar(unset) == keys
    upgraded = live_scan(engine, org, 1)
    # One version a key, with its digest; nothing else moved.
    assert upgraded.stats.rows_written == 2 * keys  # a version closed, one written
    assert upgraded.stats.by_status == before.stats.by_status
    with engine.connect() as conn:
        moved = select(func.count()).where(Transition.scan_id == upgraded.scan_id)
        assert conn.scalar(moved) == 0
        assert conn.scalar(unset) == keys  # the closed versions keep what they were
    settled = live_scan(engine, org, 2)
    assert judging(engine, settled)["undecoded"] == keys
    assert settled.stats.rows_written == 0
    checked = verify(engine)
    assert checked.broken_at is None and checked.problem is None and checked.scans_checked == 3


def test_the_listed_digest_follows_the_data_not_its_order() -> None:
    data = assets.key("100", uid="k-1", targets=[assets.GEMINI])["resource"]["data"]

    def listed(values: dict[str, Any]) -> Any:
        struct = struct_pb2.Struct()
        struct.update(values)
        return listed_from_struct(struct, _no_decode)

    first = listed(data)
    reordered = listed(dict(reversed(list(data.items()))))
    assert first.raw_digest == reordered.raw_digest
    assert (first.name, first.uid) == (KEY.format("k-1"), data["uid"])
    renamed = listed(data | {"displayName": "another name"})
    assert renamed.raw_digest != first.raw_digest
    without_uid = listed({k: v for k, v in data.items() if k != "uid"})
    assert without_uid.uid == "k-1"  # as normalize_key names it: the key id
    assert listed(data | {"name": 7}).name is None  # decoded, and refused then


def _no_decode() -> KeyRecord:
    raise AssertionError("not decoded")


def walk(rng: random.Random, keys: dict[str, dict[str, Any]], gemini: set[str]) -> None:
    """One step of a random walk of the organization: a few keys change,
    leave or come, and now and then a project turns Gemini on or off."""
    for uid in rng.sample(sorted(keys), k=3):
        keys[uid] = _random_key(rng, uid)
    for uid in rng.sample(sorted(keys), k=1):
        del keys[uid]
    fresh = f"k{rng.randrange(10_000)}"
    keys[fresh] = _random_key(rng, fresh)
    if rng.random() < 0.3:
        gemini ^= {rng.choice(WALK_PROJECTS)}


WALK_PROJECTS = ("100", "200", "300")


def _random_key(rng: random.Random, uid: str) -> dict[str, Any]:
    # Created around 90 days (the rotation period) and 180 (dormancy) before
    # the walk, so that the clock crosses thresholds of some keys as it goes.
    age = rng.choice([88, 89.5, 90.2, 91, 179.5, 181, 30])
    created = (NOW - timedelta(days=age)).strftime("%Y-%m-%dT%H:%M:%SZ")
    kind = rng.choice(["unrestricted", "gemini", "auth", "deleted", "browser"])
    args: dict[str, Any] = {"uid": uid, "created": created, "display_name": f"key {uid}"}
    if kind in ("gemini", "auth"):
        args |= {"targets": [assets.GEMINI], "server": ["192.0.2.1/32"]}
    if kind == "auth":
        args["service_account"] = "sa@p100.iam.gserviceaccount.com"
    if kind == "deleted":
        args["deleted"] = "2026-10-01T00:00:00Z"
    if kind == "browser":
        args["browser"] = ["https://www.example.com/*"]
    return assets.key(rng.choice(WALK_PROJECTS), **args)


def test_a_random_walk_kept_undecoded_as_judged_again(engine: Engine, tmp_path: Path) -> None:
    """Twenty scans hours to days apart of an organization that changes a
    little each time, from the live source: keeping keys undecoded writes the
    history judging every key writes, scan after scan."""
    judged_again = db.open_engine(f"sqlite:///{tmp_path / 'judged.sqlite'}")
    db.ensure_current(judged_again)
    rng = random.Random(6)
    keys = {f"k{i}": _random_key(rng, f"k{i}") for i in range(30)}
    gemini = {"100"}
    hours = 0.0
    undecoded = []
    for step in range(20):
        org = [assets.project(n, f"p{n}") for n in WALK_PROJECTS]
        org += [assets.service(n, assets.GEMINI) for n in sorted(gemini)]
        org += list(keys.values())
        kept = live_scan(engine, org, hours)
        judged = live_scan(judged_again, org, hours, reuse_judgements=False)
        assert kept.stats == judged.stats, f"step {step}"
        assert contents(engine) == contents(judged_again), f"step {step}"
        undecoded.append(judging(engine, kept)["undecoded"])
        walk(rng, keys, gemini)
        hours += rng.choice([1, 5, 20, 30, 50])
    judged_again.dispose()
    # Most scans keep most keys undecoded, and none keeps what it must not.
    assert sum(1 for n in undecoded if n > 20) > 10, undecoded
