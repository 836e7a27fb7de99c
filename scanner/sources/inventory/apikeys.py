"""The one module that lists keys through the API Keys API: ListKeys in each
project, over REST (GET /v2/projects/P/locations/global/keys). Every answer is
bounded, whatever the server does: each page within the request timeout
(scanner.sources.inventory.bounded_http), at most `apikeys_max_page_bytes` long, at most
`apikeys_max_pages` pages per project, and a page token the project already gave
ends the listing as an error rather than a loop.

Why REST and not the google-cloud-api-keys client: that library's Key message
(0.9.1, googleapis google/api/apikeys/v2/resources.proto) has no field for the
service account an auth key is bound to, so protobuf drops it on the way in;
the JSON Google sends is read as it is, with `serviceAccountEmail` when the
API writes it. Whether Cloud Asset's Key resource carries that field is not
confirmed by any public sample, which is why this source exists."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import requests

from scanner.calls.google_errors import default_credentials
from scanner.calls.ratelimit import RateLimiter
from scanner.config import InventoryConfig
from scanner.core.errors import SourceError
from scanner.core.models import InventoryContext, KeyRecord, ProjectRecord
from scanner.inputs.fields import AssetDataError
from scanner.sources.inventory.bounded_http import bounded, exchange
from scanner.sources.inventory.listed import ListedKey
from scanner.sources.inventory.normalize import normalize_key
from scanner.sources.inventory.source import InventorySource, Progress

ENDPOINT = "https://apikeys.googleapis.com"
PAGE_SIZE = 300  # the API's largest page
NEEDS = "roles/serviceusage.apiKeysViewer (apikeys.keys.list) on every project"
_RETRIED = {429, 500, 502, 503, 504}
_CHUNK = 65536


def make_session() -> requests.Session:
    """A session with Application Default Credentials."""
    from google.auth.transport.requests import AuthorizedSession

    credentials = default_credentials("inventory: API Keys ListKeys", "cloud-platform.read-only")
    return AuthorizedSession(credentials)  # type: ignore[no-untyped-call]


class KeyLister:
    """ListKeys for one project at a time, paged, paced and retried."""

    def __init__(
        self,
        session: requests.Session,
        config: InventoryConfig,
        endpoint: str = ENDPOINT,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._endpoint = endpoint.rstrip("/")
        self._session = bounded(session, self._endpoint + "/")
        self._config = config
        self._limiter = RateLimiter(config.apikeys_requests_per_second)
        self._sleep = sleep
        self.requests = 0

    def keys(self, project: str) -> list[dict[str, Any]]:
        """Every key of PROJECT (an id or a number) as the API's JSON."""
        url = f"{self._endpoint}/v2/projects/{project}/locations/global/keys"
        where = f"API Keys ListKeys on projects/{project}"
        found: list[dict[str, Any]] = []
        token = ""
        seen: set[str] = set()
        for _ in range(self._config.apikeys_max_pages):
            params = {"pageSize": str(PAGE_SIZE), **({"pageToken": token} if token else {})}
            page = self._page(url, params, where)
            keys = page.get("keys", [])
            if not isinstance(keys, list) or not all(isinstance(k, dict) for k in keys):
                raise SourceError(f"{where}: keys is not a list")
            found.extend(keys)
            token = page.get("nextPageToken") or ""
            if not isinstance(token, str) or not token:
                return found
            if token in seen:
                raise SourceError(f"{where}: the API gave a page token it already gave")
            seen.add(token)
        raise SourceError(
            f"{where}: more than {self._config.apikeys_max_pages} pages "
            "(inventory.apikeys_max_pages)"
        )

    def _page(self, url: str, params: dict[str, str], where: str) -> dict[str, Any]:
        deadline = time.monotonic() + self._config.retry_deadline_seconds
        delay = self._config.retry_initial_seconds
        while True:
            self._limiter.wait()
            self.requests += 1
            try:
                status, body, headers = self._get(url, params, where)
            except requests.RequestException as exc:
                status, detail, wait = None, str(exc), delay
            else:
                if status == 200:
                    return _json(body, where)
                detail = _message(body, headers)
                wait = _retry_after(headers) or delay
                if status in (401, 403):
                    raise SourceError(f"{where}: permission denied ({detail}); needs {NEEDS}")
                if status not in _RETRIED:
                    raise SourceError(f"{where}: {status} {detail}")
            if time.monotonic() + wait > deadline:
                raise SourceError(
                    f"{where}: gave up after {self._config.retry_deadline_seconds:g}s of "
                    f"retries: {status or 'no answer'} {detail}"
                )
            self._sleep(wait)  # backing off the outside API, not a test
            delay = min(delay * 2, self._config.retry_maximum_seconds)

    def _get(
        self, url: str, params: dict[str, str], where: str
    ) -> tuple[int, bytes, Mapping[str, str]]:
        """One exchange, whole within the request timeout and at most
        apikeys_max_page_bytes long: its status, body and headers."""
        timeout = self._config.request_timeout_seconds
        limit = self._config.apikeys_max_page_bytes
        with exchange(timeout) as bound:
            try:
                with self._session.get(url, params=params, timeout=timeout, stream=True) as answer:
                    body = bytearray()
                    for chunk in answer.iter_content(_CHUNK):
                        body += chunk
                        if len(body) > limit:
                            raise SourceError(
                                f"{where}: a page of more than {limit} bytes "
                                "(inventory.apikeys_max_page_bytes)"
                            )
                    return answer.status_code, bytes(body), answer.headers
            except requests.RequestException:
                if bound.expired:
                    raise requests.Timeout(f"no whole answer within {timeout:g}s") from None
                raise


def _json(body: bytes, where: str) -> dict[str, Any]:
    try:
        document = json.loads(body)
    except ValueError:
        raise SourceError(f"{where}: the answer is not JSON") from None
    if not isinstance(document, dict):
        raise SourceError(f"{where}: the answer is not a JSON object")
    return document


def _message(body: bytes, headers: Mapping[str, str]) -> str:
    try:
        error = json.loads(body).get("error", {})
        return str(error.get("message") or error.get("status") or "no message")
    except (ValueError, AttributeError):
        return "no message"


def _retry_after(headers: Mapping[str, str]) -> float | None:
    value = headers.get("Retry-After", "")
    return float(value) if value.isdigit() else None


class ApiKeysSource:
    """Projects, services and IAM from Cloud Asset; the keys of each active
    project from ListKeys. A project whose keys cannot be listed fails the scan:
    a partial inventory would mark its keys deleted."""

    def __init__(
        self,
        context_source: InventorySource,
        lister: KeyLister,
        config: InventoryConfig,
        progress: Progress | None = None,
    ) -> None:
        self._context_source = context_source
        self._lister = lister
        self._config = config
        self._progress = progress
        self.description = context_source.description.replace("cai:", "apikeys:", 1)
        self.position: str | None = None
        self._keys_read = 0

    @property
    def assets_read(self) -> int:
        return self._context_source.assets_read + self._keys_read

    def load_context(self) -> InventoryContext:
        return self._context_source.load_context()

    def iter_listed(self, context: InventoryContext) -> Iterator[ListedKey]:
        """Each key decoded as it comes: the REST JSON gives no digest."""
        return (ListedKey.of(key) for key in self._records(context))

    def _records(self, context: InventoryContext) -> Iterator[KeyRecord]:
        projects = sorted(
            (p for p in context.projects.values() if p.lifecycle_state in (None, "ACTIVE")),
            key=lambda p: p.number,
        )
        window = self._config.apikeys_concurrency * 2  # listed ahead of the one being read
        with ThreadPoolExecutor(self._config.apikeys_concurrency, "apikeys") as pool:
            pending: list[tuple[ProjectRecord, Future[list[dict[str, Any]]]]] = []
            try:
                for project in projects:
                    pending.append((project, pool.submit(self._lister.keys, project.number)))
                    if len(pending) >= window:
                        yield from self._read(pending.pop(0), context)
                while pending:
                    yield from self._read(pending.pop(0), context)
            finally:
                for _, future in pending:
                    future.cancel()

    def _read(
        self, item: tuple[ProjectRecord, Future[list[dict[str, Any]]]], context: InventoryContext
    ) -> Iterator[KeyRecord]:
        project, future = item
        for data in future.result():
            self._keys_read += 1
            name = data.get("name")
            parts = name.split("/") if isinstance(name, str) else []
            if len(parts) != 6 or parts[1] not in (project.number, project.project_id):
                raise SourceError(f"API Keys returned key {name!r} for projects/{project.number}")
            # The inventory names keys by project number, as Cloud Asset does.
            parts[1] = project.number
            try:
                yield normalize_key(
                    {**data, "name": "/".join(parts)},
                    context.projects,
                    context.gemini_projects,
                    context.services_known,
                )
            except AssetDataError as exc:
                raise SourceError(f"API Keys returned an unreadable key {name}: {exc}") from None
        if self._progress is not None:
            self._progress(self.assets_read)
