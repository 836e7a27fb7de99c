"""The metrics of what is due when: open findings (those accepted left out)
by deadline bucket (overdue, 7d, 30d, later, as of the latest scan's day), by
rule and by project (the projects of keysentry_project_keys, the rest under
"(other)"), so that rotation deadlines of keys outside the top offenders show."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily, Metric

from scanner.config import Config
from scanner.rules.catalog import ALL_RULES
from scanner.store.aggregates import ScanFigures
from scanner.store.due_soon import BUCKETS


def due_metrics(config: Config, figures: ScanFigures) -> Iterator[Metric]:
    by_rule = GaugeMetricFamily(
        "keysentry_findings_due",
        "Open findings with a deadline by rule and bucket: overdue (an announced date "
        "past included), 7d (within 7 days), 30d (within 30 days), later; as of the "
        "latest scan's day.",
        labels=["rule", "due"],
    )
    dated = _dated_rules(config) - set(config.rules.disabled)
    rules = sorted({rule for rule, _ in figures.due} | dated)
    for rule in rules:  # every bucket of a dated rule: 0 rather than "no data"
        for due in BUCKETS:
            by_rule.add_metric([rule, due], figures.due.get((rule, due), 0))
    yield by_rule
    if not config.metrics.per_project:
        return
    by_project = GaugeMetricFamily(
        "keysentry_project_findings_due",
        "Open findings with a deadline by project and bucket, for the projects of "
        'keysentry_project_keys; the rest summed under project="(other)".',
        labels=["project", "due"],
    )
    for (project, due), n in sorted(figures.project_due.items()):
        by_project.add_metric([project, due], n)
    yield by_project


def _dated_rules(config: Config) -> set[str]:
    """Rules whose findings carry a deadline: the timeline's, and rotation."""
    known = {meta.id for meta in ALL_RULES}
    timeline = {rule for entry in config.timeline for rule in entry.rules}
    return (timeline | {"key-not-rotated"}) & known
