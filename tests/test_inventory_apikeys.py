"""Keys from the API Keys API (inventory.keys_from: apikeys): ListKeys per
project over REST against a loopback fake, with pages and faults; projects
from Cloud Asset over gRPC; and `inventory compare` between the two."""

from __future__ import annotations

import copy
import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import Engine, select

from scanner.config import InventoryConfig
from scanner.core.errors import SourceError
from scanner.report.build import build_report
from scanner.report.documents import key_document
from scanner.scan.engine import run_scan
from scanner.sources.inventory.apikeys import ApiKeysSource, KeyLister
from scanner.sources.inventory.asset import CloudAssetSource
from scanner.sources.inventory.compare import compare
from scanner.sources.inventory.source import records
from scanner.store.tables import Scan as ScanRow
from tests.fakes.api_keys_rest import (
    FakeListKeys,
    FakeListKeysServer,
    HostileListKeysServer,
    RestFault,
)
from tests.fakes.cloud_asset import serve
from tests.peers import DripServer

REAL = Path(__file__).parent / "data" / "real"
SCOPE = "organizations/900000000001"
P1, P2 = "314159265358", "271828182845"
NOW = datetime(2026, 12, 1, tzinfo=UTC)
FAST = InventoryConfig(
    retry_initial_seconds=0.5, retry_maximum_seconds=2, retry_deadline_seconds=30
)


def real_assets() -> list[dict[str, Any]]:
    lines = (REAL / "asset-export-keys.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def keys_by_project(envelopes: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """What ListKeys answers: each key's REST resource, by project number."""
    found: dict[str, list[dict[str, Any]]] = {P1: [], P2: []}
    for env in envelopes:
        if env["asset_type"] == "apikeys.googleapis.com/Key":
            data = env["resource"]["data"]
            found[data["name"].split("/")[1]].append(data)
    return found


def without_service_accounts(envelopes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Cloud Asset as it may be: no public sample shows serviceAccountEmail in it."""
    stripped = copy.deepcopy(envelopes)
    for env in stripped:
        env.get("resource", {}).get("data", {}).pop("serviceAccountEmail", None)
    return stripped


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)  # recorded, not slept: the fake answers at once


def source(
    asset_server: Any, api: FakeListKeysServer, config: InventoryConfig = FAST
) -> tuple[ApiKeysSource, KeyLister, Sleeps]:
    sleeps = Sleeps()
    lister = KeyLister(requests.Session(), config, api.endpoint, sleep=sleeps)
    services = ["generativelanguage.googleapis.com"]
    assets = CloudAssetSource(asset_server.client(), SCOPE, config, services)
    return ApiKeysSource(assets, lister, config), lister, sleeps


def test_a_scan_from_listkeys_reads_service_accounts_cloud_asset_may_lack(
    engine: Engine,
) -> None:
    envelopes = real_assets()
    fake = FakeListKeys(keys=keys_by_project(envelopes))
    with serve(without_service_accounts(envelopes)) as cai, FakeListKeysServer(fake) as api:
        apikeys, _, _ = source(cai, api)
        outcome = run_scan(apikeys, engine, _config(), NOW)
    keys = {k.name: key_document(k) for k in build_report(engine).iter_keys()}
    auth = keys[f"projects/{P2}/locations/global/keys/studio-auth"]
    assert auth["key_type"] == "auth"
    assert auth["service_account"] == "gemini-caller@acme-web.iam.gserviceaccount.com"
    assert len(keys) == 5 and outcome.stats.keys_total == 5
    assert set(fake.requests) == {P1, P2}  # each active project, by number
    with engine.connect() as conn:
        assert conn.scalar(select(ScanRow.source)) == f"apikeys:{SCOPE}"


def test_pages_and_transient_faults_are_read_through(engine: Engine) -> None:
    envelopes = real_assets()
    many = [
        {"name": f"projects/{P1}/locations/global/keys/k{n:04d}", "uid": f"u{n:04d}"}
        for n in range(650)
    ]
    fake = FakeListKeys(
        keys={P1: many, P2: []},
        faults=[
            RestFault(503, times=1, project=P1, page=1),
            RestFault(429, times=1, project=P1, page=2, retry_after="7"),
        ],
    )
    with serve(envelopes) as cai, FakeListKeysServer(fake) as api:
        apikeys, lister, sleeps = source(cai, api)
        context = apikeys.load_context()
        names = [k.name for k in records(apikeys, context)]
    assert len(names) == 650 and len(set(names)) == 650
    assert fake.requests[P1] == 5  # three pages and two retries
    assert sleeps == [0.5, 7.0]  # backoff, then the server's Retry-After
    assert lister.requests == 6


def test_a_key_named_by_project_id_is_named_by_number() -> None:
    envelopes = real_assets()
    by_id = {"name": "projects/acme-web/locations/global/keys/by-id", "uid": "u-by-id"}
    fake = FakeListKeys(keys={P1: [], P2: [by_id]})
    with serve(envelopes) as cai, FakeListKeysServer(fake) as api:
        apikeys, _, _ = source(cai, api)
        context = apikeys.load_context()
        (key,) = list(records(apikeys, context))
    assert key.name == f"projects/{P2}/locations/global/keys/by-id"
    assert key.project_number == P2 and key.project_id == "acme-web"


def test_a_refused_project_fails_the_scan_and_changes_nothing(engine: Engine) -> None:
    envelopes = real_assets()
    fake = FakeListKeys(keys=keys_by_project(envelopes))
    with serve(envelopes) as cai, FakeListKeysServer(fake) as api:
        run_scan(source(cai, api)[0], engine, _config(), NOW)
        fake.faults.append(RestFault(403, times=-1, project=P2))
        with pytest.raises(SourceError, match=rf"ListKeys on projects/{P2}: permission denied"):
            run_scan(source(cai, api)[0], engine, _config(), NOW)
    with engine.connect() as conn:
        rows = conn.execute(select(ScanRow.status, ScanRow.error).order_by(ScanRow.id)).all()
    assert [r.status for r in rows] == ["succeeded", "failed"]
    assert "roles/serviceusage.apiKeysViewer" in rows[1].error
    # The failed scan left the first one's keys as they were: none deleted.
    assert all(k.status.value != "deleted" for k in build_report(engine).iter_keys())


def test_an_outage_longer_than_the_deadline_gives_up() -> None:
    envelopes = real_assets()
    fake = FakeListKeys(keys=keys_by_project(envelopes), faults=[RestFault(503, -1, project=P1)])
    config = InventoryConfig(retry_initial_seconds=1, retry_deadline_seconds=3)
    with serve(envelopes) as cai, FakeListKeysServer(fake) as api:
        apikeys, _, sleeps = source(cai, api, config)
        context = apikeys.load_context()
        with pytest.raises(SourceError, match="gave up after 3s of retries: 503"):
            list(records(apikeys, context))
    assert sleeps[:2] == [1.0, 2.0]


def test_compare_lists_what_the_sources_say_differently() -> None:
    envelopes = real_assets()
    listed = keys_by_project(envelopes)
    listed[P1].append({"name": f"projects/{P1}/locations/global/keys/only-in-apikeys"})
    fake = FakeListKeys(keys=listed)
    with serve(without_service_accounts(envelopes)) as cai, FakeListKeysServer(fake) as api:
        apikeys, _, _ = source(cai, api)
        services = ["generativelanguage.googleapis.com"]
        assets = CloudAssetSource(cai.client(), SCOPE, FAST, services)
        seen, found = compare(assets, apikeys)
    assert seen == 6
    differing = {(d.key_name.rsplit("/", 1)[-1], d.field): (d.asset, d.apikeys) for d in found}
    assert differing == {
        ("studio-auth", "key_type"): ("standard", "auth"),
        ("studio-auth", "service_account"): ("-", "gemini-caller@acme-web.iam.gserviceaccount.com"),
        ("only-in-apikeys", "listed"): ("no", "yes"),
    }


def _config() -> Any:
    from scanner.configfile import parse_config

    return parse_config("inventory: {keys_from: apikeys, iam: false}", "c")


def test_the_commands_say_what_is_wrong_in_one_line(tmp_path: Path) -> None:
    from tests.test_cli import run_installed

    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "NO_GCE_CHECK": "true",
        "CLOUDSDK_CONFIG": str(tmp_path / "gcloud"),
    }
    config = tmp_path / "keysentry.yaml"
    config.write_text("inventory: {keys_from: apikeys}\n")
    export = str(REAL / "asset-export-keys.jsonl")
    db = f"sqlite:///{tmp_path}/h.db"
    offline = run_installed(
        "scan", "--config", str(config), "--db", db, "--from-export", export, env=env
    )
    assert offline.returncode == 2 and offline.stderr.count("\n") == 1
    assert "inventory.keys_from: apikeys lists keys live" in offline.stderr
    compared = run_installed("inventory", "compare", "--project", "acme-web", env=env)
    assert compared.returncode == 2 and compared.stderr.count("\n") == 1
    assert "no Google credentials" in compared.stderr and "Traceback" not in compared.stderr


HOSTILE = InventoryConfig(
    retry_initial_seconds=0.1,
    retry_deadline_seconds=1,
    request_timeout_seconds=2,
    apikeys_max_pages=5,
    apikeys_max_page_bytes=1 << 20,
)


@pytest.mark.parametrize(
    ("mode", "error", "requests_made"),
    [
        ("same-token", "the API gave a page token it already gave", 2),
        ("endless", "more than 5 pages (inventory.apikeys_max_pages)", 5),
        ("huge", "a page of more than 1048576 bytes (inventory.apikeys_max_page_bytes)", 1),
    ],
)
def test_a_hostile_listing_is_bounded(mode: str, error: str, requests_made: int) -> None:
    with HostileListKeysServer(mode) as api:
        lister = KeyLister(requests.Session(), HOSTILE, api.endpoint, sleep=Sleeps())
        with pytest.raises(SourceError, match=re.escape(error)):
            lister.keys(P1)
        assert api.requests == requests_made
    if mode == "huge":  # read to the cap and no further (one chunk past it at most)
        assert api.bytes_sent < 64 * (1 << 20)


def test_a_page_dripped_a_byte_at_a_time_ends_at_the_request_timeout() -> None:
    """Each byte comes within the 2 s read timeout; the whole page never would."""
    body = json.dumps({"keys": []}).encode()
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body
    config = HOSTILE.model_copy(update={"retry_deadline_seconds": 0.5})
    with DripServer(answer, interval=1.8, request=True) as peer:
        lister = KeyLister(requests.Session(), config, f"http://127.0.0.1:{peer.port}", Sleeps())
        with pytest.raises(SourceError, match=r"no whole answer within 2s"):
            lister.keys(P1)
        assert len(peer.requests) == 1  # the retry deadline left no time for another
