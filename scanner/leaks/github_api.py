"""The one module that talks to GitHub: the organization's secret scanning
alerts for Google keys, page by page (Link: rel="next"), waiting out rate
limits as GitHub's headers say (Retry-After, X-RateLimit-Remaining/Reset)."""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote, urlencode

from scanner.core.errors import SourceError
from scanner.core.secrets import scrub
from scanner.leaks.formats.github import GOOGLE_SECRET_TYPES

DEFAULT_API = "https://api.github.com"
API_VERSION = "2022-11-28"
_NEXT = re.compile(r'<([^>]+)>;\s*rel="next"')
_RETRIES = 4  # for 5xx and connection errors, with backoff


class GitHubAlerts:
    def __init__(
        self,
        token: str,
        api_url: str = DEFAULT_API,
        timeout_seconds: float = 30.0,
        max_wait_seconds: float = 900.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not api_url.startswith(("https://", "http://")):
            raise SourceError(f"GitHub: API URL must start with https://, not {api_url!r}")
        self._token = token
        self._api = api_url.rstrip("/")
        self._timeout = timeout_seconds
        self._max_wait = max_wait_seconds
        self._sleep = sleep
        self._clock = clock
        self.requests = 0
        self.waited = 0.0

    def alerts(self, org: str) -> Iterator[tuple[str, Any]]:
        """(where, alert) for each Google-key alert of ORG, in any state."""
        query = urlencode({"secret_type": ",".join(sorted(GOOGLE_SECRET_TYPES)), "per_page": "100"})
        url: str | None = f"{self._api}/orgs/{quote(org, safe='')}/secret-scanning/alerts?{query}"
        page = 0
        while url is not None:
            page += 1
            body, headers = self._get(url)
            if not isinstance(body, list):
                raise SourceError(f"GitHub: {self._where(url)}: expected a list of alerts")
            for index, alert in enumerate(body, start=1):
                yield f"github:{org} page {page} alert {index}", alert
            match = _NEXT.search(headers.get("link", ""))
            url = match.group(1) if match else None
            if url is not None and headers.get("x-ratelimit-remaining") == "0":
                self._wait(self._until_reset(headers), url)

    def _where(self, url: str) -> str:
        return url.split("?", 1)[0]

    def _get(self, url: str) -> tuple[Any, dict[str, str]]:
        attempt = 0
        while True:
            attempt += 1
            self.requests += 1
            request = urllib.request.Request(  # noqa: S310  (http(s) only, checked above)
                url,
                headers={
                    "Accept": "application/vnd.github+json",
                    "Authorization": f"Bearer {self._token}",
                    "X-GitHub-Api-Version": API_VERSION,
                    "User-Agent": "keysentry",
                },
            )
            try:
                with urllib.request.urlopen(request, timeout=self._timeout) as response:  # noqa: S310
                    headers = {k.lower(): v for k, v in response.headers.items()}
                    raw = response.read()
            except urllib.error.HTTPError as exc:
                headers = {k.lower(): v for k, v in exc.headers.items()}
                wait = self._rate_limit_wait(exc.code, headers)
                if wait is not None:
                    self._wait(wait, url)
                    continue
                if exc.code >= 500 and attempt < _RETRIES:
                    self._sleep(2.0**attempt)
                    continue
                raise SourceError(self._refusal(exc.code, url, exc.read(2048))) from None
            except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
                if attempt < _RETRIES:
                    self._sleep(2.0**attempt)
                    continue
                reason = getattr(exc, "reason", exc)
                raise SourceError(f"GitHub: {self._where(url)}: {reason}") from None
            try:
                return json.loads(raw), headers
            except (UnicodeDecodeError, json.JSONDecodeError):
                raise SourceError(f"GitHub: {self._where(url)}: the answer is not JSON") from None

    def _rate_limit_wait(self, status: int, headers: dict[str, str]) -> float | None:
        """Seconds to wait before asking again, when STATUS is a rate limit."""
        if status not in (403, 429):
            return None
        retry_after = headers.get("retry-after")
        if retry_after is not None and retry_after.strip().isdigit():
            return float(retry_after)
        if headers.get("x-ratelimit-remaining") == "0":
            return self._until_reset(headers)
        return 60.0 if status == 429 else None

    def _until_reset(self, headers: dict[str, str]) -> float:
        reset = headers.get("x-ratelimit-reset", "")
        if not reset.isdigit():
            return 60.0
        return max(0.0, float(reset) - self._clock()) + 1.0

    def _wait(self, seconds: float, url: str) -> None:
        if self.waited + seconds > self._max_wait:
            raise SourceError(
                f"GitHub: {self._where(url)}: rate limited; waiting {seconds:.0f}s more would "
                f"exceed the {self._max_wait:.0f}s allowed"
            )
        self.waited += seconds
        self._sleep(seconds)

    def _refusal(self, status: int, url: str, body: bytes) -> str:
        try:
            message = str(json.loads(body).get("message", ""))
        except (ValueError, AttributeError):
            message = ""
        where = self._where(url)
        detail = f": {scrub(message)}" if message else ""
        if status == 401:
            return f"GitHub: {where}: 401 the token was refused{detail}"
        if status in (403, 404):
            return (
                f"GitHub: {where}: {status}{detail}; the token needs read access to secret "
                "scanning alerts (fine-grained: 'Secret scanning alerts' read on the "
                "organization's repositories; classic: security_events or repo scope, as an "
                "organization owner or security manager)"
            )
        return f"GitHub: {where}: {status}{detail}"
