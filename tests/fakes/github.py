"""GitHub's REST API for organization secret scanning alerts, on loopback:
the secret_type filter, cursor pages linked with Link: rel="next", bearer
tokens, and scripted rate limits (403 with X-RateLimit-Remaining: 0, or 429
with Retry-After)."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Seen:
    path: str
    query: dict[str, list[str]]
    authorization: str | None
    api_version: str | None


class FakeGitHub(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self, alerts: dict[str, list[dict[str, Any]]], token: str, page_size: int = 2
    ) -> None:
        self.alerts = alerts  # by organization
        self.token = token
        self.page_size = page_size
        self.limits: list[str] = []  # "403" or "429": the next requests are refused so
        self.remaining_zero_after: int | None = None  # answer with remaining 0 from this request on
        self.seen: list[Seen] = []
        super().__init__(("127.0.0.1", 0), _Handler)
        self.url = f"http://127.0.0.1:{self.server_address[1]}"
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)

    def __enter__(self) -> FakeGitHub:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
        self.server_close()


class _Handler(BaseHTTPRequestHandler):
    server: FakeGitHub
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        fake = self.server
        parts = urlsplit(self.path)
        query = parse_qs(parts.query)
        fake.seen.append(
            Seen(
                parts.path,
                query,
                self.headers.get("Authorization"),
                self.headers.get("X-GitHub-Api-Version"),
            )
        )
        reset = str(int(time.time()) + 30)
        if self.headers.get("Authorization") != f"Bearer {fake.token}":
            return self._send(401, {"message": "Bad credentials"})
        if fake.limits:
            kind = fake.limits.pop(0)
            if kind == "429":
                return self._send(429, {"message": "slow down"}, {"Retry-After": "7"})
            headers = {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset}
            return self._send(403, {"message": "API rate limit exceeded"}, headers)
        segments = parts.path.strip("/").split("/")
        if (
            len(segments) != 4
            or segments[0] != "orgs"
            or segments[2:] != ["secret-scanning", "alerts"]
        ):
            return self._send(404, {"message": "Not Found"})
        if segments[1] not in fake.alerts:
            return self._send(404, {"message": "Not Found"})
        wanted = set(",".join(query.get("secret_type", [])).split(",")) - {""}
        alerts = [a for a in fake.alerts[segments[1]] if not wanted or a["secret_type"] in wanted]
        start = int(query.get("after", ["0"])[0])
        page = alerts[start : start + fake.page_size]
        headers = {"X-RateLimit-Remaining": "4999", "X-RateLimit-Reset": reset}
        if fake.remaining_zero_after is not None and len(fake.seen) >= fake.remaining_zero_after:
            headers["X-RateLimit-Remaining"] = "0"
        if start + fake.page_size < len(alerts):
            others = "&".join(f"{k}={v[0]}" for k, v in query.items() if k != "after")
            headers["Link"] = (
                f'<{fake.url}{parts.path}?{others}&after={start + fake.page_size}>; rel="next"'
            )
        self._send(200, page, headers)

    def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: object) -> None:
        pass
