"""Webhooks: POST JSON, signed with HMAC-SHA256 over the timestamp and the
body, with an Idempotency-Key. 2xx: sent; 429, 5xx and network errors: try
again; any other answer: permanent."""

from __future__ import annotations

import hashlib
import hmac
import os
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping

from alerts.channels.errors import DeliveryError
from alerts.config import WebhookConfig
from scanner import __version__

SIGNATURE_HEADER = "X-Keysentry-Signature"
TIMESTAMP_HEADER = "X-Keysentry-Timestamp"


def signature(secret: bytes, timestamp: str, body: bytes) -> str:
    """sha256=HEX of HMAC-SHA256(secret, timestamp + "." + body)."""
    mac = hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None  # a redirect is an answer: reported, not followed with our body


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
        self._opener = urllib.request.build_opener(_NoRedirect)

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
        try:
            with self._opener.open(request, timeout=self._config.timeout) as response:
                response.read(65536)
                status = int(response.status)
        except urllib.error.HTTPError as exc:
            status = exc.code
            exc.close()
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise DeliveryError.retry(f"{where}: {reason}") from None
        if 200 <= status < 300:
            return
        retryable = status == 429 or status >= 500
        raise DeliveryError(f"{where}: HTTP {status}", retryable=retryable)
