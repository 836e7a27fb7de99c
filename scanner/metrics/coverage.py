"""The metrics of evidence coverage: which sources the latest scan used and
how many projects each covered or failed for, with the share below which the
alerting rule fires (metrics.coverage_min_share)."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily, Metric

from scanner.config import Config
from scanner.metrics.figures import gauge
from scanner.scan.coverage import SOURCES
from scanner.store.aggregates import ScanFigures


def coverage_metrics(config: Config, figures: ScanFigures) -> Iterator[Metric]:
    used = GaugeMetricFamily(
        "keysentry_source_used",
        "1 if the latest scan read this evidence source, else 0.",
        labels=["source"],
    )
    projects = GaugeMetricFamily(
        "keysentry_source_projects",
        "Projects each evidence source covered or failed for in the latest scan.",
        labels=["source", "outcome"],
    )
    for source in SOURCES:
        entry = figures.coverage.get(source)
        if entry is None:
            continue  # a scan recorded before coverage was: no figure rather than a wrong one
        used.add_metric([source], 1 if entry.get("used") else 0)
        projects.add_metric([source, "covered"], int(entry.get("covered", 0)))
        projects.add_metric([source, "failed"], int(entry.get("failed", 0)))
    yield used
    yield projects
    yield gauge(
        "keysentry_coverage_min_share",
        "The share of projects a used source must cover (metrics.coverage_min_share).",
        config.metrics.coverage_min_share,
    )
