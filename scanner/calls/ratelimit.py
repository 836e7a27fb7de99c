"""Paces calls to an outside API that is queried per project."""

from __future__ import annotations

import threading
import time


class RateLimiter:
    """At most RATE calls a second, across threads."""

    def __init__(self, rate: float) -> None:
        self._interval = 1.0 / rate
        self._next = time.monotonic()
        self._lock = threading.Lock()

    def wait(self) -> None:
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next)
            self._next = start + self._interval
        if start > now:
            time.sleep(start - now)  # pacing the outside API, not a test
