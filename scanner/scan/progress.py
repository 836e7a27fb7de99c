"""Where a scan is (the stage a failure names) and the cancellation the
worker's shutdown requests: honoured at the next key, and at the latest
when the scan would commit. A scan either commits or is cancelled, never
both, so that what the worker logs of it is true."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TypeVar

Listed = TypeVar("Listed")


class ScanCancelled(Exception):
    """The worker is shutting down and its grace period for this scan is over."""


class Stage:
    """Where a scan is, so that a failure can say which stage it stopped in."""

    def __init__(self) -> None:
        self.name = "inventory"


CANCELLED = "cancelled: the worker is shutting down; nothing was recorded"


class Cancellation:
    """The worker's request to stop its running scan, exclusive with the
    scan's commit: a request made once the commit has begun is refused (the
    scan completes), and a commit asked for after a request is refused (the
    scan rolls back)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requested = threading.Event()
        self._committed = False

    def is_set(self) -> bool:
        return self._requested.is_set()

    def wait(self, timeout: float) -> bool:
        """Whether a cancel is requested within TIMEOUT seconds."""
        return self._requested.wait(timeout)

    def request(self) -> bool:
        """Cancel the running scan; False when it is already committing."""
        with self._lock:
            if self._committed:
                return False
            self._requested.set()
            return True

    def begin(self) -> None:
        """A new scan begins: nothing of it is committed (a request stands)."""
        with self._lock:
            self._committed = False

    @contextmanager
    def commit(self) -> Iterator[None]:
        """Commit within the block, unless cancelled first (ScanCancelled)."""
        with self._lock:
            if self._requested.is_set():
                raise ScanCancelled(CANCELLED)
            self._committed = True
        yield


def stop_if_cancelled(cancel: Cancellation | None) -> None:
    if cancel is not None and cancel.is_set():
        raise ScanCancelled(CANCELLED)


def keys_of(keys: Iterator[Listed], stage: Stage, cancel: Cancellation | None) -> Iterator[Listed]:
    while True:
        stage.name = "inventory"
        stop_if_cancelled(cancel)
        key = next(keys, None)
        if key is None:
            return
        stage.name = "evaluate"
        yield key
