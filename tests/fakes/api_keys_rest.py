"""The API Keys API's ListKeys over REST on loopback
(GET /v2/projects/P/locations/global/keys?pageSize=&pageToken=), with pages
and faults: the answer shape is the REST mapping of googleapis
google/api/apikeys/v2/apikeys.proto ListKeysResponse {keys, nextPageToken},
errors are Google's JSON error body {"error": {code, message, status}}."""

from __future__ import annotations

import json
import re
import threading
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

_PATH = re.compile(r"^/v2/projects/([^/]+)/locations/global/keys$")
_STATUS = {403: "PERMISSION_DENIED", 429: "RESOURCE_EXHAUSTED", 503: "UNAVAILABLE"}


@dataclass
class RestFault:
    status: int
    times: int  # -1: always
    project: str | None = None  # None: any project
    page: int | None = None  # 0-based; None: any page
    retry_after: str | None = None


@dataclass
class FakeListKeys:
    keys: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # by project number
    aliases: dict[str, str] = field(default_factory=dict)  # project id -> number
    faults: list[RestFault] = field(default_factory=list)
    max_page: int = 300
    requests: Counter[str] = field(default_factory=Counter)  # by project as asked
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, path: str, query: dict[str, list[str]]) -> tuple[int, dict[str, str], Any]:
        found = _PATH.match(path)
        if not found:
            return 404, {}, _error(404, "no such method")
        asked = found.group(1)
        number = self.aliases.get(asked, asked)
        offset = int((query.get("pageToken") or ["0"])[0])
        size = min(int((query.get("pageSize") or ["300"])[0]), self.max_page)
        page = offset // size if size else 0
        with self._lock:
            self.requests[asked] += 1
            for fault in self.faults:
                matches = fault.project in (None, asked, number) and fault.page in (None, page)
                if matches and fault.times != 0:
                    fault.times -= 1
                    headers = {"Retry-After": fault.retry_after} if fault.retry_after else {}
                    return fault.status, headers, _error(fault.status, "injected fault")
        if number not in self.keys:
            return 403, {}, _error(403, f"Permission denied on resource project {asked}.")
        keys = self.keys[number]
        body: dict[str, Any] = {"keys": keys[offset : offset + size]}
        if offset + size < len(keys):
            body["nextPageToken"] = str(offset + size)
        return 200, {}, body


def _error(code: int, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "status": _STATUS.get(code, "UNKNOWN")}}


class FakeListKeysServer:
    def __init__(self, fake: FakeListKeys) -> None:
        self.fake = fake

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                status, headers, body = fake.answer(parts.path, parse_qs(parts.query))
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=UTF-8")
                self.send_header("Content-Length", str(len(data)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> FakeListKeysServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


class HostileListKeysServer:
    """A ListKeys server that answers every page as MODE says, to hold a
    listing forever or blow its memory: "same-token" (every page names the
    same next page), "endless" (always one more page, each a new token),
    "huge" (a page without end: its body never stops coming). Each page is
    a valid ListKeysResponse as far as it goes."""

    def __init__(self, mode: str) -> None:
        self.requests = 0
        self.bytes_sent = 0
        lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                with lock:
                    server.requests += 1
                    page = server.requests
                self.send_response(200)
                self.send_header("Content-Type", "application/json; charset=UTF-8")
                if mode == "huge":
                    self.send_header("Connection", "close")
                    self.end_headers()
                    self._endless()
                    return
                token = "again" if mode == "same-token" else f"page-{page}"
                data = json.dumps({"keys": [], "nextPageToken": token}).encode()
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _endless(self) -> None:
                self.wfile.write(b'{"keys": [')
                key = json.dumps({"name": "projects/1/locations/global/keys/k", "uid": "k"})
                chunk = ((key + ", ") * 1000).encode()
                try:
                    while True:
                        self.wfile.write(chunk)
                        with lock:
                            server.bytes_sent += len(chunk)
                except OSError:  # the client stopped reading: what the test looks for
                    return

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.endpoint = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> HostileListKeysServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
