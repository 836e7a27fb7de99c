"""Prometheus metrics, built afresh from the store on each scrape: values
survive restarts and agree across replicas. Only the scan lock, the skipped
runs and the next run time are this process's own."""

from __future__ import annotations

import logging
import platform
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    InfoMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from scanner import __version__
from scanner.config import Config
from scanner.leaks.lookup import Outcome
from scanner.metrics.coverage import coverage_metrics
from scanner.metrics.due import due_metrics
from scanner.metrics.exceptions import exception_metrics
from scanner.metrics.figures import deadline_metrics, figure_metrics, gauge
from scanner.metrics.flow import flow_metrics
from scanner.store.aggregates import ScanFigures, ScanHealth, read_figures, read_health
from scanner.store.figures import stored_figures
from scanner.store.leaks import outcome_counts
from scanner.store.lock import ScanLock

log = logging.getLogger(__name__)


@dataclass
class WorkerState:
    """What only this replica knows."""

    lock: ScanLock
    next_run: Callable[[], datetime | None]
    skipped: Counter[str] = field(default_factory=Counter)  # reason -> runs


class StoreCollector(Collector):
    def __init__(
        self,
        engine: Engine,
        config: Config,
        state: WorkerState | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._engine = engine
        self._config = config
        self._state = state
        self._clock = clock
        self._figures: ScanFigures | None = None
        self._figures_lock = threading.Lock()

    def describe(self) -> list[Metric]:
        return []  # the metrics depend on the store; do not collect at registration

    def collect(self) -> Iterator[Metric]:
        info = InfoMetricFamily("keysentry_build", "The running keysentry version.")
        info.add_metric([], {"version": __version__, "python_version": platform.python_version()})
        yield info
        yield from self._worker_metrics()
        up = GaugeMetricFamily(
            "keysentry_store_up", "1 if the history database answered this scrape."
        )
        try:
            health = read_health(self._engine)
            figures = self._figures_for(health)
            with self._engine.connect() as conn:
                leak_reports = outcome_counts(conn)
        except SQLAlchemyError as exc:
            log.warning("metrics: the history database did not answer: %s", exc.__class__.__name__)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from self._health_metrics(health)
        yield from deadline_metrics(self._config, figures, self._clock().timestamp())
        reports = GaugeMetricFamily(
            "keysentry_leak_reports",
            "Imported secret-scanner reports of key strings, by what LookupKey said.",
            labels=["outcome"],
        )
        for outcome in Outcome:
            reports.add_metric([outcome.value], leak_reports.get(outcome.value, 0))
        yield reports
        if figures is not None:
            yield from figure_metrics(self._config, figures)
            yield from exception_metrics(self._config, figures)
            yield from coverage_metrics(self._config, figures)
            yield from due_metrics(self._config, figures)
            yield from flow_metrics(self._config, figures.flow)

    def _figures_for(self, health: ScanHealth) -> ScanFigures | None:
        latest = health.latest_succeeded
        if latest is None:
            return None
        with self._figures_lock:
            if self._figures is None or self._figures.scan_id != latest.id:
                m = self._config.metrics
                top = m.top_keys
                cap = m.max_projects if m.per_project else 0
                with self._engine.connect() as conn:
                    stored = stored_figures(conn, latest.id, top, cap)
                self._figures = stored or read_figures(self._engine, latest.id, top, cap)
            return self._figures

    def _worker_metrics(self) -> Iterator[Metric]:
        if self._state is None:
            return
        held = GaugeMetricFamily(
            "keysentry_scan_lock_held", "1 while this replica holds the scan lock (is scanning)."
        )
        held.add_metric([], 1 if self._state.lock.held else 0)
        yield held
        skipped = CounterMetricFamily(
            "keysentry_scans_skipped",
            "Scheduled scans this replica did not run, by reason.",
            labels=["reason"],
        )
        for reason in ("lock_held", "recent_scan", "overlap", "missed"):
            skipped.add_metric([reason], self._state.skipped.get(reason, 0))
        yield skipped
        next_run = self._state.next_run()
        if next_run is not None:
            yield gauge(
                "keysentry_next_scan_timestamp_seconds",
                "When this replica scans next.",
                next_run.timestamp(),
            )

    def _health_metrics(self, health: ScanHealth) -> Iterator[Metric]:
        outcomes = CounterMetricFamily(
            "keysentry_scans", "Scans recorded in history, by outcome.", labels=["outcome"]
        )
        for outcome, n in health.outcomes.items():
            outcomes.add_metric([outcome], n)
        yield outcomes
        errors = CounterMetricFamily(
            "keysentry_scan_errors",
            "Failed scans by the stage they stopped in "
            "(inventory, evaluate, store, shutdown, abandoned).",
            labels=["stage"],
        )
        for stage in ("inventory", "evaluate", "store", "alerts", "shutdown", "abandoned"):
            errors.add_metric([stage], health.errors_by_stage.get(stage, 0))
        yield errors
        running = GaugeMetricFamily(
            "keysentry_scan_running", "Scans marked running in history (any replica)."
        )
        running.add_metric([], health.running)
        yield running
        if health.latest_finished is not None:
            success = GaugeMetricFamily(
                "keysentry_last_scan_success", "1 if the most recent finished scan succeeded."
            )
            success.add_metric([], 1 if health.latest_finished.status == "succeeded" else 0)
            yield success
        ok = health.latest_succeeded
        if ok is None or ok.finished_at is None:
            return
        yield gauge(
            "keysentry_last_successful_scan_timestamp_seconds",
            "When the latest successful scan finished.",
            ok.finished_at.timestamp(),
        )
        yield gauge(
            "keysentry_last_scan_duration_seconds",
            "How long the latest successful scan took.",
            (ok.finished_at - ok.started_at).total_seconds(),
        )
        yield gauge(
            "keysentry_last_scan_assets_read",
            "Assets the latest successful scan read.",
            ok.assets_read,
        )
        yield gauge(
            "keysentry_last_scan_evaluated_timestamp_seconds",
            "The instant the latest successful scan judged the keys as of.",
            ok.evaluated_at.timestamp(),
        )
