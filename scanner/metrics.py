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
from datetime import UTC, date, datetime, time

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
from scanner.models import KeyStatus, KeyType
from scanner.rules.catalog import ALL_RULES
from scanner.store.aggregates import ScanFigures, ScanHealth, read_figures, read_health
from scanner.store.leaks import outcome_counts
from scanner.store.lock import ScanLock

log = logging.getLogger(__name__)
DISPLAY_NAME_MAX = 100  # label values stay small whatever a key is called


@dataclass
class WorkerState:
    """What only this replica knows."""

    lock: ScanLock
    next_run: Callable[[], datetime | None]
    skipped: Counter[str] = field(default_factory=Counter)  # reason -> runs


def _midnight(day: date) -> float:
    return datetime.combine(day, time(0), UTC).timestamp()


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
        yield from self._deadline_metrics(figures)
        reports = GaugeMetricFamily(
            "keysentry_leak_reports",
            "Imported secret-scanner reports of key strings, by what LookupKey said.",
            labels=["outcome"],
        )
        for outcome in Outcome:
            reports.add_metric([outcome.value], leak_reports.get(outcome.value, 0))
        yield reports
        if figures is not None:
            yield from self._figure_metrics(figures)

    def _figures_for(self, health: ScanHealth) -> ScanFigures | None:
        latest = health.latest_succeeded
        if latest is None:
            return None
        with self._figures_lock:
            if self._figures is None or self._figures.scan_id != latest.id:
                m = self._config.metrics
                top = m.top_keys
                cap = m.max_projects if m.per_project else 0
                self._figures = read_figures(self._engine, latest.id, top, cap)
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
            yield _gauge(
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
        yield _gauge(
            "keysentry_last_successful_scan_timestamp_seconds",
            "When the latest successful scan finished.",
            ok.finished_at.timestamp(),
        )
        yield _gauge(
            "keysentry_last_scan_duration_seconds",
            "How long the latest successful scan took.",
            (ok.finished_at - ok.started_at).total_seconds(),
        )
        yield _gauge(
            "keysentry_last_scan_assets_read",
            "Assets the latest successful scan read.",
            ok.assets_read,
        )
        yield _gauge(
            "keysentry_last_scan_evaluated_timestamp_seconds",
            "The instant the latest successful scan judged the keys as of.",
            ok.evaluated_at.timestamp(),
        )

    def _deadline_metrics(self, figures: ScanFigures | None) -> Iterator[Metric]:
        labels = ["timeline_entry", "enforcement"]
        at = GaugeMetricFamily(
            "keysentry_deadline_timestamp_seconds",
            "When each timeline entry takes (or took) effect, midnight UTC.",
            labels=labels,
        )
        remaining = GaugeMetricFamily(
            "keysentry_deadline_remaining_seconds",
            "Seconds until each timeline entry takes effect; negative once it has.",
            labels=labels,
        )
        keys = GaugeMetricFamily(
            "keysentry_deadline_keys",
            "Keys with an open finding each timeline entry blocks or will block.",
            labels=labels,
        )
        now = self._clock().timestamp()
        for entry in self._config.timeline:
            values = [entry.id, entry.status]
            at.add_metric(values, _midnight(entry.date))
            remaining.add_metric(values, _midnight(entry.date) - now)
            if figures is not None:
                keys.add_metric(values, figures.deadline_keys.get(entry.id, 0))
        yield at
        yield remaining
        if figures is not None:
            yield keys

    def _figure_metrics(self, figures: ScanFigures) -> Iterator[Metric]:
        keys = GaugeMetricFamily(
            "keysentry_keys", "Keys by status and key type.", labels=["status", "key_type"]
        )
        for status in KeyStatus:
            for key_type in KeyType:
                n = figures.keys.get((status.value, key_type.value), 0)
                keys.add_metric([status.value, key_type.value], n)
        yield keys
        yield _gauge(
            "keysentry_projects", "Projects with at least one key.", figures.projects_with_keys
        )
        if self._config.metrics.per_project:
            projects = GaugeMetricFamily(
                "keysentry_project_keys",
                "Keys by status for the projects with the worst keys (metrics.max_projects); "
                'the rest summed under project="(other)".',
                labels=["project", "status"],
            )
            for (project, project_status), n in sorted(figures.projects.items()):
                projects.add_metric([project, project_status], n)
            yield projects
        findings = GaugeMetricFamily(
            "keysentry_findings_open",
            "Open findings by rule and severity.",
            labels=["rule", "severity"],
        )
        seen_rules = {rule for rule, _ in figures.findings}
        for (rule_id, severity), n in sorted(figures.findings.items()):
            findings.add_metric([rule_id, severity], n)
        for meta in ALL_RULES:  # a rule with nothing open reads 0, not "no data"
            if meta.id not in seen_rules and meta.id not in self._config.rules.disabled:
                findings.add_metric([meta.id, meta.severity.value], 0)
        yield findings
        yield _gauge(
            "keysentry_leaked_keys",
            "Keys with an open key-leaked finding: their strings were found by a secret scanner.",
            sum(n for (rule_id, _), n in figures.findings.items() if rule_id == "key-leaked"),
        )
        top_labels = ["key", "project", "display_name", "status", "key_type"]
        score = GaugeMetricFamily(
            "keysentry_top_key_score",
            "Score (0-100) of the worst keys (metrics.top_keys).",
            labels=top_labels,
        )
        deadline = GaugeMetricFamily(
            "keysentry_top_key_deadline_timestamp_seconds",
            "Nearest deadline of each of the worst keys, midnight UTC.",
            labels=top_labels,
        )
        for k in figures.top_keys:
            values = [
                k.key_name,
                k.project,
                k.display_name[:DISPLAY_NAME_MAX],
                k.status,
                k.key_type,
            ]
            score.add_metric(values, k.score)
            if k.deadline is not None:
                deadline.add_metric(values, _midnight(k.deadline))
        yield score
        yield deadline


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    metric = GaugeMetricFamily(name, documentation)
    metric.add_metric([], value)
    return metric
