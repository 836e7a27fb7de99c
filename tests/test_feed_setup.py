"""`keysentry feed setup` and `feed check` against Cloud Asset feeds and a
Pub/Sub topic and subscription on loopback (tests/fakes/asset_feeds.py,
tests/fakes/pubsub.py), through google-cloud-asset and google-cloud-pubsub:
the feed created once, brought back when it drifts, and each missing piece
named with the command that fixes it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from scanner.core.errors import SourceError
from scanner.feed.check import check_subscription, check_topic
from scanner.feed.clients import make_publisher, make_subscriber
from scanner.feed.setup import apply, plan, service_agent, wanted_feeds
from tests.fakes.asset_feeds import FakeFeeds, FakeFeedsServer
from tests.fakes.pubsub import FakeSubscription, emulated

TOPIC = "projects/acme-security/topics/keysentry-feed"
SUBSCRIPTION = "projects/acme-security/subscriptions/keysentry-feed"
AGENT = service_agent("123456789012")


@pytest.fixture
def feeds() -> Iterator[FakeFeedsServer]:
    with FakeFeedsServer(FakeFeeds()) as server:
        yield server


@pytest.fixture
def pubsub(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSubscription]:
    with emulated(FakeSubscription(SUBSCRIPTION), monkeypatch) as fake:
        yield fake


def test_setup_creates_the_feed_once_and_brings_it_back(feeds: FakeFeedsServer) -> None:
    client = feeds.client()
    wanted = wanted_feeds("organizations/900000000001", "keysentry-keys", TOPIC)
    steps = plan(client, wanted)
    assert [s.line() for s in steps] == [
        "organizations/900000000001/feeds/keysentry-keys: create (apikeys.googleapis.com/Key, "
        f"content type RESOURCE, to {TOPIC})"
    ]
    apply(client, steps)
    (made,) = feeds.fake.feeds.values()
    assert list(made.asset_types) == ["apikeys.googleapis.com/Key"]
    assert made.feed_output_config.pubsub_destination.topic == TOPIC
    assert [s.action for s in plan(client, wanted)] == ["ok"]
    moved = wanted_feeds("organizations/900000000001", "keysentry-keys", TOPIC + "-2")
    (step,) = plan(client, moved)
    assert (step.action, step.fields) == ("update", ("feed_output_config",))
    apply(client, [step])
    assert made.feed_output_config.pubsub_destination.topic == TOPIC + "-2"
    creates = [c for c in feeds.fake.calls if c[0] == "CreateFeed"]
    assert len(creates) == 1


def test_setup_without_permission_says_what_to_grant(feeds: FakeFeedsServer) -> None:
    feeds.fake.denied = True
    wanted = wanted_feeds("organizations/900000000001", "keysentry-keys", TOPIC)
    with pytest.raises(SourceError, match=r"roles/cloudasset\.owner"):
        plan(feeds.client(), wanted)


def test_check_names_each_missing_piece_with_its_fix(pubsub: FakeSubscription) -> None:
    publisher, subscriber = make_publisher(), make_subscriber()
    (missing,) = check_topic(publisher, TOPIC, AGENT)
    assert missing.fix == "gcloud pubsub topics create keysentry-feed --project=acme-security"
    pubsub.topic = TOPIC
    (unbound,) = check_topic(publisher, TOPIC, AGENT)
    assert unbound.fix == (
        "gcloud pubsub topics add-iam-policy-binding keysentry-feed --project=acme-security "
        f"--member=serviceAccount:{AGENT} --role=roles/pubsub.publisher"
    )
    pubsub.topic_policy = {"roles/pubsub.publisher": [f"serviceAccount:{AGENT}"]}
    assert check_topic(publisher, TOPIC, AGENT) == []
    assert check_subscription(subscriber, SUBSCRIPTION, TOPIC) == []
    pubsub.may_consume = False
    (refused,) = check_subscription(subscriber, SUBSCRIPTION, TOPIC)
    assert "pubsub.subscriptions.consume" in refused.what
    assert "--role=roles/pubsub.subscriber" in refused.fix
    other = "projects/acme-security/subscriptions/other"
    (absent,) = check_subscription(subscriber, other, TOPIC)
    assert absent.fix == (
        "gcloud pubsub subscriptions create other --project=acme-security "
        f"--topic={TOPIC} --ack-deadline=60"
    )
