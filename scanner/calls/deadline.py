"""One deadline for a whole exchange with a peer. A socket timeout bounds
each read, not the exchange: a peer that drips its answer a byte at a time,
each within the timeout, holds the caller for as long as it likes (a
webhook past the claim on its notification, a ListKeys page past the scan's
schedule). At the deadline every socket of the exchange is shut down, so
whatever call waits on it returns at once, and the caller reports one
failed attempt."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from types import TracebackType
from typing import Any


class Deadline:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._at = time.monotonic() + seconds
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._expired = False
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def __enter__(self) -> Deadline:
        self._timer.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._timer.cancel()

    @property
    def expired(self) -> bool:
        with self._lock:
            return self._expired

    def remaining(self) -> float:
        """The time left, never zero (a zero timeout means non-blocking)."""
        return max(0.001, self._at - time.monotonic())

    def watch(self, sock: socket.socket) -> None:
        """Shut SOCK down at the deadline (at once, if it has passed)."""
        with self._lock:
            self._sockets.append(sock)
            if self._expired:
                _shut(sock)

    def connect(
        self,
        address: tuple[str, int],
        timeout: float | None = None,
        source_address: Any = None,
    ) -> socket.socket:
        """socket.create_connection within the time left, watched."""
        limit = self.remaining() if timeout is None else min(timeout, self.remaining())
        sock = socket.create_connection(address, limit, source_address)
        self.watch(sock)
        return sock

    def _expire(self) -> None:
        with self._lock:
            self._expired = True
            for sock in self._sockets:
                _shut(sock)


def _shut(sock: socket.socket) -> None:
    # Already closed by the exchange itself: nothing is left to stop.
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
