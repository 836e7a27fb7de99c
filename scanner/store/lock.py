"""One scan at a time per database. On PostgreSQL, a session advisory lock
held on its own connection for the length of a scan: replicas sharing the
database take turns, and a replica that dies releases it with its connection.
On SQLite, an exclusive flock on the database file itself, which SQLite's own
record locks leave alone: it is the file's identity (device and inode) that
is locked, whatever name it was opened by, so one process per database file
scans, and the worker holds it for its whole life."""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

from sqlalchemy import Connection, Engine, text

from scanner.core.errors import StoreError
from scanner.store.sqlite_file import single_name_error

# Advisory lock ids, fixed for keysentry so that no other application's
# locks on a shared server collide with them by accident.
SCAN_LOCK_ID = 0x1E5F3A8C2B7D4E61
MIGRATE_LOCK_ID = 0x1E5F3A8C2B7D4E62


def _sqlite_file(engine: Engine) -> Path | None:
    database = engine.url.database
    if engine.dialect.name != "sqlite" or database in (None, "", ":memory:"):
        return None
    return Path(database).expanduser().resolve()


class ScanLock:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._file_path = _sqlite_file(engine)
        self._file_fd: int | None = None
        self._process_held = False
        self._mutex = threading.Lock()
        self.held = False  # read by the metrics: does this process hold it now

    def hold_for_process(self) -> None:
        """SQLite: take the database file for this process's life, or fail."""
        if self._file_path is None:
            return
        if not self._take_file():
            raise StoreError(
                f"database {self._file_path} is in use by another keysentry process; "
                "SQLite allows one per database file, use PostgreSQL for more than one replica"
            )
        self._process_held = True

    def release_process(self) -> None:
        if self._process_held:
            self._release_file()
            self._process_held = False

    @contextmanager
    def for_scan(self) -> Iterator[bool]:
        """Yields True if this caller may scan now; False if another holds the lock."""
        if not self._mutex.acquire(blocking=False):
            yield False
            return
        try:
            if self._engine.dialect.name == "postgresql":
                with self._advisory() as taken:
                    yield from self._while_held(taken)
            elif self._process_held or self._file_path is None:
                yield from self._while_held(True)
            else:
                taken = self._take_file()
                try:
                    yield from self._while_held(taken)
                finally:
                    if taken:
                        self._release_file()
        finally:
            self._mutex.release()

    def _while_held(self, taken: bool) -> Iterator[bool]:
        self.held = taken
        try:
            yield taken
        finally:
            self.held = False

    def _advisory(self) -> AbstractContextManager[bool]:
        return _advisory_lock(self._engine, SCAN_LOCK_ID, wait=False)

    def _take_file(self) -> bool:
        assert self._file_path is not None
        # An empty file is an empty SQLite database: creating it here is safe.
        fd = os.open(self._file_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        links = os.fstat(fd).st_nlink
        if links > 1:  # linked after the engine was opened
            os.close(fd)
            raise StoreError(single_name_error(self._file_path, links))
        self._file_fd = fd
        return True

    def _release_file(self) -> None:
        if self._file_fd is not None:
            fcntl.flock(self._file_fd, fcntl.LOCK_UN)
            os.close(self._file_fd)
            self._file_fd = None


@contextmanager
def _advisory_lock(engine: Engine, lock_id: int, wait: bool) -> Iterator[bool]:
    """A session advisory lock on a connection of its own: WAIT for it, or
    yield whether it was free."""
    conn: Connection = engine.connect()
    try:
        function = "pg_advisory_lock" if wait else "pg_try_advisory_lock"
        result = conn.execute(text(f"SELECT {function}(:id)"), {"id": lock_id}).scalar()
        taken = wait or bool(result)
        conn.commit()  # no transaction stays open while the lock is held
        yield taken
        if taken:
            conn.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": lock_id})
            conn.commit()
    except BaseException:
        # A broken or interrupted session must not go back to the pool still
        # holding the lock: closing it releases the lock.
        conn.invalidate()
        raise
    finally:
        conn.close()


@contextmanager
def migration_lock(engine: Engine) -> Iterator[None]:
    """Replicas starting together on PostgreSQL migrate one after the other."""
    if engine.dialect.name != "postgresql":
        yield
        return
    with _advisory_lock(engine, MIGRATE_LOCK_ID, wait=True):
        yield
