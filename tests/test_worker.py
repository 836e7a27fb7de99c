"""The worker in-process: its scan job, the scan lock, shutdown mid-scan,
readiness and the schedule, on both databases."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import pytest
from sqlalchemy import Engine, func, select, update

from scanner.config import Config, WorkerConfig
from scanner.config.schedule import ScheduleConfig, cron_trigger, interval_seconds
from scanner.configfile import parse_config
from scanner.core.errors import ConfigError, StoreError
from scanner.report.build import build_report
from scanner.report.documents import to_document
from scanner.scan.progress import Cancellation, ScanCancelled
from scanner.service.worker import Worker
from scanner.sources.inventory.asset import CloudAssetSource
from scanner.sources.inventory.export import ExportSource
from scanner.sources.inventory.source import InventorySource
from scanner.sources.usage.files import FileUsageSource
from scanner.store import db, scans
from scanner.store.lock import ScanLock
from scanner.store.tables import KeyVersion, Scan
from tests import assets
from tests.conftest import NOW
from tests.fakes.cloud_asset import FakeCloudAsset, FakeServer, Fault, Gate, serve
from tests.test_asset_live import FAST_RETRY, SERVICES
from tests.test_real_shapes import REAL

HOURLY = Config(schedule=ScheduleConfig(interval=3600, jitter=0))
KEY_TYPE = "apikeys.googleapis.com/Key"


def live_source(server: FakeServer) -> Callable[[], InventorySource]:
    return lambda: CloudAssetSource(
        server.client(), "organizations/900000000001", FAST_RETRY, SERVICES
    )


def export_source(
    tmp_path: object, envelopes: list[dict[str, object]]
) -> Callable[[], InventorySource]:
    import json
    from pathlib import Path

    path = Path(str(tmp_path)) / "org.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in envelopes))
    return lambda: ExportSource([path], SERVICES)


def worker(
    engine: Engine, make_source: Callable[[], InventorySource], config: Config = HOURLY
) -> Worker:
    return Worker(config, engine, make_source, evaluated_at=lambda: NOW)


def open_keys(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(
            conn.scalar(
                select(func.count())
                .select_from(KeyVersion)
                .where(KeyVersion.valid_to_scan_id.is_(None))
            )
            or 0
        )


def last_scan(engine: Engine) -> Scan:
    with engine.connect() as conn:
        row = conn.execute(select(Scan).order_by(Scan.id.desc()).limit(1)).one()
    return row  # type: ignore[return-value]


def age_scans(engine: Engine, by: timedelta) -> None:
    """Move every scan's times into the past, as if they ran BY ago."""
    with engine.begin() as conn:
        for scan in conn.execute(select(Scan.id, Scan.started_at, Scan.finished_at)).all():
            conn.execute(
                update(Scan)
                .where(Scan.id == scan.id)
                .values(
                    started_at=scan.started_at - by,
                    finished_at=scan.finished_at - by if scan.finished_at else None,
                )
            )


@contextmanager
def gated(envelopes: list[dict[str, object]], page: int = 1) -> Iterator[tuple[FakeServer, Gate]]:
    """A fake whose key listing stops at PAGE until the test releases it."""
    gate = Gate(page=page)
    with FakeServer(FakeCloudAsset(envelopes, gates=[gate])) as server:
        try:
            yield server, gate
        finally:
            gate.release.set()


def test_scan_job_records_a_scan_and_a_quick_rerun_is_skipped(
    engine: Engine, tmp_path: object
) -> None:
    w = worker(engine, export_source(tmp_path, assets.small_org()))
    assert w.scan_once() == "succeeded"
    assert last_scan(engine).status == "succeeded"
    # A second replica's run right after: the history is fresh, so it skips.
    assert w.scan_once() == "skipped"
    assert w.state.skipped["recent_scan"] == 1
    age_scans(engine, timedelta(hours=1))
    assert w.scan_once() == "succeeded"


def test_each_scan_logs_the_chain_head_it_stored(
    engine: Engine, tmp_path: object, caplog: pytest.LogCaptureFixture
) -> None:
    w = worker(engine, export_source(tmp_path, assets.small_org()))
    with caplog.at_level("INFO", logger="keysentry.worker"):
        assert w.scan_once() == "succeeded"
    logged = [getattr(r, "chain_head", None) for r in caplog.records if "succeeded" in r.msg]
    stored = last_scan(engine).chain_hash
    assert stored is not None and logged == [stored]


def test_a_failure_mid_scan_leaves_history_as_it_was(engine: Engine) -> None:
    org = assets.small_org()
    with serve(org) as server:
        assert worker(engine, live_source(server)).scan_once() == "succeeded"
    age_scans(engine, timedelta(hours=1))
    before = to_document(build_report(engine))
    fault = Fault(page=1, code=grpc.StatusCode.UNAVAILABLE, times=-1, asset_type=KEY_TYPE)
    changed = [e for e in org if "k-maps" not in str(e["name"])]
    with serve(changed, [fault]) as server:
        assert worker(engine, live_source(server)).scan_once() == "failed"
    failed = last_scan(engine)
    assert failed.status == "failed" and failed.error_stage == "inventory"
    assert "injected fault on page 1" in (failed.error or "")
    assert open_keys(engine) == 5  # k-maps was not closed
    assert to_document(build_report(engine)) == before


def test_shutdown_within_grace_lets_the_scan_finish(engine: Engine) -> None:
    with gated(assets.small_org()) as (server, gate), ThreadPoolExecutor(2) as pool:
        w = worker(engine, live_source(server))
        outcome = pool.submit(w.scan_once)
        assert gate.reached.wait(10)
        stopped = pool.submit(w.stop, 30.0)
        gate.release.set()
        assert outcome.result(10) == "succeeded"
        assert stopped.result(10) is True
    assert not w.cancel.is_set()
    assert last_scan(engine).status == "succeeded" and open_keys(engine) == 5


def test_shutdown_after_grace_rolls_the_scan_back(engine: Engine) -> None:
    with serve(assets.small_org()) as server:
        assert worker(engine, live_source(server)).scan_once() == "succeeded"
    age_scans(engine, timedelta(hours=1))
    before = to_document(build_report(engine))
    changed = [e for e in assets.small_org() if "k-maps" not in str(e["name"])]
    with gated(changed) as (server, gate), ThreadPoolExecutor(2) as pool:
        w = worker(engine, live_source(server))
        outcome: Future[str] = pool.submit(w.scan_once)
        assert gate.reached.wait(10)
        stopped = pool.submit(w.stop, 0.0)
        w_cancelled = w.cancel.wait(10)
        gate.release.set()
        assert w_cancelled
        assert outcome.result(10) == "cancelled"
        assert stopped.result(20) is True
    rolled_back = last_scan(engine)
    assert rolled_back.status == "failed" and rolled_back.error_stage == "shutdown"
    assert to_document(build_report(engine)) == before


def test_a_scan_left_running_by_a_dead_process_is_marked_failed(
    engine: Engine, tmp_path: object
) -> None:
    dead = scans.begin_scan(engine, "cai:organizations/1", None, NOW)
    assert worker(engine, export_source(tmp_path, assets.small_org())).scan_once() == "succeeded"
    with engine.connect() as conn:
        row = conn.execute(select(Scan).where(Scan.id == dead)).one()
    assert row.status == "failed" and row.error_stage == "abandoned"


def test_second_replica_skips_while_the_first_holds_the_lock(db_url: str, tmp_path: object) -> None:
    first, second = db.open_engine(db_url), db.open_engine(db_url)
    db.ensure_current(first)
    try:
        a = worker(first, export_source(tmp_path, assets.small_org()))
        b = worker(second, export_source(tmp_path, assets.small_org()))
        if first.dialect.name == "sqlite":
            a.lock.hold_for_process()
            with pytest.raises(StoreError, match="in use by another keysentry process"):
                b.lock.hold_for_process()
            a.lock.release_process()
            b.lock.hold_for_process()  # free again once the first lets go
            b.lock.release_process()
            return
        with a.lock.for_scan() as held:
            assert held and a.lock.held
            assert b.scan_once() == "skipped"
        assert b.state.skipped["lock_held"] == 1 and not a.lock.held
        assert b.scan_once() == "succeeded"  # the lock is free again
    finally:
        first.dispose()
        second.dispose()


def test_one_shot_scan_lock_on_sqlite_file(tmp_path: object) -> None:
    engine = db.open_engine(f"sqlite:///{tmp_path}/h.db")
    db.ensure_current(engine)
    holder = ScanLock(engine)
    holder.hold_for_process()
    with ScanLock(engine).for_scan() as held:
        assert held is False
    holder.release_process()
    with ScanLock(engine).for_scan() as held:
        assert held is True


def test_start_scans_at_once_only_when_the_last_success_is_older_than_an_interval(
    engine: Engine, tmp_path: object
) -> None:
    started = threading.Semaphore(0)
    make = export_source(tmp_path, assets.small_org())

    def counting_source() -> InventorySource:
        started.release()
        return make()

    overdue = Worker(HOURLY, engine, counting_source, evaluated_at=lambda: NOW)
    overdue.start()  # no history yet: scans now, not in an hour
    try:
        assert started.acquire(timeout=10)
    finally:
        assert overdue.stop(30)
    assert last_scan(engine).status == "succeeded"
    fresh = Worker(HOURLY, engine, counting_source, evaluated_at=lambda: NOW)
    fresh.start()
    try:
        next_run = fresh.scheduler.get_job("scan").next_run_time
        assert next_run - datetime.now(UTC) > timedelta(minutes=59)
    finally:
        assert fresh.stop(30)


def test_readiness(engine: Engine, tmp_path: object) -> None:
    config = HOURLY.model_copy(update={"worker": WorkerConfig(ready_max_age=600)})
    w = worker(engine, export_source(tmp_path, assets.small_org()), config)
    state = w.readiness()
    assert not state.ready and "no successful scan yet" in state.reason
    w.scan_once()
    assert w.readiness().ready
    age_scans(engine, timedelta(minutes=11))
    state = w.readiness()
    assert not state.ready and "limit 600s" in state.reason


def test_readiness_fails_when_the_database_is_unreachable() -> None:
    engine = db.open_engine("postgresql+psycopg://postgres@127.0.0.1:9/none")
    w = Worker(HOURLY, engine, lambda: ExportSource([], SERVICES))
    state = w.readiness()
    assert not state.ready and state.reason.startswith("database unreachable")


def test_schedule_config() -> None:
    assert Config().schedule.cron == "0 */6 * * *"
    assert interval_seconds(Config().schedule) == 6 * 3600
    config = parse_config("schedule: {interval: 1h30m, jitter: 10s, misfire_grace: 2m}", "c.yaml")
    assert (config.schedule.interval, config.schedule.jitter, config.schedule.misfire_grace) == (
        5400,
        10,
        120,
    )
    for text, message in [
        ("schedule: {cron: '61 * * * *'}", "c.yaml: schedule.cron: not a crontab line"),
        ("schedule: {cron: '0 9 * *'}", "c.yaml: schedule.cron: not a crontab line"),
        ("schedule: {interval: 6x}", "c.yaml: schedule.interval: not a duration"),
        ("schedule: {interval: 0s}", "c.yaml: schedule.interval: must be at least 1s"),
        ("schedule: {interval: 6h, cron: '* * * * *'}", "c.yaml: schedule: give cron or interval"),
        ("worker: {listen: nowhere}", "c.yaml: worker.listen: expected HOST:PORT"),
    ]:
        with pytest.raises(ConfigError) as caught:
            parse_config(text, "c.yaml")
        assert str(caught.value).startswith(message), str(caught.value)


@pytest.mark.parametrize(
    ("cron", "expected"),
    [
        ("0 9 * * 1", "Mon"),  # crontab counts from Sunday = 0
        ("0 9 * * 0", "Sun"),
        ("0 9 * * 7", "Sun"),
        ("0 9 * * 6", "Sat"),
        ("0 9 * * 2-4", "Tue"),
        ("0 9 * * fri", "Fri"),
    ],
)
def test_cron_weekdays_count_from_sunday(cron: str, expected: str) -> None:
    saturday_noon = datetime(2026, 11, 21, 12, tzinfo=UTC)
    fire = cron_trigger(cron).get_next_fire_time(None, saturday_noon)
    assert fire is not None and fire.strftime("%a") == expected


def test_worker_scans_on_its_schedule(engine: Engine, tmp_path: object) -> None:
    """Started with no history, the worker scans at once; then on each interval."""
    config = Config(schedule=ScheduleConfig(interval=2, jitter=0))
    done = threading.Semaphore(0)
    make = export_source(tmp_path, assets.small_org())

    def counting_source() -> InventorySource:
        done.release()
        return make()

    w = Worker(config, engine, counting_source, evaluated_at=lambda: NOW)
    w.start()
    try:
        assert done.acquire(timeout=10)  # the catch-up scan, at start
        assert done.acquire(timeout=10)  # and the next, one interval later
    finally:
        assert w.stop(30)
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(Scan)) >= 1


def test_the_worker_migrates_an_older_schema_at_start(db_url: str) -> None:
    from alembic import command

    from scanner.cli.service import open_worker_store

    engine = db.open_engine(db_url)
    command.upgrade(db._alembic_config(engine), "0001")
    assert db.current_revision(engine) == "0001"
    engine.dispose()
    migrated = open_worker_store(Config(), db_url)
    try:
        assert db.current_revision(migrated) == db.head_revision()
    finally:
        migrated.dispose()


def test_the_sqlite_lock_is_the_file_not_its_name(tmp_path: Path) -> None:
    """A second name for the held file (made and opened while the first name
    was gone, as a bind mount would give) finds the lock taken."""
    first = tmp_path / "h.db"
    engine = db.open_engine(f"sqlite:///{first}")
    db.ensure_current(engine)
    holder = ScanLock(engine)
    holder.hold_for_process()
    try:
        os.link(first, tmp_path / "other.db")
        first.unlink()
        other = db.open_engine(f"sqlite:///{tmp_path / 'other.db'}")
        with pytest.raises(StoreError, match="in use by another keysentry process"):
            ScanLock(other).hold_for_process()
        with ScanLock(other).for_scan() as held:
            assert held is False
        other.dispose()
    finally:
        holder.release_process()
        engine.dispose()


class _GatedUsage(FileUsageSource):
    """Saved usage whose last question, asked once every key is judged and
    before the scan commits, waits for the test: the scan's last moment."""

    def __init__(self, reached: threading.Event, release: threading.Event) -> None:
        super().__init__([REAL / "usage-timeseries.json"], HOURLY.usage, SERVICES)
        self._reached, self._release = reached, release

    def unmatched_series(self) -> int:
        self._reached.set()
        assert self._release.wait(30)
        return super().unmatched_series()


def test_a_cancel_after_the_last_key_rolls_the_scan_back(engine: Engine, tmp_path: Path) -> None:
    reached, release = threading.Event(), threading.Event()
    w = Worker(
        HOURLY,
        engine,
        export_source(tmp_path, assets.small_org()),
        evaluated_at=lambda: NOW,
        usage_factory=lambda: _GatedUsage(reached, release),
    )
    w.start()
    try:
        assert reached.wait(30)
        assert w.cancel.request()  # what stop() does after the grace period
        release.set()
        assert w.idle.wait(30)
    finally:
        release.set()
        assert w.stop(30)
    scan = last_scan(engine)
    assert (scan.status, scan.error_stage) == ("failed", "shutdown")
    assert open_keys(engine) == 0


def test_a_commit_and_a_cancel_exclude_each_other() -> None:
    committing = Cancellation()
    with committing.commit():
        assert committing.request() is False  # too late: the scan completes
    cancelled = Cancellation()
    assert cancelled.request() is True
    with pytest.raises(ScanCancelled), cancelled.commit():
        pytest.fail("a cancelled scan never commits")
