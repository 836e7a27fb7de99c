"""The worker's HTTP endpoints: /metrics, /healthz, /readyz; 404 for the rest."""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Readiness:
    ready: bool
    reason: str


class _Handler(BaseHTTPRequestHandler):
    server: EndpointServer
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/metrics":
            try:
                body = generate_latest(self.server.registry)
            except Exception:
                log.exception("metrics: a collector failed")
                self._send(500, b"metrics collection failed\n")
                return
            self._send(200, body, CONTENT_TYPE_LATEST)
        elif path == "/healthz":
            self._send(200, b"ok\n")
        elif path == "/readyz":
            state = self.server.readiness()
            self._send(200 if state.ready else 503, (state.reason + "\n").encode())
        else:
            self._send(404, b"not found\n")

    def _not_found(self) -> None:
        self._send(404, b"not found\n")

    do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _not_found

    def _send(
        self, status: int, body: bytes, content_type: str = "text/plain; charset=utf-8"
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass  # scrapes and probes every few seconds would drown the log


class EndpointServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self,
        listen: str,
        registry: CollectorRegistry,
        readiness: Callable[[], Readiness],
    ) -> None:
        host, _, port = listen.rpartition(":")
        if ":" in host:
            self.address_family = socket.AF_INET6
        self.registry = registry
        self.readiness = readiness
        super().__init__((host, int(port)), _Handler)
        self._thread = threading.Thread(target=self.serve_forever, name="http", daemon=True)

    @property
    def address(self) -> str:
        host, port = self.server_address[:2]
        return f"{host!s}:{port}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
