"""The metrics of flow, from history up to the latest scan: counters of
findings opened and resolved (by reason) and of keys newly blocked, and a
histogram of how long remediated findings stayed open. Being totals read from
the store, they survive restarts and agree across replicas; increase() over
them gives the flow per day or week."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric

from scanner.config import Config
from scanner.core.models import DeadlineKind
from scanner.core.reasons import Reason
from scanner.rules.catalog import ALL_RULES
from scanner.store.flow import BUCKETS, Flow, Remediated


def _blocking_rules(config: Config) -> set[str]:
    """The rules that can block a key: those an enforced timeline entry dates."""
    enforced = DeadlineKind.ENFORCED.value
    return {rule for rule, entry in config.deadlines().items() if entry.status == enforced}


def flow_metrics(config: Config, flow: Flow) -> Iterator[Metric]:
    rules = sorted(
        {meta.id for meta in ALL_RULES if meta.id not in config.rules.disabled}
        | set(flow.opened)
        | {rule for rule, _ in flow.resolved}
    )
    opened = CounterMetricFamily(
        "keysentry_findings_opened",
        "Findings opened (or come back) since the first scan.",
        labels=["rule"],
    )
    for rule in rules:
        opened.add_metric([rule], flow.opened.get(rule, 0))
    yield opened
    resolved = CounterMetricFamily(
        "keysentry_findings_resolved",
        "Findings resolved since the first scan, by rule and the reason the resolution "
        "carries (fixed, key_deleted, left_inventory, rule_disabled, evidence_missing, "
        "config_changed, accepted).",
        labels=["rule", "reason"],
    )
    remediated = (Reason.FIXED.value, Reason.KEY_DELETED.value, Reason.LEFT_INVENTORY.value)
    for rule in rules:
        for reason in remediated:  # the remediated reasons read 0 rather than "no data"
            resolved.add_metric([rule, reason], flow.resolved.get((rule, reason), 0))
    for (rule, reason), n in sorted(flow.resolved.items()):
        if reason not in remediated:
            resolved.add_metric([rule, reason], n)
    yield resolved
    blocked = CounterMetricFamily(
        "keysentry_keys_newly_blocked",
        "Keys that turned or arrived blocked since the first scan, each counted once, "
        "under the rule whose enforced deadline blocked it first.",
        labels=["rule"],
    )
    for rule in sorted(_blocking_rules(config) | set(flow.newly_blocked)):
        blocked.add_metric([rule], flow.newly_blocked.get(rule, 0))
    yield blocked
    removed = CounterMetricFamily(
        "keysentry_restrictions_removed",
        "Admin Activity audit events, since the first scan, of an UpdateKey that left a "
        "key with no API restriction.",
    )
    removed.add_metric([], flow.restrictions_removed)
    yield removed
    histogram = HistogramMetricFamily(
        "keysentry_remediation_seconds",
        "How long remediated (fixed, deleted, gone) findings stayed open, in scan time.",
        labels=["rule"],
    )
    for rule in rules:
        times = flow.remediation.get(rule) or Remediated()
        cumulative = list(itertools.accumulate(times.counts))
        buckets = [(f"{b:g}", n) for b, n in zip(BUCKETS, cumulative, strict=False)]
        buckets.append(("+Inf", cumulative[-1]))
        histogram.add_metric([rule], buckets, times.seconds)
    yield histogram
