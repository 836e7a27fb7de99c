"""Where a scan is (the stage a failure names) and the cancellation the
worker's shutdown requests between keys."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import TypeVar

Listed = TypeVar("Listed")


class ScanCancelled(Exception):
    """The worker is shutting down and its grace period for this scan is over."""


class Stage:
    """Where a scan is, so that a failure can say which stage it stopped in."""

    def __init__(self) -> None:
        self.name = "inventory"


def stop_if_cancelled(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise ScanCancelled("cancelled: the worker is shutting down; nothing was recorded")


def keys_of(
    keys: Iterator[Listed], stage: Stage, cancel: threading.Event | None
) -> Iterator[Listed]:
    while True:
        stage.name = "inventory"
        stop_if_cancelled(cancel)
        key = next(keys, None)
        if key is None:
            return
        stage.name = "evaluate"
        yield key
