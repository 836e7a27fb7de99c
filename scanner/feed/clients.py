"""The Pub/Sub clients of the feed: Application Default Credentials, or the
emulator PUBSUB_EMULATOR_HOST names (which the client library reads itself)."""

from __future__ import annotations

import os
from typing import Any

from scanner.calls.google_errors import default_credentials


def _credentials() -> dict[str, Any]:
    if os.environ.get("PUBSUB_EMULATOR_HOST"):
        return {}
    return {"credentials": default_credentials("feed", "pubsub")}


def make_subscriber() -> Any:
    from google.cloud.pubsub_v1 import SubscriberClient

    return SubscriberClient(**_credentials())


def make_publisher() -> Any:
    from google.cloud.pubsub_v1 import PublisherClient

    return PublisherClient(**_credentials())


def make_monitoring() -> Any:
    """The Cloud Monitoring client the subscription's backlog is read with
    (scanner.feed.backlog): Application Default Credentials always, since
    the Pub/Sub emulator has no metrics."""
    from google.cloud import monitoring_v3

    credentials = default_credentials("feed backlog", "monitoring.read")
    return monitoring_v3.MetricServiceClient(credentials=credentials)
