"""Key events from Cloud Audit Logs through the real client over gRPC against
the fake LoggingServiceV2: creators, "restrictions removed by X on D", an
explicit time window, events stored once, and failures as partial evidence."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine, func, select

from scanner.configfile import parse_config
from scanner.metrics.collector import StoreCollector
from scanner.report.build import build_report
from scanner.report.documents import key_document
from scanner.scan.engine import run_scan
from scanner.sources.audit.logs import AuditLogReader
from scanner.sources.inventory.export import ExportSource
from scanner.store.tables import KeyEventRow
from tests import assets
from tests.conftest import NOW
from tests.fakes.logging import Change, FakeLogging, FakeLoggingServer
from tests.fakes.monitoring import ProjectFault

CONFIG = parse_config("audit: {enabled: true, projects_per_request: 1}", "c")
KEY = "projects/100/locations/global/keys/{}"


def org() -> list[dict[str, Any]]:
    return [
        assets.project("100", "alpha"),
        assets.project("200", "beta"),
        assets.key("100", uid="k-made", targets=[assets.GEMINI], server=["192.0.2.1/32"]),
        assets.key("100", uid="k-opened"),
        assets.key(
            "200", uid="k-beta", targets=["maps-backend.googleapis.com"], server=["192.0.2.1/32"]
        ),
    ]


def changes() -> list[Change]:
    return [
        Change(
            "alpha", KEY.format("k-made"), "CreateKey", "dev@example.com", NOW - timedelta(days=3)
        ),
        Change(
            "alpha",
            "projects/alpha/locations/global/keys/k-opened",
            "CreateKey",
            "ci@alpha.iam.gserviceaccount.com",
            NOW - timedelta(days=5),
        ),
        Change(
            "alpha",
            KEY.format("k-opened"),
            "UpdateKey",
            "mallory@example.com",
            NOW - timedelta(days=1),
            {
                "key": {"name": KEY.format("k-opened"), "restrictions": {}},
                "updateMask": "restrictions",
            },
        ),
        # Long before the first scan's window: not read.
        Change(
            "alpha", KEY.format("k-old"), "CreateKey", "old@example.com", NOW - timedelta(days=90)
        ),
    ]


def scan(engine: Engine, tmp_path: Path, fake: FakeLogging, at: Any = NOW) -> Any:
    export = assets.write_ndjson(tmp_path / "org.jsonl", org())
    with FakeLoggingServer(fake) as server:
        reader = AuditLogReader(server.client(), CONFIG.audit)
        source = ExportSource([export], CONFIG.gemini.project_services)
        run_scan(source, engine, CONFIG, at, audit=reader)
    report = build_report(engine)
    return report, {k.uid: key_document(k) for k in report.iter_keys()}


def test_creators_and_removed_restrictions(engine: Engine, tmp_path: Path) -> None:
    fake = FakeLogging(changes())
    _, keys = scan(engine, tmp_path, fake)
    assert keys["k-made"]["creator"] == "dev@example.com"
    assert "dev@example.com" in keys["k-made"]["owners"]  # a person: an owner too
    # Named by project id in the entry; matched to the key named by number.
    assert keys["k-opened"]["creator"] == "ci@alpha.iam.gserviceaccount.com"
    assert "ci@alpha.iam.gserviceaccount.com" not in keys["k-opened"]["owners"]
    assert keys["k-opened"]["restrictions_removed"] == {
        "by": "mallory@example.com",
        "at": (NOW - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    assert keys["k-beta"]["creator"] is None and keys["k-beta"]["restrictions_removed"] is None
    every_filter = [r.filter for r in fake.requests]
    assert all('timestamp>="' in f and 'timestamp<"' in f for f in every_filter)


def test_later_scans_read_since_the_last_one_and_store_each_event_once(
    engine: Engine, tmp_path: Path
) -> None:
    fake = FakeLogging(changes())
    scan(engine, tmp_path, fake)
    fake.changes.append(
        Change(
            "beta",
            "projects/200/locations/global/keys/k-beta",
            "CreateKey",
            "bea@example.com",
            NOW + timedelta(hours=2),
        )
    )
    _, keys = scan(engine, tmp_path, fake, NOW + timedelta(hours=6))
    assert keys["k-beta"]["creator"] == "bea@example.com"
    assert keys["k-made"]["creator"] == "dev@example.com"  # kept from the first scan
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(KeyEventRow)) == 4
    second_scan = fake.requests[-1].filter
    assert f'timestamp>="{NOW:%Y-%m-%dT%H:%M:%S}.000000Z"' in second_scan


def test_a_refused_project_is_a_note_not_a_failed_scan(engine: Engine, tmp_path: Path) -> None:
    faults = [
        ProjectFault("projects/beta", grpc.StatusCode.PERMISSION_DENIED, times=-1),
        ProjectFault("projects/alpha", grpc.StatusCode.UNAVAILABLE, times=1),  # retried
    ]
    fake = FakeLogging(changes(), faults)
    report, keys = scan(engine, tmp_path, fake)
    assert report.scan.status == "succeeded"
    assert any("projects/beta" in n and "logging.viewer" in n for n in report.scan.notes)
    assert keys["k-made"]["creator"] == "dev@example.com"
    first_pages = [r for r in fake.requests if "projects/alpha" in r.resource_names]
    # Admin Activity twice (refused once, then retried), Data Access once.
    assert len([r for r in first_pages if not r.page_token]) == 3


REAL = Path(__file__).parent / "data" / "real"


def test_real_entries_of_both_api_versions_over_grpc(engine: Engine, tmp_path: Path) -> None:
    """The live reader on entries in Google's shapes: the project in
    resourceName and the key in response.name (v2 CreateKey), the key as
    response.keyId (v1), two entries per operation counted once."""
    documents = [
        *json.loads((REAL / "audit-apikeys-v2.json").read_text()),
        *json.loads((REAL / "audit-apikeys-v1.json").read_text()),
    ]
    export = REAL / "asset-export-keys.jsonl"
    config = parse_config("audit: {enabled: true, first_lookback_days: 400}", "c")
    fake = FakeLogging([], documents=documents)
    with FakeLoggingServer(fake) as server:
        reader = AuditLogReader(server.client(), config.audit)
        source = ExportSource([export], config.gemini.project_services)
        run_scan(source, engine, config, datetime(2026, 12, 1, tzinfo=UTC), audit=reader)
    keys = {k.name: key_document(k) for k in build_report(engine).iter_keys()}
    chosen = keys["projects/314159265358/locations/global/keys/payments-gemini"]
    assert chosen["creator"] == "terraform@acme-payments.iam.gserviceaccount.com"
    young = keys["projects/314159265358/locations/global/keys/a0b1c2d3-e4f5-4a6b-8c7d-9e0f1a2b3c4d"]
    assert young["creator"] == "lee@example.com"
    opened = keys[
        "projects/314159265358/locations/global/keys/3d9e8f7a-1b2c-4d5e-9f0a-1b2c3d4e5f60"
    ]
    assert opened["restrictions_removed"]["by"] == "ops-oncall@example.com"
    with engine.connect() as conn:
        stored = conn.execute(select(KeyEventRow.insert_id, KeyEventRow.method)).all()
    # Five entries: two operations of two entries each and one v1 call.
    assert len(stored) == 3
    assert sum(1 for insert_id, _ in stored if insert_id.startswith("operation:")) == 2
    assert "CreateApiKey" in fake.requests[0].filter and "CloneKey" in fake.requests[0].filter
    # The one UpdateKey that left no restriction is what the counter counts.
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StoreCollector(engine, config))
    exposition = generate_latest(registry).decode()
    (removed,) = [
        s.value
        for family in text_string_to_metric_families(exposition)
        for s in family.samples
        if s.name == "keysentry_restrictions_removed_total"
    ]
    assert removed == 1


def _field_scan(engine: Engine, fake: FakeLogging) -> Any:
    """A scan of the search-result keys with the live reader on FAKE."""
    config = parse_config("audit: {enabled: true, first_lookback_days: 400}", "c")
    with FakeLoggingServer(fake) as server:
        reader = AuditLogReader(server.client(), config.audit)
        source = ExportSource([REAL / "asset-search-keys.json"], config.gemini.project_services)
        run_scan(source, engine, config, datetime(2026, 12, 1, tzinfo=UTC), audit=reader)
    return build_report(engine)


def test_the_data_access_log_says_who_read_a_key_string(engine: Engine) -> None:
    """GetKeyString is only in the Data Access log: the reader asks it with its
    own filter and keeps who read the string and from where; the v1 and
    v2beta1 methods come from the Admin Activity log."""
    fake = FakeLogging([], documents=json.loads((REAL / "audit-apikeys-field.json").read_text()))
    _field_scan(engine, fake)
    with engine.connect() as conn:
        stored = {
            (row.method, row.principal, row.caller_ip) for row in conn.execute(select(KeyEventRow))
        }
    assert stored == {
        ("GetKeyString", "dana@example.com", "198.51.100.23"),
        ("GetKeyString", "ci-deployer@acme-mobile.iam.gserviceaccount.com", "203.0.113.9"),
        ("RegenerateKey", "lee@example.com", "192.0.2.44"),
        ("RevertKey", "lee@example.com", "192.0.2.44"),
        ("UpdateKey", "ops-oncall@example.com", "192.0.2.80"),
    }
    data_access = [r.filter for r in fake.requests if "data_access" in r.filter]
    assert data_access and all('methodName:"GetKeyString"' in f for f in data_access)
    assert all("CreateKey" not in f for f in data_access)


def test_a_refused_data_access_log_is_a_note_and_the_rest_stands(engine: Engine) -> None:
    fake = FakeLogging(
        [],
        documents=json.loads((REAL / "audit-apikeys-field.json").read_text()),
        refused_logs={"cloudaudit.googleapis.com%2Fdata_access"},
    )
    report = _field_scan(engine, fake)
    assert report.scan.status == "succeeded"
    assert any("Data Access" in n and "privateLogViewer" in n for n in report.scan.notes)
    with engine.connect() as conn:
        methods = {row.method for row in conn.execute(select(KeyEventRow))}
    assert methods == {"RegenerateKey", "RevertKey", "UpdateKey"}
