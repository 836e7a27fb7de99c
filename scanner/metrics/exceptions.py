"""The metrics of accepted risk: what exceptions accept, and what comes back
when they lapse. Days count from the day the scan judged the keys as of, so
the figures belong to the scan and agree across replicas."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

from prometheus_client.core import GaugeMetricFamily, Metric

from scanner.config import Config
from scanner.metrics.figures import by_rule, gauge, midnight
from scanner.store.aggregates import ScanFigures

EXPIRING_WITHIN = timedelta(days=14)


def exception_metrics(config: Config, figures: ScanFigures) -> Iterator[Metric]:
    yield by_rule(
        "keysentry_findings_accepted",
        "Open findings an exception accepts, by rule and severity.",
        figures.accepted,
        config,
    )
    today = figures.evaluated_on
    in_force = [e for e in figures.exceptions if e.expires > today]
    expiring = [e for e in in_force if e.expires <= today + EXPIRING_WITHIN]
    yield gauge(
        "keysentry_exceptions_in_force",
        "Exceptions configured at the latest scan and not lapsed on its day.",
        len(in_force),
    )
    yield gauge(
        "keysentry_exceptions_expiring",
        "Exceptions in force that lapse within 14 days of the latest scan.",
        len(expiring),
    )
    yield gauge(
        "keysentry_exceptions_expiring_findings",
        "Findings accepted by exceptions that lapse within 14 days: they count again then.",
        sum(e.findings for e in expiring),
    )
    expires = GaugeMetricFamily(
        "keysentry_exception_expiry_timestamp_seconds",
        "When each exception lapsing within 14 days does so, midnight UTC "
        "(only those: the series stay few).",
        labels=["exception"],
    )
    for e in expiring:
        expires.add_metric([e.id], midnight(e.expires))
    yield expires
