"""How far behind the subscription is, as Pub/Sub reports it to Cloud
Monitoring: the age of its oldest unacknowledged message and how many
messages it has not delivered (pubsub.googleapis.com/subscription/
oldest_unacked_message_age and num_undelivered_messages, resource
pubsub_subscription; cloud.google.com/monitoring/api/metrics_gcp#gcp-pubsub).
Unlike what the worker measures, these count the messages still waiting in
Pub/Sub: while the worker is down, or holds `feed.max_messages` already.
Pub/Sub samples them every minute; the newest point in the last ten
minutes counts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from google.protobuf import timestamp_pb2

from scanner.calls.google_errors import google_errors, transient_retry

OLDEST_UNACKED = "pubsub.googleapis.com/subscription/oldest_unacked_message_age"
UNDELIVERED = "pubsub.googleapis.com/subscription/num_undelivered_messages"
NEEDS = "monitoring.timeSeries.list on the subscription's project (roles/monitoring.viewer)"
_WINDOW = timedelta(minutes=10)
_RETRY_SECONDS = 30.0


@dataclass(frozen=True)
class Backlog:
    oldest_unacked_seconds: float | None  # None: no point in the window
    undelivered: int | None


def _stamp(moment: datetime) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(moment.astimezone(UTC).replace(tzinfo=None))
    return stamp


def _newest(client: Any, subscription: str, metric: str, now: datetime) -> int | None:
    """The newest value of METRIC for SUBSCRIPTION (projects/P/subscriptions/S)."""
    _, project, _, name = subscription.split("/", 3)
    request = {
        "name": f"projects/{project}",
        "filter": (
            f'metric.type = "{metric}" AND resource.type = "pubsub_subscription" '
            f'AND resource.labels.subscription_id = "{name}"'
        ),
        "interval": {"start_time": _stamp(now - _WINDOW), "end_time": _stamp(now)},
    }
    newest: tuple[datetime, int] | None = None
    with google_errors(f"Cloud Monitoring {metric} of {subscription}", NEEDS, _RETRY_SECONDS):
        for series in client.list_time_series(request=request, retry=transient_retry(30)):
            for point in series.points:
                at = point.interval.end_time
                if newest is None or at > newest[0]:
                    newest = (at, int(point.value.int64_value))
    return None if newest is None else newest[1]


def read_backlog(client: Any, subscription: str, now: datetime) -> Backlog:
    """SUBSCRIPTION's backlog as Cloud Monitoring last sampled it (CLIENT: a
    monitoring_v3.MetricServiceClient)."""
    oldest = _newest(client, subscription, OLDEST_UNACKED, now)
    return Backlog(
        None if oldest is None else float(oldest),
        _newest(client, subscription, UNDELIVERED, now),
    )
