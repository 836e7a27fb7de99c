"""`keysentry feed setup` and `feed check` against Cloud Asset feeds and a
Pub/Sub topic and subscription on loopback (tests/fakes/asset_feeds.py,
tests/fakes/pubsub.py), through google-cloud-asset and google-cloud-pubsub:
the feed created once, brought back when it drifts, and each missing piece
named with the command that fixes it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from google.cloud import asset_v1

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


def test_setup_creates_the_feeds_once_and_brings_them_back(feeds: FakeFeedsServer) -> None:
    client = feeds.client()
    org = "organizations/900000000001"
    wanted = wanted_feeds(org, "keysentry", TOPIC)
    steps = plan(client, wanted)
    lines = "\n".join(s.line() for s in steps).splitlines()
    assert lines == [
        f"{org}/feeds/keysentry: create",
        f"  content type RESOURCE, to {TOPIC}",
        "  asset types: apikeys.googleapis.com/Key,",
        "    cloudresourcemanager.googleapis.com/Project,",
        "    serviceusage.googleapis.com/Service, iam.googleapis.com/ServiceAccount,",
        "    iam.googleapis.com/Role",
        f"{org}/feeds/keysentry-iam: create",
        f"  content type IAM_POLICY, to {TOPIC}",
        "  asset types: cloudresourcemanager.googleapis.com/Organization,",
        "    cloudresourcemanager.googleapis.com/Folder,",
        "    cloudresourcemanager.googleapis.com/Project",
    ]
    assert max(len(line) for line in lines) <= 80
    apply(client, steps)
    made = feeds.fake.feeds
    assert sorted(made) == [f"{org}/feeds/keysentry", f"{org}/feeds/keysentry-iam"]
    resources, policies = made[f"{org}/feeds/keysentry"], made[f"{org}/feeds/keysentry-iam"]
    assert "apikeys.googleapis.com/Key" in resources.asset_types
    assert "serviceusage.googleapis.com/Service" in resources.asset_types
    kinds = (asset_v1.ContentType.RESOURCE, asset_v1.ContentType.IAM_POLICY)
    assert (resources.content_type, policies.content_type) == kinds
    assert policies.feed_output_config.pubsub_destination.topic == TOPIC
    assert [s.action for s in plan(client, wanted)] == ["ok", "ok"]
    moved = wanted_feeds(org, "keysentry", TOPIC + "-2")
    steps = plan(client, moved)
    assert [(s.action, s.fields) for s in steps] == [("update", ("feed_output_config",))] * 2
    assert steps[0].problem() == f"feed {org}/feeds/keysentry differs in feed_output_config"
    apply(client, steps)
    assert resources.feed_output_config.pubsub_destination.topic == TOPIC + "-2"
    creates = [c for c in feeds.fake.calls if c[0] == "CreateFeed"]
    assert len(creates) == 2


def test_setup_without_permission_says_what_to_grant(feeds: FakeFeedsServer) -> None:
    feeds.fake.denied = True
    wanted = wanted_feeds("organizations/900000000001", "keysentry", TOPIC)
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
