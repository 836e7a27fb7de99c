"""The worker's feed consumer against a Pub/Sub subscription on loopback
(tests/fakes/pubsub.py) through the real google-cloud-pubsub client:
messages applied as feed scans and acknowledged only after they commit,
through duplicates, reordering and a dropped stream; a batch that cannot be
applied is delivered again and applied once it can."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import TypeVar

import grpc
import pytest
from sqlalchemy import Engine, func, select

from scanner.alerts.plan.planner import FEED_STAGES, scan_hook
from scanner.feed.consumer import FeedConsumer
from scanner.report.build import build_report
from scanner.store.lock import ScanLock
from scanner.store.tables import Notification, Scan
from tests.conftest import NOW
from tests.fakes.pubsub import FakeSubscription, Faults, emulated
from tests.test_feed import CONFIG, NAME, before, full_scan, messages

SUBSCRIPTION = "projects/acme-security/subscriptions/keysentry-feed"
T = TypeVar("T")
FEED_CONFIG = CONFIG.model_copy(
    update={
        "feed": CONFIG.feed.model_copy(update={"subscription": SUBSCRIPTION, "batch_seconds": 0.3})
    }
)
WELCOME = b"You have successfully configured real time feed 'organizations/900000000001/feeds/k'"


@pytest.fixture
def pubsub(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSubscription]:
    with emulated(FakeSubscription(SUBSCRIPTION), monkeypatch) as fake:
        yield fake


def consumer(engine: Engine) -> FeedConsumer:
    plan = scan_hook(FEED_CONFIG.alerts, stages=FEED_STAGES)
    return FeedConsumer(
        engine, FEED_CONFIG, ScanLock(engine), plan, clock=lambda: NOW + timedelta(hours=10)
    )


def feed_scans(engine: Engine) -> list[int]:
    with engine.connect() as conn:
        return list(conn.scalars(select(Scan.id).where(Scan.kind == "feed").order_by(Scan.id)))


def test_messages_are_applied_then_acknowledged_through_faults(
    engine: Engine, tmp_path: Path, pubsub: FakeSubscription
) -> None:
    full_scan(engine, tmp_path, before(), NOW)
    pubsub.faults = Faults(duplicate=2, reverse=True, drop_stream_after=2)
    pubsub.publish(WELCOME)
    for data in messages():
        pubsub.publish(data)
    running = consumer(engine)
    running.start()
    try:
        assert pubsub.wait_acked(4, timeout=60), pubsub
    finally:
        running.stop(10)
    assert pubsub.streams >= 2  # the dropped stream was opened again
    assert pubsub.deliveries >= 6  # two messages twice
    counted = running.status.messages
    assert counted["welcome"] == 1 and counted["applied"] == 3, counted
    keys = {k.name: k for k in build_report(engine, feed_scans(engine)[-1]).iter_keys()}
    assert NAME + "k-gone" not in keys
    assert keys[NAME + "k-new"].status.value == "blocked"
    assert keys[NAME + "k-opened"].status.value == "blocked"
    with engine.connect() as conn:
        alerts = conn.scalar(
            select(func.count())
            .select_from(Notification)
            .where(Notification.scan_id.in_(feed_scans(engine)))
        )
    assert alerts and alerts > 0
    assert sum(running.status.lag_counts) == 3


def test_a_batch_that_cannot_be_applied_comes_again(
    engine: Engine, tmp_path: Path, pubsub: FakeSubscription
) -> None:
    """No full scan yet: the feed has nothing to judge with; its messages are
    not acknowledged, come again, and are applied once a full scan ran."""
    for data in messages():
        pubsub.publish(data)
    running = consumer(engine)
    running.start()
    try:
        assert not pubsub.wait_acked(1, timeout=3)
        assert running.status.messages["failed"] >= 3
        # Delivered again and again, they have waited since they first came.
        assert running.status.oldest_unapplied() >= 2.5
        assert feed_scans(engine) == []
        full_scan(engine, tmp_path, before(), NOW)
        assert pubsub.wait_acked(3, timeout=60)
    finally:
        running.stop(10)
    assert len(feed_scans(engine)) >= 1 and running.status.messages["applied"] == 3


def test_the_worker_hears_of_a_new_key_from_the_feed_and_alerts(
    tmp_path: Path, pubsub: FakeSubscription
) -> None:
    """`keysentry run` with feed.subscription: its first scan, then a key
    created unrestricted arrives through the feed, and the webhook hears of
    it within the same minute, without another full scan."""
    import json

    from tests import assets
    from tests.peers import HttpReceiver
    from tests.test_feed import message
    from tests.test_worker_process import KEYSENTRY, http_get, running, write_config

    export = assets.write_ndjson(tmp_path / "org.jsonl", before())
    with HttpReceiver() as hook:
        config = write_config(
            tmp_path,
            # No backlog from Cloud Monitoring: it has no emulator.
            f"feed: {{subscription: {SUBSCRIPTION}, batch_seconds: 0.2, backlog_every: 0}}\n"
            "alerts:\n"
            "  route: {receiver: team}\n"
            "  receivers:\n"
            "    - name: team\n"
            f"      webhooks: [{{name: hook, url: '{hook.url}', format: generic}}]\n",
        )
        db_url = f"sqlite:///{tmp_path / 'h.db'}"
        args = [str(KEYSENTRY), "run", "--config", str(config), "--db", db_url]
        args += ["--from-export", str(export), "--listen", "127.0.0.1:0"]
        with running(args) as child:
            base = "http://" + child.wait_for(r"listening on http://(\S+) ").group(1)
            child.wait_for(r"scan \d+ succeeded: 3 keys")
            child.wait_for(r"feed: pulling from ")
            new = assets.key("100", uid="k-new", display_name="made in a hurry")
            new["resource"]["data"]["updateTime"] = "2026-12-07T09:00:00Z"
            pubsub.publish(message(new, prior="DOES_NOT_EXIST"))
            child.wait_for(r"feed scan \d+: 1 change\(s\) applied, 1 key\(s\) judged")
            with hook.arrived:
                heard = hook.arrived.wait_for(
                    lambda: any(b"k-new" in r.body for r in hook.requests), 60
                )
            assert heard, [r.body[:200] for r in hook.requests]
            assert pubsub.wait_acked(1, timeout=30)
            status, metrics = http_get(base + "/metrics")
            assert status == 200
            assert 'keysentry_feed_messages_total{outcome="applied"} 1.0' in metrics
            assert "keysentry_feed_pulling 1.0" in metrics
            assert http_get(base + "/readyz")[0] == 200
            child.proc.send_signal(signal.SIGTERM)
            code, stderr = child.finish()
        assert code == 0, stderr
    documents = [json.loads(r.body) for r in hook.requests if b"k-new" in r.body]
    names = {k["name"] for d in documents for k in d.get("keys", [])}
    assert NAME + "k-new" in names


def test_the_backlog_is_read_from_cloud_monitoring(
    engine: Engine, pubsub: FakeSubscription
) -> None:
    """The age of the oldest unacknowledged message and the undelivered count,
    as Pub/Sub reports them to Cloud Monitoring, read through the real client
    from the loopback Monitoring fake; a refused read names the role."""
    from prometheus_client import CollectorRegistry, generate_latest

    from scanner.feed.backlog import OLDEST_UNACKED, UNDELIVERED, Backlog
    from scanner.feed.metrics import FeedCollector
    from tests.fakes.monitoring import FakeMonitoring, FakeMonitoringServer, ProjectFault

    gauges = {OLDEST_UNACKED: {"keysentry-feed": 420}, UNDELIVERED: {"keysentry-feed": 37}}
    fake = FakeMonitoring({}, gauges=gauges)
    fake.faults.append(ProjectFault("projects/acme-security", grpc.StatusCode.PERMISSION_DENIED))
    config = FEED_CONFIG.model_copy(
        update={"feed": FEED_CONFIG.feed.model_copy(update={"backlog_every": 0.2})}
    )
    with FakeMonitoringServer(fake) as server:
        feed = FeedConsumer(engine, config, ScanLock(engine), None, monitoring=server.client)
        feed.start()
        try:
            refused = wait_until(lambda: feed.status.backlog_problem)
            assert "roles/monitoring.viewer" in refused and feed.status.backlog is None
            assert wait_until(lambda: feed.status.backlog) == Backlog(420.0, 37)
        finally:
            feed.stop(5)
    assert feed.status.backlog_problem is None
    # What /readyz says: Pub/Sub holds a message past the limit, though the worker has none.
    assert feed.status.stalled(300) == (
        "Pub/Sub has held a message unacknowledged for 420s (limit 300s)"
    )
    assert feed.status.stalled(600) is None
    names = {r.name for r in fake.requests}
    assert names == {"projects/acme-security"}
    registry = CollectorRegistry(auto_describe=False)
    registry.register(FeedCollector(engine, feed.status))
    scraped = generate_latest(registry).decode()
    assert "keysentry_feed_oldest_unacked_seconds 420.0" in scraped
    assert "keysentry_feed_undelivered_messages 37.0" in scraped


def wait_until(value: Callable[[], T], timeout: float = 30.0) -> T:
    """VALUE once it is truthy; fails after TIMEOUT seconds."""
    deadline = time.monotonic() + timeout
    while not (found := value()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)
    return found
