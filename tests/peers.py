"""Real peers on loopback for the alert channels: an SMTP server (aiosmtpd;
plain, STARTTLS or implicit TLS, optional AUTH) and an HTTP receiver that
checks webhook signatures and answers as scripted (or hangs)."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Certificates:
    ca_file: Path
    server_context: ssl.SSLContext


def certificates(directory: Path) -> Certificates:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    ca_file = directory / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    return Certificates(ca_file, context)


@dataclass
class Received:
    sender: str
    recipients: list[str]
    message: EmailMessage


@dataclass
class SmtpHandler:
    received: list[Received] = field(default_factory=list)
    arrived: threading.Condition = field(default_factory=threading.Condition)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = BytesParser(policy=policy.default).parsebytes(envelope.original_content)
        with self.arrived:
            self.received.append(
                Received(envelope.mail_from, list(envelope.rcpt_tos), parsed)  # type: ignore[arg-type]
            )
            self.arrived.notify_all()
        return "250 OK"


def _authenticator(user: str, password: str) -> Any:
    def check(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
            user.encode(),
            password.encode(),
        )
        return AuthResult(success=ok, handled=False)  # unhandled: the server answers 535

    return check


@contextmanager
def smtp_server(
    port: int,
    security: str = "none",
    certs: Certificates | None = None,
    auth: tuple[str, str] | None = None,
) -> Iterator[SmtpHandler]:
    handler = SmtpHandler()
    options: dict[str, Any] = {"hostname": "127.0.0.1", "port": port}
    if security == "starttls":
        assert certs is not None
        options |= {"tls_context": certs.server_context, "require_starttls": True}
    if security == "tls":
        assert certs is not None
        options |= {"ssl_context": certs.server_context}
    if auth is not None:
        options |= {
            "authenticator": _authenticator(*auth),
            # With implicit TLS the whole session is encrypted; aiosmtpd only
            # tracks STARTTLS, so it is told not to look for it.
            "auth_require_tls": security == "starttls",
        }
    controller = Controller(handler, **options)
    controller.start()
    try:
        yield handler
    finally:
        controller.stop()


@dataclass
class Request:
    headers: dict[str, str]
    body: bytes
    signature_ok: bool | None  # None: no secret configured here

    def json(self) -> Any:
        return json.loads(self.body)


class HttpReceiver(ThreadingHTTPServer):
    """Answers each POST with the next scripted status (then 200); "hang"
    waits until the receiver closes."""

    daemon_threads = True

    def __init__(self, script: list[int | str] | None = None, secret: str | None = None) -> None:
        self.script = list(script or [])
        self.secret = secret
        self.requests: list[Request] = []
        self.arrived = threading.Condition()
        self.closing = threading.Event()
        self.hold = threading.Event()  # set by a test to make the next answer wait
        self.release = threading.Event()
        self.delay = 0.0  # seconds each answer takes: a slow receiver
        super().__init__(("127.0.0.1", 0), _ReceiverHandler)
        self.url = f"http://127.0.0.1:{self.server_address[1]}/hook"
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)

    def verify(self, headers: dict[str, str], body: bytes) -> bool | None:
        """The verification a webhook consumer runs (see the README)."""
        if self.secret is None:
            return None
        timestamp = headers.get("X-Keysentry-Timestamp", "")
        expected = hmac.new(
            self.secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256
        ).hexdigest()
        return hmac.compare_digest("sha256=" + expected, headers.get("X-Keysentry-Signature", ""))

    def __enter__(self) -> HttpReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.closing.set()
        self.release.set()
        self.shutdown()
        self.server_close()


class _ReceiverHandler(BaseHTTPRequestHandler):
    server: HttpReceiver
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        headers = {k: v for k, v in self.headers.items()}
        receiver = self.server
        with receiver.arrived:
            receiver.requests.append(Request(headers, body, receiver.verify(headers, body)))
            answer = receiver.script.pop(0) if receiver.script else 200
            receiver.arrived.notify_all()
        if receiver.hold.is_set():
            receiver.release.wait()
        if receiver.delay:
            receiver.closing.wait(receiver.delay)  # the peer is slow, by design
        if answer == "hang":
            receiver.closing.wait()
            return
        status = int(answer)
        payload = b"{}"
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: object) -> None:
        pass


class DripServer:
    """A peer that answers every connection one byte every INTERVAL seconds,
    each byte well within a read timeout, the whole answer far beyond it:
    after reading an HTTP request (REQUEST=True, counted in `requests`), or
    at once, as an SMTP server greets."""

    def __init__(self, answer: bytes, interval: float, request: bool) -> None:
        self.answer = answer
        self.interval = interval
        self.request = request
        self.requests: list[bytes] = []
        self.connections = 0
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._server.getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def __enter__(self) -> DripServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._closing.set()
        self._server.close()

    def _accept(self) -> None:
        while not self._closing.is_set():
            try:
                conn, _ = self._server.accept()
            except OSError:  # closed by __exit__
                return
            with self._lock:
                self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _read_request(self, conn: socket.socket) -> bytes:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                return data
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        while len(body) < length:
            chunk = conn.recv(65536)
            if not chunk:
                break
            body += chunk
        return head + b"\r\n\r\n" + body

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            try:
                if self.request:
                    received = self._read_request(conn)
                    with self._lock:
                        self.requests.append(received)
                for byte in self.answer:
                    if self._closing.wait(self.interval):
                        return
                    conn.sendall(bytes([byte]))
            except OSError:  # the client gave up: what the tests look for
                return
