"""The worker's side of the feed: a streaming pull from the subscription
(google-cloud-pubsub, which also extends the messages' ack deadlines while
they wait), messages gathered for `feed.batch_seconds`, then applied as one
feed scan under the scan lock, and acknowledged only once it committed. A
batch that fails is not acknowledged: Pub/Sub delivers it again. A message
that can never be read is acknowledged and counted, not redelivered forever."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from scanner.config import Config
from scanner.core.errors import KeysentryError
from scanner.feed.apply import apply_changes
from scanner.feed.backlog import Backlog, read_backlog
from scanner.feed.clients import make_subscriber
from scanner.feed.messages import Change, parse
from scanner.store.lock import ScanLock

log = logging.getLogger("keysentry.feed")

# Seconds from a change to its commit: the buckets of keysentry_feed_lag_seconds.
LAG_BUCKETS = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0, 3600.0)
_RETRY_STREAM = 30.0  # seconds before a pull that ended is started again
_RETRY_BATCH = 1.0  # seconds after a batch failed before the next is applied


@dataclass
class FeedStatus:
    """What the metrics and /readyz read of the feed, updated as it runs."""

    messages: Counter[str] = field(default_factory=Counter)  # by outcome
    lag_counts: list[int] = field(default_factory=lambda: [0] * (len(LAG_BUCKETS) + 1))
    lag_sum: float = 0.0
    waiting_since: float | None = None  # monotonic: the oldest message not yet applied
    pulling: bool = False
    problem: str | None = None  # why the pull stopped, while it is stopped
    # As Pub/Sub reported them to Cloud Monitoring (scanner.feed.backlog);
    # None until read, and after a read failed (backlog_problem says why).
    backlog: Backlog | None = None
    backlog_problem: str | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def observe_lag(self, seconds: float) -> None:
        index = next((i for i, b in enumerate(LAG_BUCKETS) if seconds <= b), len(LAG_BUCKETS))
        self.lag_counts[index] += 1
        self.lag_sum += seconds

    def oldest_unapplied(self) -> float:
        """Seconds the oldest received message has waited (0 when none does)."""
        return 0.0 if self.waiting_since is None else time.monotonic() - self.waiting_since

    def stalled(self, limit: float) -> str | None:
        """Why the feed is not keeping up (/readyz), if a message has waited
        more than LIMIT seconds: received and not applied, or unacknowledged
        in Pub/Sub (a pull that never reached it, or that cannot keep up).
        The caller holds the lock."""
        if self.problem is not None:
            return self.problem
        waited = self.oldest_unapplied()
        if waited > limit:
            return f"a message has waited {waited:.0f}s to be applied (limit {limit:.0f}s)"
        unacked = self.backlog.oldest_unacked_seconds if self.backlog is not None else None
        if unacked is not None and unacked > limit:
            return (
                f"Pub/Sub has held a message unacknowledged for {unacked:.0f}s (limit {limit:.0f}s)"
            )
        return None


class FeedConsumer:
    def __init__(
        self,
        engine: Engine,
        config: Config,
        lock: ScanLock,
        plan: Callable[..., dict[str, Any]] | None,
        client_factory: Callable[[], Any] = make_subscriber,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        on_applied: Callable[[], None] | None = None,
        monitoring: Callable[[], Any] | None = None,
    ) -> None:
        """MONITORING: makes the Cloud Monitoring client the subscription's
        backlog is read with, every `feed.backlog_every`; None: not read."""
        assert config.feed.subscription is not None
        self._engine = engine
        self._config = config
        self._lock = lock
        self._plan = plan
        self._client_factory = client_factory
        self._clock = clock
        self._on_applied = on_applied  # after a feed scan committed (sends its alerts)
        self._inbox: queue.Queue[Any] = queue.Queue()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="keysentry-feed", daemon=True)
        self._monitoring = monitoring
        self._watcher = threading.Thread(
            target=self._watch_backlog, name="keysentry-feed-backlog", daemon=True
        )
        self._future: Any = None
        self._client: Any = None
        self._applying = threading.Lock()
        self.status = FeedStatus()

    def start(self) -> None:
        self._thread.start()
        if self._monitoring is not None:
            self._watcher.start()

    def stop(self, grace: float) -> None:
        """Stop pulling; a batch being applied gets GRACE seconds to commit.
        What was received and not applied is left unacknowledged: redelivered."""
        self._stop.set()
        self._thread.join(grace)
        if self._watcher.is_alive():
            self._watcher.join(grace)

    def _watch_backlog(self) -> None:
        assert self._monitoring is not None and self._config.feed.subscription is not None
        subscription = self._config.feed.subscription
        client: Any = None
        while True:
            try:
                client = client or self._monitoring()
                backlog = read_backlog(client, subscription, datetime.now(UTC))
                problem = None
            except KeysentryError as exc:
                backlog, problem = None, str(exc)
            with self.status.lock:
                if problem is not None and self.status.backlog_problem != problem:
                    log.warning("feed: backlog not read: %s", problem)
                self.status.backlog, self.status.backlog_problem = backlog, problem
            if self._stop.wait(self._config.feed.backlog_every):
                return

    def _received(self, message: Any) -> None:
        now = time.monotonic()
        with self.status.lock:
            if self.status.waiting_since is None:
                self.status.waiting_since = now
        self._inbox.put((now, message))

    def _pull(self) -> None:
        from google.cloud.pubsub_v1.types import FlowControl

        self._client = client = self._client_factory()
        flow = FlowControl(max_messages=self._config.feed.max_messages)
        self._future = client.subscribe(
            self._config.feed.subscription, callback=self._received, flow_control=flow
        )
        self.status.pulling, self.status.problem = True, None
        log.info("feed: pulling from %s", self._config.feed.subscription)

    def _run(self) -> None:
        retry_at = 0.0
        while not self._stop.is_set():
            if self._future is None or self._future.done():
                if self._future is not None:
                    self._ended()
                    retry_at = time.monotonic() + _RETRY_STREAM
                    self._future = None
                if time.monotonic() >= retry_at:
                    try:
                        self._pull()
                    except KeysentryError as exc:
                        self.status.pulling, self.status.problem = False, str(exc)
                        log.error("feed: cannot pull: %s", exc)
                        retry_at = time.monotonic() + _RETRY_STREAM
            batch = self._gather()
            if batch:
                self._apply(batch)
        if self._future is not None:
            self._future.cancel()
        if self._client is not None:
            self._client.close()

    def _ended(self) -> None:
        try:
            self._future.result(timeout=0)
            problem = "the pull ended"
        except Exception as exc:  # the pull's own error, whatever it is: reported, then retried
            problem = f"the pull failed: {type(exc).__name__}: {exc}"
        self.status.pulling, self.status.problem = False, problem
        log.error("feed: %s; pulling again in %.0fs", problem, _RETRY_STREAM)

    def _gather(self) -> list[Any]:
        """The messages of one batch: the first to arrive, and those that come
        within feed.batch_seconds after it."""
        try:
            first = self._inbox.get(timeout=0.2)[1]
        except queue.Empty:
            return []
        batch = [first]
        until = time.monotonic() + self._config.feed.batch_seconds
        while len(batch) < self._config.feed.max_messages:
            left = until - time.monotonic()
            if left <= 0:
                break
            try:
                batch.append(self._inbox.get(timeout=left)[1])
            except queue.Empty:
                break
        return batch

    def _apply(self, batch: list[Any]) -> None:
        changes: list[Change] = []
        read: list[Any] = []  # the messages the batch applies
        outcomes: Counter[str] = Counter()
        for message in batch:
            try:
                found = parse(message.data, f"message {message.message_id}")
            except KeysentryError as exc:
                log.error("feed: %s (acknowledged: it would fail again)", exc)
                outcomes["invalid"] += 1
                message.ack()
                continue
            if isinstance(found, Change):
                changes.append(found)
                read.append(message)
            else:
                outcomes["welcome" if found is None else "other_asset_type"] += 1
                message.ack()
        applied = not changes or self._commit(changes, read, outcomes)
        with self.status.lock:
            self.status.messages.update(outcomes)
            if applied:  # else its messages come again, and have waited since they first came
                self.status.waiting_since = self._oldest_waiting()

    def _oldest_waiting(self) -> float | None:
        with self._inbox.mutex:
            return self._inbox.queue[0][0] if self._inbox.queue else None

    def _commit(self, changes: list[Change], read: list[Any], outcomes: Counter[str]) -> bool:
        """Apply CHANGES as one feed scan, then acknowledge READ; on failure
        ask for them again. Whether they were applied. While a full scan
        holds the scan lock (this worker's or another replica's), the batch
        waits: the client library keeps extending its messages' deadlines."""
        while True:
            with self._applying, self._lock.for_scan() as held:
                if held:
                    try:
                        outcome = apply_changes(
                            self._engine,
                            self._config,
                            changes,
                            self._clock(),
                            f"feed {self._config.feed.subscription}",
                            self._plan,
                        )
                    except (KeysentryError, SQLAlchemyError) as exc:
                        log.error(
                            "feed: %d message(s) not applied, to be delivered again: %s",
                            len(read),
                            exc,
                        )
                        with self.status.lock:
                            self.status.messages["failed"] += len(read)
                        self._nack(read)
                        self._stop.wait(_RETRY_BATCH)  # not at once: the cause may last
                        return False
                    break
            if self._stop.wait(0.5):
                self._nack(read)
                return False
        for message in read:
            message.ack()
        committed = self._clock()
        with self.status.lock:
            for change in outcome.applied:
                self.status.observe_lag(max(0.0, (committed - change.observed).total_seconds()))
        outcomes.update(outcome.outcomes)
        if outcome.scan_id is not None and self._on_applied is not None:
            self._on_applied()
        if outcome.scan_id is not None:
            log.info(
                "feed scan %d: %d change(s) applied, %d key(s) judged",
                outcome.scan_id,
                outcome.outcomes["applied"],
                outcome.stats.keys_total if outcome.stats is not None else 0,
                extra={"scan_id": outcome.scan_id, "feed": dict(outcome.outcomes)},
            )
        return True

    @contextmanager
    def paused(self) -> Iterator[None]:
        """No feed scan while this lasts (the worker's full scan): one being
        applied finishes first."""
        with self._applying:
            yield

    @staticmethod
    def _nack(messages: list[Any]) -> None:
        for message in messages:
            message.nack()
