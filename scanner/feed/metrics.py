"""The feed's metrics: messages by outcome, the lag from a change to its
commit, how long the oldest received message has waited, and what the last
full scan found that no feed scan had recorded."""

from __future__ import annotations

import logging
from collections.abc import Iterator

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from scanner.feed.backlog import Backlog
from scanner.feed.consumer import LAG_BUCKETS, FeedStatus
from scanner.store.queries import latest_succeeded_scan

log = logging.getLogger(__name__)
OUTCOMES = ("applied", "duplicate", "stale", "superseded", "ignored", "iam_not_read", "welcome",
            "other_asset_type", "invalid", "failed")  # fmt: skip


def _backlog(backlog: Backlog | None) -> Iterator[Metric]:
    """The subscription's backlog as Cloud Monitoring last reported it; no
    sample when it was not read (feed.backlog_every: 0, or the read failed)."""
    if backlog is None:
        return
    if backlog.oldest_unacked_seconds is not None:
        yield GaugeMetricFamily(
            "keysentry_feed_oldest_unacked_seconds",
            "Age of the subscription's oldest unacknowledged message, as Pub/Sub reports it "
            "to Cloud Monitoring (with the messages the worker has not received).",
            value=backlog.oldest_unacked_seconds,
        )
    if backlog.undelivered is not None:
        yield GaugeMetricFamily(
            "keysentry_feed_undelivered_messages",
            "Messages the subscription has not delivered, as Pub/Sub reports it to Cloud "
            "Monitoring.",
            value=backlog.undelivered,
        )


class FeedCollector(Collector):
    def __init__(self, engine: Engine, status: FeedStatus) -> None:
        self._engine = engine
        self._status = status

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        status = self._status
        with status.lock:
            counts = dict(status.messages)
            buckets = list(status.lag_counts)
            total = status.lag_sum
            waited = status.oldest_unapplied()
            pulling = status.pulling
            backlog = status.backlog
        messages = CounterMetricFamily(
            "keysentry_feed_messages",
            "Feed messages by outcome: applied, duplicate, stale or superseded (a newer one "
            "came with it), ignored (nothing a rule reads), iam_not_read (the last full scan "
            "read no IAM), welcome, other_asset_type, invalid (acknowledged unread), failed "
            "(to be delivered again).",
            labels=["outcome"],
        )
        for outcome in sorted(set(OUTCOMES) | set(counts)):
            messages.add_metric([outcome], counts.get(outcome, 0))
        yield messages
        cumulative, running = [], 0
        for bound, n in zip((*LAG_BUCKETS, float("inf")), buckets, strict=True):
            running += n
            cumulative.append((str(bound) if bound != float("inf") else "+Inf", running))
        yield HistogramMetricFamily(
            "keysentry_feed_lag_seconds",
            "Seconds from a key's change (the feed's window.startTime) to the commit of the "
            "feed scan that applied it.",
            buckets=cumulative,
            sum_value=total,
        )
        yield GaugeMetricFamily(
            "keysentry_feed_oldest_unapplied_seconds",
            "Seconds the oldest received, not yet applied feed message has waited (0: none).",
            value=waited,
        )
        yield GaugeMetricFamily(
            "keysentry_feed_pulling", "1 while the subscription is being pulled.", value=pulling
        )
        yield from _backlog(backlog)
        try:
            latest = latest_succeeded_scan(self._engine)
        except SQLAlchemyError as exc:
            log.warning("metrics: the last scan could not be read: %s", exc.__class__.__name__)
            return
        counted = ((latest.counts or {}).get("feed") or {}) if latest is not None else {}
        yield GaugeMetricFamily(
            "keysentry_feed_missed_changes",
            "Key changes the last full scan found that no feed scan had recorded "
            "(0 after the first scan).",
            value=counted.get("missed") or 0,
        )
