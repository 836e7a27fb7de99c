"""The one module that talks to Cloud Asset Inventory (ListAssets)."""

from __future__ import annotations

import functools
import queue
import threading
from collections.abc import Iterator
from typing import Any

from google.api_core import retry as gretry
from google.cloud import asset_v1
from google.protobuf import json_format, struct_pb2

from scanner.calls.google_errors import TRANSIENT, default_credentials, google_errors
from scanner.config import InventoryConfig
from scanner.config.types import scope_problem
from scanner.core.errors import SourceError
from scanner.core.models import InventoryContext, KeyRecord
from scanner.inputs.fields import AssetDataError
from scanner.sources.inventory.context import ContextBuilder
from scanner.sources.inventory.iam import POLICY_TYPES, ROLE_TYPE, SERVICE_ACCOUNT_TYPE
from scanner.sources.inventory.listed import ListedKey, listed_from_struct
from scanner.sources.inventory.normalize import (
    KEY_TYPE,
    PROJECT_TYPE,
    SERVICE_TYPE,
    normalize_key,
)
from scanner.sources.inventory.source import Progress
from scanner.sources.inventory.struct import struct_to_dict

PREFETCH_PAGES = 2


def validate_scope(scope: str) -> str:
    problem = scope_problem(scope)
    if problem is not None:
        raise SourceError(problem)
    return scope


def make_client(config: InventoryConfig) -> asset_v1.AssetServiceClient:
    """A client with Application Default Credentials."""
    options: dict[str, Any] = {}
    if config.quota_project:
        options["quota_project_id"] = config.quota_project
    credentials = default_credentials("", "cloud-platform", config.quota_project)
    return asset_v1.AssetServiceClient(credentials=credentials, client_options=options)


class CloudAssetSource:
    def __init__(
        self,
        client: asset_v1.AssetServiceClient,
        scope: str,
        config: InventoryConfig,
        gemini_services: list[str],
        progress: Progress | None = None,
    ) -> None:
        self._client = client
        self.scope = validate_scope(scope)
        self.description = f"cai:{scope}"
        self.position: str | None = None
        self._config = config
        self._gemini_services = gemini_services
        self._progress = progress
        self._assets_read = 0

    @property
    def assets_read(self) -> int:
        return self._assets_read

    def _retry(self) -> gretry.Retry:
        return gretry.Retry(
            predicate=gretry.if_exception_type(*TRANSIENT),
            initial=self._config.retry_initial_seconds,
            maximum=self._config.retry_maximum_seconds,
            multiplier=2.0,
            timeout=self._config.retry_deadline_seconds,
        )

    def _pages(self, request: asset_v1.ListAssetsRequest) -> Iterator[Any]:
        """Raw response pages, fetched ahead in a background thread: the round trip
        (and, against the real API, the quota's pacing) of page N+1 overlaps the
        processing of page N. Errors surface here, in the caller's thread."""
        pages: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=PREFETCH_PAGES)
        stop = threading.Event()

        def offer(item: tuple[str, Any]) -> bool:
            while not stop.is_set():
                try:
                    pages.put(item, timeout=0.2)
                    return True
                except queue.Full:
                    continue
            return False

        def fetch() -> None:
            try:
                pager = self._client.list_assets(
                    request=request,
                    retry=self._retry(),
                    timeout=self._config.request_timeout_seconds,
                )
                for page in pager.pages:
                    if not offer(("page", asset_v1.ListAssetsResponse.pb(page))):
                        return
                offer(("end", None))
            except BaseException as exc:  # handed to the consumer, which raises it
                offer(("error", exc))

        thread = threading.Thread(target=fetch, name="cloud-asset-prefetch", daemon=True)
        thread.start()
        try:
            while True:
                kind, item = pages.get()
                if kind == "end":
                    return
                if kind == "error":
                    raise item
                yield item
        finally:
            stop.set()
            # A page already in flight ends on its own; the daemon thread then exits.
            thread.join(timeout=self._config.request_timeout_seconds)

    def _listed(self, asset_types: list[str], policies: bool = False) -> Iterator[Any]:
        """Every asset as the API gave it (a protobuf), page by page."""
        content = asset_v1.ContentType.IAM_POLICY if policies else asset_v1.ContentType.RESOURCE
        request = asset_v1.ListAssetsRequest(
            parent=self.scope,
            asset_types=asset_types,
            content_type=content,
            page_size=self._config.page_size,
        )
        what = f"Cloud Asset ListAssets on {self.scope} ({', '.join(asset_types)})"
        needs = (
            "roles/cloudasset.viewer on the scope and serviceusage.services.use on the "
            "quota project"
        )
        with google_errors(what, needs, self._config.retry_deadline_seconds):
            for page in self._pages(request):
                for asset in page.assets:
                    self._assets_read += 1
                    yield asset
                if self._progress is not None:
                    self._progress(self._assets_read)

    def _assets(
        self, asset_types: list[str], policies: bool = False
    ) -> Iterator[tuple[str, str, dict[str, Any], list[str]]]:
        """(asset type, asset name, resource data or IAM policy, ancestors) for
        every asset, page by page."""
        for asset in self._listed(asset_types, policies):
            if policies:
                data = json_format.MessageToDict(asset.iam_policy)
            else:
                data = struct_to_dict(asset.resource.data)
            yield asset.asset_type, asset.name, data, list(asset.ancestors)

    def load_context(self) -> InventoryContext:
        builder = ContextBuilder(self._gemini_services)
        types = [PROJECT_TYPE, SERVICE_TYPE]
        if self._config.iam:
            types += [SERVICE_ACCOUNT_TYPE, ROLE_TYPE]
        name = ""
        try:
            for asset_type, name, data, ancestors in self._assets(types):
                builder.add(asset_type, name, data, ancestors)
            if self._config.iam:
                for _, name, policy, _ in self._assets(list(POLICY_TYPES), policies=True):
                    builder.add_policy(name, policy)
        except AssetDataError as exc:
            raise SourceError(f"Cloud Asset returned an unreadable asset {name}: {exc}") from None
        # Services (and service accounts) were listed for the whole scope: a project
        # without Gemini has it off, and an account not listed does not exist.
        return builder.build(True, self.scope, service_accounts_listed=self._config.iam)

    def iter_listed(self, context: InventoryContext) -> Iterator[ListedKey]:
        for asset in self._listed([KEY_TYPE]):
            data = asset.resource.data
            yield listed_from_struct(data, functools.partial(_key, asset.name, data, context))


def _key(name: str, data: struct_pb2.Struct, context: InventoryContext) -> KeyRecord:
    try:
        return normalize_key(
            struct_to_dict(data), context.projects, context.gemini_projects, context.services_known
        )
    except AssetDataError as exc:
        raise SourceError(f"Cloud Asset returned an unreadable key {name}: {exc}") from None
