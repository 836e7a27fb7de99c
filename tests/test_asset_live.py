"""The live source through the real google-cloud-asset client, over gRPC, against
a fake Cloud Asset server on loopback, with faults injected at the protocol level."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import grpc
import pytest
from google.cloud import asset_v1
from sqlalchemy import Engine, func, select

from scanner.config import Config, InventoryConfig
from scanner.core.errors import SourceError
from scanner.report.build import build_report
from scanner.report.documents import to_document
from scanner.scan.engine import run_scan
from scanner.sources.inventory.asset import PREFETCH_PAGES, CloudAssetSource
from scanner.sources.inventory.export import ExportSource
from scanner.sources.inventory.source import records
from scanner.store.tables import KeyVersion, Scan
from tests import assets
from tests.conftest import NOW
from tests.fakes.cloud_asset import FakeServer, Fault, serve

FAST_RETRY = InventoryConfig(
    page_size=2,
    retry_initial_seconds=0.01,
    retry_maximum_seconds=0.05,
    retry_deadline_seconds=1.0,
    request_timeout_seconds=5.0,
)
SERVICES = Config().gemini.project_services


@pytest.fixture
def org() -> list[dict[str, object]]:
    return assets.small_org() + [assets.key("200", uid=f"extra-{i}") for i in range(5)]


@pytest.fixture
def server(org: list[dict[str, object]]) -> Iterator[FakeServer]:
    with serve(org) as running:
        yield running


def source(server: FakeServer, config: InventoryConfig = FAST_RETRY) -> CloudAssetSource:
    return CloudAssetSource(server.client(), "organizations/900000000001", config, SERVICES)


def test_live_scan_matches_the_export_of_the_same_org(
    server: FakeServer, org: list[dict[str, object]], tmp_path: Path
) -> None:
    live = source(server)
    context = live.load_context()
    live_keys = {k.uid: k for k in records(live, context)}
    export = ExportSource([assets.write_ndjson(tmp_path / "o.jsonl", org)], SERVICES)
    export_keys = {k.uid: k for k in records(export, export.load_context())}
    assert live_keys == export_keys
    assert len(live_keys) == 10
    # Paged at page_size 2: the keys listing took 5 requests with tokens.
    key_requests = [
        r for r in server.fake.requests if list(r.asset_types) == ["apikeys.googleapis.com/Key"]
    ]
    assert len(key_requests) == 5
    assert [r.page_token for r in key_requests] == ["", "2", "4", "6", "8"]
    assert all(r.content_type == asset_v1.ContentType.RESOURCE for r in key_requests)
    assert all(r.parent == "organizations/900000000001" for r in key_requests)


def test_transient_error_on_a_middle_page_is_retried(
    org: list[dict[str, object]], engine: Engine
) -> None:
    faults = [
        Fault(
            page=2,
            code=grpc.StatusCode.UNAVAILABLE,
            times=2,
            asset_type="apikeys.googleapis.com/Key",
        ),
        Fault(
            page=1,
            code=grpc.StatusCode.RESOURCE_EXHAUSTED,
            times=1,
            asset_type="apikeys.googleapis.com/Key",
        ),
    ]
    with serve(org, faults) as server:
        outcome = run_scan(source(server), engine, Config(), NOW)
    assert outcome.stats.keys_total == 10
    assert all(f.times == 0 for f in faults)
    assert to_document(build_report(engine))["scan"]["source"] == "cai:organizations/900000000001"


def test_persistent_error_fails_the_scan_and_leaves_history_untouched(
    org: list[dict[str, object]], engine: Engine
) -> None:
    with serve(org) as server:
        run_scan(source(server), engine, Config(), NOW)
    before = to_document(build_report(engine))
    changed = [e for e in org if "extra-0" not in str(e["name"])]
    fault = Fault(
        page=3, code=grpc.StatusCode.UNAVAILABLE, times=-1, asset_type="apikeys.googleapis.com/Key"
    )
    with (
        serve(changed, [fault]) as server,
        pytest.raises(SourceError, match="gave up after 1s of retries"),
    ):
        run_scan(source(server), engine, Config(), NOW + timedelta(days=1))
    with engine.connect() as conn:
        last = conn.execute(select(Scan).order_by(Scan.id.desc()).limit(1)).one()
        open_keys = conn.scalar(
            select(func.count())
            .select_from(KeyVersion)
            .where(KeyVersion.valid_to_scan_id.is_(None))
        )
    assert last.status == "failed" and "injected fault on page 3" in last.error
    assert last.assets_read > 0
    assert open_keys == 10  # extra-0 was not closed
    assert to_document(build_report(engine)) == before


def test_permission_denied_is_not_retried_and_says_which_role(org: list[dict[str, object]]) -> None:
    fault = Fault(page=0, code=grpc.StatusCode.PERMISSION_DENIED, times=-1)
    with serve(org, [fault]) as server:
        live = source(server)
        with pytest.raises(SourceError, match=r"roles/cloudasset\.viewer"):
            live.load_context()
        assert len(server.fake.requests) == 1


def test_a_consumer_that_stops_stops_the_prefetching(org: list[dict[str, object]]) -> None:
    many = org + [assets.key("200", uid=f"more-{i}") for i in range(40)]
    with serve(many) as server:
        live = source(server)  # page size 2: 25 pages of keys
        stream = records(live, live.load_context())
        next(stream)
        stream.close()
        key_requests = [
            r for r in server.fake.requests if list(r.asset_types) == ["apikeys.googleapis.com/Key"]
        ]
        assert len(key_requests) <= 2 + PREFETCH_PAGES


def test_scope_is_validated() -> None:
    with pytest.raises(SourceError, match="expected organizations/NUMBER"):
        CloudAssetSource(None, "organizations/abc", FAST_RETRY, SERVICES)  # type: ignore[arg-type]
