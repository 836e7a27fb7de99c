"""Alert delivery metrics, read from the outbox on each scrape."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from scanner.alerts.store import outbox
from scanner.store.queries import latest_succeeded_scan

log = logging.getLogger(__name__)


class OutboxCollector(Collector):
    def __init__(
        self, engine: Engine, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        self._engine = engine
        self._clock = clock

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        try:
            counts = outbox.counts(self._engine)
            latest = latest_succeeded_scan(self._engine)
        except SQLAlchemyError as exc:
            log.warning("metrics: the outbox could not be read: %s", exc.__class__.__name__)
            return
        finished = CounterMetricFamily(
            "keysentry_notifications",
            "Notifications delivered or given up, by channel, kind and outcome (sent, dead).",
            labels=["channel", "kind", "outcome"],
        )
        pending = GaugeMetricFamily(
            "keysentry_outbox_pending", "Notifications waiting to be delivered.", labels=["channel"]
        )
        dead = GaugeMetricFamily(
            "keysentry_outbox_dead", "Notifications given up on.", labels=["channel"]
        )
        waiting: dict[str, int] = {"email": 0, "webhook": 0}
        given_up: dict[str, int] = {"email": 0, "webhook": 0}
        outcomes: dict[tuple[str, str, str], int] = {
            (channel, kind, outcome): 0
            for channel in ("email", "webhook")
            for kind in ("transition", "reminder", "digest")
            for outcome in ("sent", "dead")
        }
        for (channel, kind, status), n in counts["by_status"].items():
            if status == "pending":
                waiting[channel] = waiting.get(channel, 0) + n
                continue
            if status == "dead":
                given_up[channel] = given_up.get(channel, 0) + n
            outcomes[(channel, kind, status)] = n
        for labels, n in sorted(outcomes.items()):
            finished.add_metric(list(labels), n)
        for channel, n in sorted(waiting.items()):
            pending.add_metric([channel], n)
        for channel, n in sorted(given_up.items()):
            dead.add_metric([channel], n)
        yield finished
        yield pending
        yield dead
        attempts = CounterMetricFamily(
            "keysentry_delivery_attempts",
            "Delivery attempts by channel and outcome (sent, retryable, permanent).",
            labels=["channel", "outcome"],
        )
        for channel in ("email", "webhook"):
            for outcome in ("sent", "retryable", "permanent"):
                attempts.add_metric(
                    [channel, outcome], counts["attempts"].get((channel, outcome), 0)
                )
        yield attempts
        oldest = GaugeMetricFamily(
            "keysentry_outbox_oldest_pending_age_seconds",
            "Age of the oldest notification still waiting; 0 when none waits.",
        )
        created = counts["oldest_pending"]
        oldest.add_metric([], max(0.0, (self._clock() - created).total_seconds()) if created else 0)
        yield oldest
        alerts = (latest.counts or {}).get("alerts", {}) if latest is not None else {}
        unowned = GaugeMetricFamily(
            "keysentry_alert_unowned_keys",
            "Keys routed to their owners with no owner known (sent to the fallback receiver), "
            "in the latest successful scan.",
        )
        unowned.add_metric([], alerts.get("unowned_keys", 0))
        yield unowned
