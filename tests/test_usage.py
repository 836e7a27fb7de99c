"""Usage from Cloud Monitoring through the real client over gRPC against the
fake MetricService: dormancy, keys rejected while in use, unknown stays
unknown, and per-project failures recorded without failing the scan."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import grpc
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine

from scanner.config import Config
from scanner.configfile import parse_config
from scanner.metrics.collector import StoreCollector
from scanner.report.build import build_report
from scanner.scan.engine import run_scan
from scanner.sources.inventory.export import ExportSource
from scanner.sources.usage.monitoring import UsageCollector
from tests import assets
from tests.conftest import NOW
from tests.fakes.monitoring import FakeMonitoring, FakeMonitoringServer, ProjectFault, Traffic

GEMINI = assets.GEMINI
CONFIG = parse_config("usage: {enabled: true, requests_per_second: 1000}", "c")


def org() -> list[dict[str, Any]]:
    old = "2025-01-01T00:00:00Z"
    return [
        assets.project("100", "alpha"),
        assets.project("200", "beta"),
        assets.project("300", "gamma"),
        *(assets.service(n, GEMINI) for n in ("100", "200", "300")),
        assets.key("100", uid="k-dormant", created=old),
        assets.key("100", uid="k-busy", created=old),
        assets.key("100", uid="k-used", created=old, targets=[GEMINI], server=["192.0.2.1/32"]),
        assets.key("200", uid="k-rejected", targets=[GEMINI], server=["192.0.2.1/32"]),
        assets.key(
            "200",
            uid="k-auth-rejected",
            targets=[GEMINI],
            server=["192.0.2.1/32"],
            service_account="caller@beta.iam.gserviceaccount.com",
        ),
        assets.key("300", uid="k-unknown", created=old),
    ]


def traffic() -> dict[str, list[Traffic]]:
    return {
        "alpha": [
            Traffic("apikey:k-busy", GEMINI, "4xx", {1: 40, 2: 35}),
            Traffic("apikey:k-used", GEMINI, "2xx", {1: 10, 20: 5, 60: 7}),
            Traffic("oauth2:12345", "storage.googleapis.com", "2xx", {1: 3}),
            # An old point: alpha's data covers the whole 90-day dormancy window.
            Traffic("oauth2:12345", "storage.googleapis.com", "2xx", {95: 1}),
        ],
        "beta": [
            Traffic("apikey:k-rejected", GEMINI, "4xx", {1: 8}),
            Traffic("apikey:k-rejected", GEMINI, "2xx", {2: 2}),
            Traffic("apikey:k-auth-rejected", GEMINI, "4xx", {1: 9}),
        ],
        # gamma's series carry no credential label: its keys stay unknown.
        "gamma": [Traffic("", GEMINI, "2xx", {1: 100})],
    }


def scan(engine: Engine, tmp_path: Path, fake: FakeMonitoring, config: Config = CONFIG) -> Any:
    export = assets.write_ndjson(tmp_path / "org.jsonl", org())
    with FakeMonitoringServer(fake) as server:
        usage = UsageCollector(server.client(), config.usage, config.gemini.api_services)
        run_scan(
            ExportSource([export], config.gemini.project_services), engine, config, NOW, usage=usage
        )
    report = build_report(engine)
    return report, {k.uid: k for k in report.iter_keys()}


def rules(key: Any) -> set[str]:
    return {f.rule for f in key.findings}


def test_usage_drives_dormancy_and_rejected_in_use(engine: Engine, tmp_path: Path) -> None:
    report, keys = scan(engine, tmp_path, FakeMonitoring(traffic()))
    assert "gemini-dormant-unrestricted-key" in rules(keys["k-dormant"])
    assert "gemini-dormant-unrestricted-key" not in rules(keys["k-busy"])
    assert "gemini-key-rejected-in-use" in rules(keys["k-busy"])  # blocked, still called
    assert "gemini-key-rejected-in-use" in rules(keys["k-rejected"])  # 8 of 10 rejected
    # Refused by Gemini, as usage shows: blocked by observation, whatever the timeline.
    assert keys["k-rejected"].status.value == "blocked"
    # An auth key is what the migration leads to: its rejections have another cause.
    checklists = {
        uid: next(f.checklist for f in keys[uid].findings if f.rule == "gemini-key-rejected-in-use")
        for uid in ("k-rejected", "k-auth-rejected")
    }
    assert checklists == {
        "k-rejected": "migrate-to-auth-key",
        "k-auth-rejected": "diagnose-gemini-rejections",
    }
    assert "gemini-key-rejected-in-use" not in rules(keys["k-used"])
    # No credential data in gamma: unknown, never "unused".
    assert "gemini-dormant-unrestricted-key" not in rules(keys["k-unknown"])
    assert not any("usage not evaluated" in n for n in report.scan.notes)


def test_a_project_failure_is_partial_evidence_not_a_failed_scan(
    engine: Engine, tmp_path: Path
) -> None:
    faults = [
        ProjectFault("projects/beta", grpc.StatusCode.PERMISSION_DENIED, times=-1),
        ProjectFault("projects/alpha", grpc.StatusCode.RESOURCE_EXHAUSTED, times=1),
    ]
    fake = FakeMonitoring(traffic(), faults)
    report, keys = scan(engine, tmp_path, fake)
    assert report.scan.status == "succeeded"
    assert any(
        n.startswith("usage unknown for keys of 1 project(s): beta:") and "monitoring.viewer" in n
        for n in report.scan.notes
    )
    assert "gemini-key-rejected-in-use" not in rules(keys["k-rejected"])  # unknown there
    assert "gemini-key-rejected-in-use" in rules(keys["k-busy"])  # alpha retried, then fine
    first_pages = [r for r in fake.requests if r.name == "projects/alpha" and not r.page_token]
    assert len(first_pages) == 2  # the exhausted attempt, then its retry
    # The scan records how thin its evidence was, and /metrics shows it.
    coverage = report.scan.counts["coverage"]
    assert coverage["usage"] == {"used": True, "covered": 2, "failed": 1}
    assert coverage["audit"] == {"used": False, "covered": 0, "failed": 0}
    assert coverage["inventory"] == {"used": True, "covered": 3, "failed": 0}
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StoreCollector(engine, CONFIG))
    exported = {
        (s.name, s.labels.get("source"), s.labels.get("outcome")): s.value
        for family in text_string_to_metric_families(generate_latest(registry).decode())
        for s in family.samples
        if s.name.startswith(("keysentry_source_", "keysentry_coverage_"))
    }
    assert exported[("keysentry_source_projects", "usage", "failed")] == 1
    assert exported[("keysentry_source_projects", "usage", "covered")] == 2
    assert exported[("keysentry_source_used", "audit", None)] == 0
    assert exported[("keysentry_coverage_min_share", None, None)] == 0.95


def test_the_query_asks_for_daily_sums_by_credential(engine: Engine, tmp_path: Path) -> None:
    fake = FakeMonitoring(traffic())
    scan(engine, tmp_path, fake)
    request = next(r for r in fake.requests if r.name == "projects/alpha")
    assert 'resource.type = "consumed_api"' in request.filter
    assert request.aggregation.alignment_period.seconds == 86400
    assert "resource.labels.credential_id" in request.aggregation.group_by_fields
    span = request.interval.end_time.seconds - request.interval.start_time.seconds
    assert span == 90 * 86400


def test_the_report_shows_each_keys_latest_usage(engine: Engine, tmp_path: Path) -> None:
    from datetime import timedelta

    from scanner.report.documents import key_document

    _, keys = scan(engine, tmp_path, FakeMonitoring(traffic()))
    used = key_document(keys["k-used"])
    assert (used["requests_7d"], used["requests_30d"]) == (10, 15)
    assert used["last_used"] == (NOW - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert key_document(keys["k-rejected"])["gemini_rejected_7d"] == 8
    dormant = key_document(keys["k-dormant"])
    assert (dormant["last_used"], dormant["requests_30d"]) == (None, 0)  # known: unused
    unknown = key_document(keys["k-unknown"])
    assert (unknown["last_used"], unknown["requests_7d"]) == (None, None)  # unknown


def test_each_key_keeps_what_it_called_per_service(engine: Engine, tmp_path: Path) -> None:
    """Per service over the lookback: requests by response class, first and
    last day, busiest first; the days the project's series cover; kept as a
    usage interval that a scan rewrites only when it changed."""
    from datetime import timedelta

    from sqlalchemy import func, select

    from scanner.report.documents import key_document
    from scanner.report.key_history import key_history
    from scanner.store.tables import UsageVersion

    def shared() -> dict[str, list[Traffic]]:
        figures = traffic()
        figures["alpha"] += [
            Traffic("apikey:k-used", "Translate.googleapis.com", "2xx", {3: 4, 40: 6}),
            Traffic("apikey:k-used", "translate.googleapis.com", "4xx", {3: 1}),
            Traffic("apikey:k-used", "maps.googleapis.com", "2xx", {95: 50}),  # before the lookback
        ]
        return figures

    _, keys = scan(engine, tmp_path, FakeMonitoring(shared()))
    used = key_document(keys["k-used"])
    day = lambda n: (NOW - timedelta(days=n)).date().isoformat()  # noqa: E731
    assert used["usage_by_service"] == [
        {
            "service": GEMINI,
            "requests": 22,
            "by_class": {"2xx": 22},
            "first_day": day(60),
            "last_day": day(1),
        },
        {
            "service": "translate.googleapis.com",
            "requests": 11,
            "by_class": {"2xx": 10, "4xx": 1},
            "first_day": day(40),
            "last_day": day(3),
        },
    ]
    assert used["usage_covered_days"] == 90  # alpha's oldest point is 95 days old
    assert key_document(keys["k-rejected"])["usage_covered_days"] == 2  # beta's reach 2 days
    assert key_document(keys["k-dormant"])["usage_by_service"] == []
    with engine.connect() as conn:
        history = key_history(conn, "k-used")
    assert [s["service"] for s in history.usage[-1]["services"]] == [
        GEMINI,
        "translate.googleapis.com",
    ]

    def intervals() -> int:
        with engine.connect() as conn:
            return conn.scalar(select(func.count()).select_from(UsageVersion)) or 0

    before = intervals()
    scan(engine, tmp_path, FakeMonitoring(shared()))
    assert intervals() == before  # the same figures: nothing written
    changed = shared()
    changed["alpha"][-2] = Traffic("apikey:k-used", "translate.googleapis.com", "4xx", {3: 2})
    _, keys = scan(engine, tmp_path, FakeMonitoring(changed))
    assert intervals() == before + 1  # k-used's figures moved, only its own
    assert key_document(keys["k-used"])["usage_by_service"][1]["by_class"] == {"2xx": 10, "4xx": 2}
