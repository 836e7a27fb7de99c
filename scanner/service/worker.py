"""`keysentry run`: scans on a schedule, serves metrics and probes, and stops
cleanly on SIGTERM or SIGINT."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from contextlib import nullcontext
from datetime import UTC, datetime
from typing import Any

from apscheduler.events import (
    EVENT_JOB_ERROR,
    EVENT_JOB_EXECUTED,
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_MISSED,
    JobEvent,
)
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from scanner.alerts.delivery.dispatch import Dispatcher, NetworkTransport, Transport
from scanner.alerts.plan.planner import FEED_STAGES, scan_hook
from scanner.config import Config
from scanner.config.schedule import interval_seconds, make_trigger
from scanner.core.errors import KeysentryError
from scanner.feed.clients import make_monitoring, make_subscriber
from scanner.feed.consumer import FeedConsumer
from scanner.leaks.pull import GitHubPull
from scanner.metrics.collector import WorkerState
from scanner.scan.engine import run_scan
from scanner.scan.outcome import AfterHistory
from scanner.scan.progress import Cancellation, ScanCancelled
from scanner.service.endpoints import Readiness
from scanner.sources.audit.source import AuditSource
from scanner.sources.inventory.source import InventorySource
from scanner.sources.usage.source import UsageSource
from scanner.store import scans
from scanner.store.lock import ScanLock
from scanner.store.queries import latest_succeeded_scan
from scanner.tickets.links import ticket_links

log = logging.getLogger("keysentry.worker")
JOB_ID = "scan"
DISPATCH_JOB_ID = "dispatch"
# After the grace period the scan is cancelled; it stops at its next key and
# rolls back. If it is stuck in a call that long, the process exits anyway:
# the database drops the open transaction with the connection.
ROLLBACK_WAIT_SECONDS = 10.0


def _now() -> datetime:
    return datetime.now(UTC)


def _backlog_client(config: Config, given: Callable[[], Any] | None) -> Callable[[], Any] | None:
    """What makes the Cloud Monitoring client the feed's backlog is read
    with (Application Default Credentials unless GIVEN); None: not read."""
    if config.feed.backlog_every == 0:
        return None
    return given or make_monitoring


class Worker:
    def __init__(
        self,
        config: Config,
        engine: Engine,
        source_factory: Callable[[], InventorySource],
        evaluated_at: Callable[[], datetime] = _now,
        transport: Transport | None = None,
        usage_factory: Callable[[], UsageSource | None] = lambda: None,
        audit_factory: Callable[[], AuditSource | None] = lambda: None,
        leak_pull: GitHubPull | None = None,
        scc_client: Callable[[], Any] | None = None,
        ticket_systems: Callable[[str], Any] | None = None,
        feed_client: Callable[[], Any] | None = None,
        feed_monitoring: Callable[[], Any] | None = None,
    ) -> None:
        self.config = config
        self._leak_pull = leak_pull
        # Security Command Center's client, made when first needed (Application
        # Default Credentials unless given).
        self._scc_client = scc_client
        self._ticket_systems = ticket_systems  # receiver -> its ticket system
        self.engine = engine
        self._source_factory = source_factory
        self._evaluated_at = evaluated_at
        self._usage_factory = usage_factory
        self._audit_factory = audit_factory
        self.lock = ScanLock(engine)
        self.interval = interval_seconds(config.schedule)
        self.cancel = Cancellation()
        self.idle = threading.Event()
        self.idle.set()
        self.scheduler = BackgroundScheduler(
            timezone=UTC,
            # Deliveries do not wait behind a long scan: they have their own thread.
            executors={
                "default": ThreadPoolExecutor(max_workers=1),
                DISPATCH_JOB_ID: ThreadPoolExecutor(max_workers=1),
            },
            job_defaults={
                "coalesce": True,
                "max_instances": 1,
                "misfire_grace_time": max(1, int(config.schedule.misfire_grace)),
            },
        )
        self.state = WorkerState(self.lock, next_run=self._next_run)
        self._after_history: AfterHistory | None = None
        self.dispatcher: Dispatcher | None = None
        if config.alerts.enabled:
            self._after_history = scan_hook(config.alerts)
            self.dispatcher = Dispatcher(
                engine,
                config.alerts,
                transport or NetworkTransport(config.alerts),
                completed=ticket_links(engine, config.tickets),
            )
        # The Cloud Asset feed's consumer, with feed.subscription: a changed key
        # within seconds, between the scheduled scans.
        self.feed: FeedConsumer | None = None
        if config.feed.subscription is not None:
            plan = scan_hook(config.alerts, stages=FEED_STAGES) if config.alerts.enabled else None
            self.feed = FeedConsumer(
                engine,
                config,
                self.lock,
                plan,
                feed_client or make_subscriber,
                evaluated_at,
                on_applied=self._dispatch_now,
                monitoring=_backlog_client(config, feed_monitoring),
            )

    # -- the scan job -----------------------------------------------------

    def scan_once(self) -> str:
        """One scheduled run: 'succeeded', 'failed', 'cancelled' or 'skipped'."""
        self.idle.clear()
        try:
            with self.feed.paused() if self.feed is not None else nullcontext():
                return self._locked_scan()
        except SQLAlchemyError as exc:
            log.error("scan not run: the history database failed: %s", exc)
            return "failed"
        finally:
            self.idle.set()

    def _locked_scan(self) -> str:
        with self.lock.for_scan() as held:
            if not held:
                log.info("scan skipped: another replica holds the scan lock")
                self.state.skipped["lock_held"] += 1
                return "skipped"
            abandoned = scans.fail_abandoned(self.engine)
            if abandoned:
                log.warning(
                    "marked %d abandoned scan(s) failed: their process stopped mid-scan",
                    len(abandoned),
                    extra={"scan_ids": abandoned},
                )
            age = self._last_success_age()
            if age is not None and age < self.interval / 2:
                log.info(
                    "scan skipped: another replica scanned %.0fs ago", age, extra={"age_s": age}
                )
                self.state.skipped["recent_scan"] += 1
                return "skipped"
            return self._scan()

    def _pull_leaks(self) -> None:
        """New leak reports first, so that this scan raises their findings. A
        failed pull is logged; the scan goes on with what is already known."""
        assert self._leak_pull is not None
        try:
            stats = self._leak_pull.run(_now())
        except KeysentryError as exc:
            log.error("leaks not pulled from GitHub (the scan goes on): %s", exc)
            return
        log.info(
            "leaks pulled from GitHub: %d new report(s), %d key(s) newly leaked",
            stats.new_reports,
            stats.newly_leaked_keys,
            extra={"leaks": stats.as_counts()},
        )

    def _scan(self) -> str:
        if self._leak_pull is not None:
            self._pull_leaks()
        source = self._source_factory()
        log.info("scan started", extra={"source": source.description})
        try:
            outcome = run_scan(
                source,
                self.engine,
                self.config,
                self._evaluated_at(),
                cancel=self.cancel,
                after_history=self._after_history,
                usage=self._usage_factory(),
                audit=self._audit_factory(),
            )
        except ScanCancelled as exc:
            log.warning("scan rolled back: %s", exc)
            return "cancelled"
        except KeysentryError as exc:
            log.error("scan failed: %s", exc)
            return "failed"
        except Exception:
            log.exception("scan failed")
            return "failed"
        stats = outcome.stats
        log.info(
            "scan %d succeeded: %d keys from %d assets",
            outcome.scan_id,
            stats.keys_total,
            stats.assets_read,
            extra={
                "scan_id": outcome.scan_id,
                "keys": stats.keys_total,
                **stats.by_status,
                # The chain head in Cloud Logging: a rewritten history cannot match it.
                "chain_head": outcome.chain_head,
            },
        )
        if self.config.scc.enabled:
            self._publish_to_scc(outcome.scan_id)
        if self.config.tickets.enabled:
            self._sync_tickets(outcome.scan_id)
        self._dispatch_now()
        return "succeeded"

    def _publish_to_scc(self, scan_id: int) -> None:
        """The scan's findings to Security Command Center; a failure is logged
        and the next scan's sync sends what this one could not."""
        from scanner.scc.sync import SccSync, make_client

        try:
            client = self._scc_client or make_client
            stats = SccSync(self.engine, self.config.scc, client).run(scan_id)
        except KeysentryError as exc:
            log.error("findings not published to Security Command Center: %s", exc)
            return
        log.info(stats.line(), extra={"scc": dict(stats.calls)})

    def _sync_tickets(self, scan_id: int) -> None:
        """The scan's findings in their tickets; a failure is logged and the
        next scan's sync does what this one could not."""
        from scanner.tickets.make import systems
        from scanner.tickets.sync import TicketSync

        try:
            make = self._ticket_systems or systems(self.config.tickets)
            stats = TicketSync(self.engine, self.config.tickets, make).run(scan_id)
        except KeysentryError as exc:
            log.error("tickets not synced: %s", exc)
            return
        log.info(stats.line(), extra={"tickets": dict(stats.done)})
        for group, remote in stats.declined:
            log.warning(
                "ticket %s closed as %s while %d finding(s) are open; nothing is accepted "
                "until the exceptions file says so (keysentry tickets sync prints an entry)",
                remote.key,
                remote.resolution or "declined",
                len(group.items),
                extra={"ticket": remote.url},
            )

    def dispatch_once(self) -> None:
        """One dispatcher run; its failures are logged, never fatal."""
        if self.dispatcher is None:
            return
        try:
            results = self.dispatcher.run_once()
        except SQLAlchemyError as exc:
            log.error("alert dispatch: the history database failed: %s", exc)
            return
        if results:
            log.info("alert dispatch: %s", dict(results), extra=dict(results))

    def _last_success_age(self) -> float | None:
        latest = latest_succeeded_scan(self.engine)
        if latest is None or latest.finished_at is None:
            return None
        return (_now() - latest.finished_at).total_seconds()

    # -- schedule, readiness, shutdown ------------------------------------

    def start(self) -> None:
        """Take the database (SQLite), schedule the job, scan now if overdue."""
        self.lock.hold_for_process()
        age = self._last_success_age()
        overdue = age is None or age > self.interval
        options: dict[str, Any] = {"next_run_time": _now()} if overdue else {}
        self.scheduler.add_job(
            self.scan_once, make_trigger(self.config.schedule), id=JOB_ID, name="scan", **options
        )
        if self.dispatcher is not None:
            self.scheduler.add_job(
                self.dispatch_once,
                IntervalTrigger(seconds=self.config.alerts.dispatch.every, timezone=UTC),
                id=DISPATCH_JOB_ID,
                name="dispatch",
                executor=DISPATCH_JOB_ID,
                next_run_time=_now(),
            )
        self.scheduler.add_listener(self._on_missed, EVENT_JOB_MISSED | EVENT_JOB_MAX_INSTANCES)
        self.scheduler.add_listener(self._on_done, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR)
        self.scheduler.start()
        if self.feed is not None:
            self.feed.start()
        log.info(
            "scheduled: %s; next scan %s",
            self.config.schedule.cron or f"every {self.interval:.0f}s",
            "now (the last successful scan is older than one interval)"
            if overdue
            else f"at {self._next_run()}",
        )

    def _next_run(self) -> datetime | None:
        job = self.scheduler.get_job(JOB_ID) if self.scheduler.running else None
        return job.next_run_time if job is not None else None

    def _on_missed(self, event: JobEvent) -> None:
        if event.job_id != JOB_ID:
            return  # a dispatch tick that found the last one running: nothing lost
        reason = "overlap" if event.code == EVENT_JOB_MAX_INSTANCES else "missed"
        self.state.skipped[reason] += 1
        log.warning(
            "scheduled scan skipped: %s",
            "the previous scan is still running"
            if reason == "overlap"
            else "it is later than schedule.misfire_grace",
        )

    def _on_done(self, event: JobEvent) -> None:
        if event.code == EVENT_JOB_ERROR:
            log.error("scan job raised: %s", getattr(event, "exception", None))

    def readiness(self) -> Readiness:
        max_age = self.config.worker.ready_max_age or (
            2 * self.interval + self.config.schedule.misfire_grace
        )
        try:
            latest = latest_succeeded_scan(self.engine)
        except SQLAlchemyError as exc:
            return Readiness(False, f"database unreachable: {exc.__class__.__name__}")
        if latest is None or latest.finished_at is None:
            return Readiness(False, "no successful scan yet")
        age = (_now() - latest.finished_at).total_seconds()
        if age > max_age:
            return Readiness(
                False, f"last successful scan {latest.id} is {age:.0f}s old (limit {max_age:.0f}s)"
            )
        if self.feed is not None:
            stalled = self._feed_stalled()
            if stalled is not None:
                return Readiness(False, f"feed: {stalled}")
        return Readiness(True, f"ok: last successful scan {latest.id}, {age:.0f}s ago")

    def _feed_stalled(self) -> str | None:
        """Why the feed is not keeping up, if it is not."""
        assert self.feed is not None
        with self.feed.status.lock:
            return self.feed.status.stalled(self.config.feed.stall_after)

    def _dispatch_now(self) -> None:
        """What a scan queued goes out now, not at the next dispatch tick."""
        if self.dispatcher is not None and self.scheduler.running:
            self.scheduler.modify_job(DISPATCH_JOB_ID, next_run_time=_now())

    def stop(self, grace: float) -> bool:
        """Stop scheduling; give a running scan GRACE seconds, then roll it
        back. False if it would not stop."""
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        if self.feed is not None:
            self.feed.stop(grace)
        if not self.idle.wait(grace):
            # Cancel before saying so: whoever reads the line may act at once.
            if self.cancel.request():
                log.warning(
                    "shutdown: the scan did not finish within %.0fs; rolling it back", grace
                )
            else:
                log.warning(
                    "shutdown: the scan did not finish within %.0fs, but it is committing: "
                    "it completes",
                    grace,
                )
            if not self.idle.wait(ROLLBACK_WAIT_SECONDS):
                log.error("shutdown: the scan did not stop; it will be marked abandoned")
                return False
        self.lock.release_process()
        return True
