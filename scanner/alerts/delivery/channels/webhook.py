"""Webhooks: POST JSON, signed with HMAC-SHA256 over the timestamp and the
body, with an Idempotency-Key. 2xx: sent; 429, 5xx, network errors and no
whole answer within the webhook's timeout: try again; any other answer:
permanent."""

from __future__ import annotations

import hashlib
import hmac
import http.client
import os
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any

from scanner import __version__
from scanner.alerts.delivery.channels.errors import DeliveryError
from scanner.calls.deadline import Deadline
from scanner.config.alerts import WebhookConfig

SIGNATURE_HEADER = "X-Keysentry-Signature"
TIMESTAMP_HEADER = "X-Keysentry-Timestamp"


def signature(secret: bytes, timestamp: str, body: bytes) -> str:
    """sha256=HEX of HMAC-SHA256(secret, timestamp + "." + body)."""
    mac = hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None  # a redirect is an answer: reported, not followed with our body


def _watched(
    kind: type[http.client.HTTPConnection], deadline: Deadline
) -> Callable[..., http.client.HTTPConnection]:
    """Connections of KIND whose sockets (the proxy's, when there is one) the
    DEADLINE shuts down."""

    def make(host: str, **kwargs: Any) -> http.client.HTTPConnection:
        connection = kind(host, **kwargs)
        connection._create_connection = deadline.connect  # type: ignore[attr-defined]
        return connection

    return make


def _opener(deadline: Deadline) -> urllib.request.OpenerDirector:
    class Http(urllib.request.HTTPHandler):
        def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
            return self.do_open(_watched(http.client.HTTPConnection, deadline), req)

    class Https(urllib.request.HTTPSHandler):
        def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
            return self.do_open(_watched(http.client.HTTPSConnection, deadline), req)

    return urllib.request.build_opener(_NoRedirect, Http, Https)


class WebhookChannel:
    def __init__(
        self,
        config: WebhookConfig,
        environ: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._config = config
        self._environ = os.environ if environ is None else environ
        self._clock = clock

    def _secret(self) -> bytes | None:
        name = self._config.secret_env
        if name is None:
            return None
        value = self._environ.get(name)
        if not value:
            raise DeliveryError.permanent(f"webhook secret variable {name} is not set")
        return value.encode()

    def send(self, body: bytes, idempotency_key: str) -> None:
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": f"keysentry/{__version__}",
            "Idempotency-Key": idempotency_key,
        }
        secret = self._secret()
        if secret is not None:
            timestamp = str(int(self._clock()))
            headers[TIMESTAMP_HEADER] = timestamp
            headers[SIGNATURE_HEADER] = signature(secret, timestamp, body)
        # The config admits only http(s) URLs.
        request = urllib.request.Request(self._config.url, body, headers, method="POST")  # noqa: S310
        where = f"webhook {self._config.name}"
        timeout = self._config.timeout
        with Deadline(timeout) as deadline:
            try:
                # The deadline ends the exchange; each read's timeout is a backstop.
                with _opener(deadline).open(request, timeout=2 * timeout) as response:
                    response.read(65536)
                    status = int(response.status)
            except urllib.error.HTTPError as exc:
                status = exc.code
                exc.close()
            except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
                if deadline.expired:
                    raise DeliveryError.retry(
                        f"{where}: no whole answer within its timeout ({timeout:g}s)"
                    ) from None
                reason = getattr(exc, "reason", exc)
                raise DeliveryError.retry(f"{where}: {reason}") from None
        if 200 <= status < 300:
            return
        retryable = status == 429 or status >= 500
        raise DeliveryError(f"{where}: HTTP {status}", retryable=retryable)
