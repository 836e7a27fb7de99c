"""The worker as a process: its endpoints, and SIGTERM or SIGINT to stop it."""

from __future__ import annotations

import contextlib
import logging
import os
import select
import signal
import socket
import sys
from collections.abc import Callable
from types import FrameType

from prometheus_client import CollectorRegistry

from scanner.alerts.delivery.metrics import OutboxCollector
from scanner.feed.metrics import FeedCollector
from scanner.metrics.collector import StoreCollector
from scanner.service.endpoints import EndpointServer
from scanner.service.worker import Worker

log = logging.getLogger("keysentry.worker")


def wait_for_signal() -> str:
    """Block until SIGTERM or SIGINT; returns its name. The handler only
    records the signal: the wakeup fd ends the wait, so none is missed."""
    received: list[str] = []

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        received.append(signal.Signals(signum).name)

    reader, writer = socket.socketpair()
    reader.setblocking(False)
    writer.setblocking(False)
    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    previous_fd = signal.set_wakeup_fd(writer.fileno())
    try:
        while not received:
            select.select([reader], [], [])
            with contextlib.suppress(BlockingIOError):
                reader.recv(64)
    finally:
        signal.set_wakeup_fd(previous_fd)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        reader.close()
        writer.close()
    return received[0]


def serve(worker: Worker, listen: str, on_listening: Callable[[str], None] | None = None) -> int:
    """Run WORKER and its endpoints until SIGTERM or SIGINT; returns the exit code."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StoreCollector(worker.engine, worker.config, worker.state))
    registry.register(OutboxCollector(worker.engine))  # zeros until alerts are configured
    if worker.feed is not None:
        registry.register(FeedCollector(worker.engine, worker.feed.status))
    server = EndpointServer(listen, registry, worker.readiness)
    try:
        server.start()
        log.info("listening on http://%s (/metrics, /healthz, /readyz)", server.address)
        if on_listening is not None:
            on_listening(server.address)
        worker.start()
        name = wait_for_signal()
        log.info("shutdown requested (%s): no more scans will start", name)
        clean = worker.stop(worker.config.worker.shutdown_grace)
    finally:
        server.stop()
    log.info("stopped")
    if not clean:
        # The scan thread is stuck in a call; the interpreter would wait for it.
        logging.shutdown()
        sys.stdout.flush()
        os._exit(0)
    return 0
