"""The metrics of the latest successful scan's figures: keys, findings,
deadlines and the worst keys."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time

from prometheus_client.core import GaugeMetricFamily, Metric

from scanner.config import Config
from scanner.core.models import KeyStatus, KeyType
from scanner.rules.catalog import ALL_RULES
from scanner.store.aggregates import ScanFigures

DISPLAY_NAME_MAX = 100  # label values stay small whatever a key is called


def midnight(day: date) -> float:
    return datetime.combine(day, time(0), UTC).timestamp()


def gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    metric = GaugeMetricFamily(name, documentation)
    metric.add_metric([], value)
    return metric


def by_rule(
    name: str, documentation: str, counts: dict[tuple[str, str], int], config: Config
) -> GaugeMetricFamily:
    """COUNTS by rule and severity; an enabled rule with none reads 0, not "no data"."""
    family = GaugeMetricFamily(name, documentation, labels=["rule", "severity"])
    seen_rules = {rule for rule, _ in counts}
    for (rule_id, severity), n in sorted(counts.items()):
        family.add_metric([rule_id, severity], n)
    for meta in ALL_RULES:
        if meta.id not in seen_rules and meta.id not in config.rules.disabled:
            family.add_metric([meta.id, meta.severity.value], 0)
    return family


def deadline_metrics(config: Config, figures: ScanFigures | None, now: float) -> Iterator[Metric]:
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
        "Keys with an open finding each timeline entry blocks or will block "
        "(accepted or not: an exception does not stop Google).",
        labels=labels,
    )
    for entry in config.timeline:
        values = [entry.id, entry.status]
        at.add_metric(values, midnight(entry.date))
        remaining.add_metric(values, midnight(entry.date) - now)
        if figures is not None:
            keys.add_metric(values, figures.deadline_keys.get(entry.id, 0))
    yield at
    yield remaining
    if figures is not None:
        yield keys


def figure_metrics(config: Config, figures: ScanFigures) -> Iterator[Metric]:
    keys = GaugeMetricFamily(
        "keysentry_keys", "Keys by status and key type.", labels=["status", "key_type"]
    )
    for status in KeyStatus:
        for key_type in KeyType:
            n = figures.keys.get((status.value, key_type.value), 0)
            keys.add_metric([status.value, key_type.value], n)
    yield keys
    yield gauge("keysentry_projects", "Projects with at least one key.", figures.projects_with_keys)
    if config.metrics.per_project:
        projects = GaugeMetricFamily(
            "keysentry_project_keys",
            "Keys by status for the projects with the worst keys (metrics.max_projects); "
            'the rest summed under project="(other)".',
            labels=["project", "status"],
        )
        for (project, project_status), n in sorted(figures.projects.items()):
            projects.add_metric([project, project_status], n)
        yield projects
    yield by_rule(
        "keysentry_findings_open",
        "Open findings by rule and severity, those an exception accepts left out.",
        figures.findings,
        config,
    )
    leaked = sum(
        n
        for counts in (figures.findings, figures.accepted)
        for (rule_id, _), n in counts.items()
        if rule_id == "key-leaked"
    )
    yield gauge(
        "keysentry_leaked_keys",
        "Keys with an open key-leaked finding: their strings were found by a secret scanner.",
        leaked,
    )
    yield from _top_keys(figures)


def _top_keys(figures: ScanFigures) -> Iterator[Metric]:
    # No status label on these: a key's series must not break when its status changes.
    # key_id (the end of the name) addresses the key's Console page.
    top_labels = ["key", "key_id", "project", "display_name", "key_type"]
    score = GaugeMetricFamily(
        "keysentry_top_key_score",
        "Score (0-100) of the worst keys (metrics.top_keys).",
        labels=top_labels,
    )
    deadline = GaugeMetricFamily(
        "keysentry_top_key_deadline_timestamp_seconds",
        "Due date of the finding that sets the status of each of the worst keys (a "
        "blocked key: the enforced deadline that blocked it), midnight UTC.",
        labels=top_labels,
    )
    status = GaugeMetricFamily(
        "keysentry_top_key_status",
        "Always 1: the status of each of the worst keys, as a label; join on `key`.",
        labels=["key", "status"],
    )
    for k in figures.top_keys:
        key_id = k.key_name.rsplit("/", 1)[-1]
        values = [k.key_name, key_id, k.project, k.display_name[:DISPLAY_NAME_MAX], k.key_type]
        score.add_metric(values, k.score)
        status.add_metric([k.key_name, k.status], 1)
        if k.deadline is not None:
            deadline.add_metric(values, midnight(k.deadline))
    yield score
    yield deadline
    yield status
