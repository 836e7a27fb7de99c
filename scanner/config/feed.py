"""The `feed:` section: the Pub/Sub subscription to a Cloud Asset real-time
feed, from which the worker learns of a changed key within seconds
(scanner.feed), and the feed that `keysentry feed setup` keeps."""

from __future__ import annotations

import re

from pydantic import Field, field_validator

from scanner.config.types import Duration, Strict

_SUBSCRIPTION = re.compile(
    r"projects/[a-z][a-z0-9-]{4,28}[a-z0-9]/subscriptions/[A-Za-z][\w.~+%-]{2,254}"
)
_TOPIC = re.compile(r"projects/[a-z][a-z0-9-]{4,28}[a-z0-9]/topics/[A-Za-z][\w.~+%-]{2,254}")
_FEED_ID = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,59}")  # FEED_ID-iam: at most 64


class FeedConfig(Strict):
    # projects/PROJECT/subscriptions/NAME: the worker pulls from it when set.
    subscription: str | None = None
    # projects/PROJECT/topics/NAME: where `feed setup` points the feed.
    topic: str | None = None
    # The RESOURCE feed's id; the IAM_POLICY feed is FEED_ID-iam.
    feed_id: str = "keysentry"
    # How long the messages of a burst gather before one feed scan applies them.
    batch_seconds: float = Field(default=1.0, gt=0, le=60)
    max_messages: int = Field(default=1000, ge=1, le=100_000)  # outstanding at once
    # /readyz fails when a received message waits this long to be applied.
    stall_after: Duration = 300.0
    # How often the subscription's backlog is read from Cloud Monitoring
    # (the age of its oldest unacknowledged message); 0: not read.
    backlog_every: Duration = 60.0

    @field_validator("subscription")
    @classmethod
    def _subscription(cls, value: str | None) -> str | None:
        if value is not None and not _SUBSCRIPTION.fullmatch(value):
            raise ValueError(f"expected projects/PROJECT/subscriptions/NAME, got {value!r}")
        return value

    @field_validator("topic")
    @classmethod
    def _topic(cls, value: str | None) -> str | None:
        if value is not None and not _TOPIC.fullmatch(value):
            raise ValueError(f"expected projects/PROJECT/topics/NAME, got {value!r}")
        return value

    @field_validator("feed_id")
    @classmethod
    def _feed_id(cls, value: str) -> str:
        if not _FEED_ID.fullmatch(value):
            raise ValueError(f"a feed id is a letter, then letters, digits, - or _: {value!r}")
        return value
