"""The figures a scan counts and stores for the metrics must be what reading
its history gives (store.aggregates.read_figures): over the auditor story
(restrictions, deletions, keys leaving and coming back, a rule disabled) and
over the sample organization with its exceptions, usage and audit log, for
several caps of the per-project and top-key series. A scan whose figures are
missing (recorded before they were stored) is read from history, and the
scan after it totals its flow from all of history again."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from sqlalchemy import Engine, delete, func, select

from scanner.config import Config, MetricsConfig
from scanner.configfile import load_config
from scanner.metrics.collector import StoreCollector
from scanner.scan.engine import run_scan
from scanner.scan.figures_tally import TOP_KEYS_KEPT
from scanner.sources.inventory.export import ExportSource
from scanner.store.aggregates import read_figures
from scanner.store.figures import stored_figures
from scanner.store.tables import FigureRow, Scan
from tests.auditor_org import build_history
from tests.conftest import NOW

SAMPLES = Path(__file__).parent.parent / "scanner" / "samples"
CAPS = [(50, 200), (2, 1), (TOP_KEYS_KEPT, 0)]


def succeeded(engine: Engine) -> list[int]:
    with engine.connect() as conn:
        return list(conn.scalars(select(Scan.id).where(Scan.status == "succeeded")))


def assert_stored_as_read(engine: Engine) -> None:
    ids = succeeded(engine)
    assert ids
    with engine.connect() as conn:
        for scan_id in ids:
            for top, cap in CAPS:
                stored = stored_figures(conn, scan_id, top, cap)
                assert stored is not None
                assert stored == read_figures(engine, scan_id, top, cap), (scan_id, top, cap)


def test_the_auditor_story(engine: Engine, db_url: str, tmp_path: Path) -> None:
    history = build_history(engine, db_url, tmp_path)
    assert_stored_as_read(engine)
    with engine.connect() as conn:  # the story's flow is not empty: the check above means something
        last = stored_figures(conn, succeeded(engine)[-1], 50, 200)
    assert last is not None and last.flow.resolved and last.flow.remediation
    assert last.flow.newly_blocked
    # Scan 6's figures lost (as if recorded before they were): the metrics
    # read them from history, and scan 7 totals its flow from all of it.
    sixth = history.outcomes[6].scan_id
    with engine.begin() as conn:
        conn.execute(delete(FigureRow).where(FigureRow.scan_id == sixth))
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StoreCollector(engine, Config()))
    body = generate_latest(registry).decode()
    assert 'keysentry_findings_resolved_total{reason="fixed",rule="key-api-unrestricted"}' in body
    with engine.connect() as conn:
        assert stored_figures(conn, sixth, 50, 200) is None
    history.scan(7, Config())
    with engine.connect() as conn:
        seventh = stored_figures(conn, history.outcomes[7].scan_id, 50, 200)
    assert seventh == read_figures(engine, history.outcomes[7].scan_id, 50, 200)


def test_the_sample_organization_with_exceptions(engine: Engine, tmp_path: Path) -> None:
    config = load_config(SAMPLES / "demo-exceptions.yaml")
    export = SAMPLES / "demo-org.jsonl"
    for day in (0, 1, 9):
        source = ExportSource([export], config.gemini.project_services)
        run_scan(source, engine, config, NOW + timedelta(days=day))
    with engine.connect() as conn:
        accepted = stored_figures(conn, succeeded(engine)[-1], 50, 200)
        rows = conn.scalar(select(func.count()).select_from(FigureRow))
    assert accepted is not None and accepted.accepted and accepted.due and accepted.project_due
    assert rows == 3
    assert_stored_as_read(engine)


def test_more_top_keys_than_kept_are_read_from_history(engine: Engine, tmp_path: Path) -> None:
    config = Config(metrics=MetricsConfig(top_keys=TOP_KEYS_KEPT + 1))
    source = ExportSource([SAMPLES / "demo-org.jsonl"], config.gemini.project_services)
    scan_id = run_scan(source, engine, config, NOW).scan_id
    with engine.connect() as conn:
        assert stored_figures(conn, scan_id, TOP_KEYS_KEPT + 1, 200) is None
        assert stored_figures(conn, scan_id, TOP_KEYS_KEPT, 200) is not None


ACCEPT_GEMINI_STANDARD = """
exceptions:
  - id: standard-keys-handover
    rules: [gemini-standard-key]
    projects: [ml-sandbox, support-bot]
    reason: Moving to auth keys with the vendor.
    approved_by: security-lead@example.com
    expires: 2026-12-20
"""


@pytest.mark.parametrize(
    "days",
    [["2026-07-01", "2026-08-02", "2026-08-25", "2026-09-01", "2026-09-02"]],
    ids=["around-09-01"],
)
def test_deadlines_on_the_edges_of_each_bucket(
    engine: Engine, tmp_path: Path, days: list[str]
) -> None:
    """Scans 30 and 7 days before a timeline date, on it and after it, with
    some of its findings accepted: every bucket boundary and the deadline
    counts of accepted findings are crossed."""
    path = tmp_path / "exceptions.yaml"
    path.write_text(ACCEPT_GEMINI_STANDARD)
    config = load_config(path)
    for day in days:
        source = ExportSource([SAMPLES / "demo-org.jsonl"], config.gemini.project_services)
        run_scan(source, engine, config, datetime.fromisoformat(day + "T00:00:00+00:00"))
    with engine.connect() as conn:
        seen = [stored_figures(conn, i, 50, 200) for i in succeeded(engine)]
    assert all(f is not None and f.accepted for f in seen)
    buckets = {bucket for f in seen if f is not None for (_, bucket) in f.due}
    assert {"overdue", "7d", "30d", "later"} <= buckets
    assert_stored_as_read(engine)


def test_a_dry_run_stores_no_figures(engine: Engine) -> None:
    config = Config()
    source = ExportSource([SAMPLES / "demo-org.jsonl"], config.gemini.project_services)
    run_scan(source, engine, config, NOW, dry_run=lambda conn, scan_id: None)
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(FigureRow)) == 0
