"""Reads Cloud Asset exports: the newline-delimited JSON of `gcloud asset
export` (snake_case), or the JSON array of `gcloud asset list --format=json`
(camelCase); either may be gzipped, and UTF-8 (with or without a byte-order
mark) or UTF-16. Every error names the file and line.

Two other shapes carry the same assets, each told from its own items:
- `gcloud asset search-all-resources --read-mask='*' --format=json`: each a
  ResourceSearchResult, the key under `versionedResources[].resource`, its
  project's number in `project` and id in `parentFullResourceName`
  (commitgcp/gcp-apikeys-inspector discover.py reads it so);
- rows of a BigQuery export (`gcloud asset export --bigquery-table ...`),
  saved as JSON (`bq query --format=json`, or an extract to JSON lines):
  `resource.data` a JSON string in the one-table export, nested columns in
  per-asset-type tables, whose absent fields are null."""

from __future__ import annotations

import functools
import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from scanner.core.errors import InputError
from scanner.core.models import InventoryContext, KeyRecord
from scanner.inputs import jsonstream, jsontext
from scanner.inputs.fields import AssetDataError
from scanner.inputs.jsontext import JsonProblem
from scanner.inputs.textfiles import open_text, text_lines
from scanner.sources.inventory.context import ContextBuilder
from scanner.sources.inventory.iam import ROLE_TYPE, SERVICE_ACCOUNT_TYPE
from scanner.sources.inventory.listed import ListedKey, listed_from_json
from scanner.sources.inventory.normalize import (
    KEY_TYPE,
    PROJECT_TYPE,
    SERVICE_TYPE,
    normalize_key,
)
from scanner.sources.inventory.source import Progress
from scanner.sources.inventory.spool import Spool

# Lines that cannot be a project, service, IAM policy, service account or role
# are not parsed on the first pass.
_CONTEXT_MARKERS = (
    PROJECT_TYPE,
    '"parentFullResourceName"',
    SERVICE_TYPE,
    SERVICE_ACCOUNT_TYPE,
    ROLE_TYPE,
    '"iam_policy"',
    '"iamPolicy"',
)


# `gcloud asset list` without --content-type prints names and types only: a
# scan of that would find every key and judge none, so it is refused.
NO_RESOURCE = (
    "key asset {name} has no resource data: export with --content-type=resource "
    "(`gcloud asset export --content-type=resource --asset-types=apikeys.googleapis.com/Key "
    "...` or `gcloud asset list --content-type=resource --format=json ...`; "
    "`gcloud asset search-all-resources` needs --read-mask='*')"
)
_KEY_PREFIX = "//apikeys.googleapis.com/"
_PROJECT_PREFIX = "//cloudresourcemanager.googleapis.com/projects/"


class AssetEnvelope:
    """The fields keysentry reads from one asset, whichever casing the file uses."""

    __slots__ = ("ancestors", "asset_type", "data", "iam_policy", "name", "search_project")

    def __init__(self, raw: Any) -> None:
        if not isinstance(raw, dict):
            raise AssetDataError(f"expected a JSON object, got {type(raw).__name__}")
        name = raw.get("name")
        asset_type = raw.get("asset_type", raw.get("assetType"))
        if not isinstance(name, str) or not isinstance(asset_type, str):
            raise AssetDataError("an asset needs 'name' and 'asset_type' (or 'assetType')")
        self.name: str = name
        self.asset_type: str = asset_type
        # A search result names the key's project, which the file may not list.
        self.search_project: tuple[str, str | None] | None = None
        ancestors = raw.get("ancestors")
        self.ancestors: list[str] | None = ancestors if isinstance(ancestors, list) else None
        if "versionedResources" in raw:
            self.data = _searched(raw, name)
            self._read_search_parents(raw)
        else:
            resource = raw.get("resource") or {}
            self.data = _data(resource.get("data") if isinstance(resource, dict) else None)
        policy = raw.get("iam_policy", raw.get("iamPolicy"))
        if policy is not None and not isinstance(policy, dict):
            raise AssetDataError("iam_policy: expected an object")
        self.iam_policy: dict[str, Any] | None = policy

    def _read_search_parents(self, raw: dict[str, Any]) -> None:
        project = raw.get("project")
        parent = raw.get("parentFullResourceName")
        if isinstance(project, str) and project.startswith("projects/"):
            number = project.removeprefix("projects/")
            project_id = parent.removeprefix(_PROJECT_PREFIX) if isinstance(parent, str) else None
            self.search_project = (number, project_id if project_id != parent else None)
            folders = raw.get("folders")
            organization = raw.get("organization")
            self.ancestors = [project, *(folders if isinstance(folders, list) else [])] + (
                [organization] if isinstance(organization, str) and organization else []
            )


def _data(data: Any) -> dict[str, Any] | None:
    """resource.data: an object, or (a BigQuery export's one table) a JSON
    string of one."""
    if isinstance(data, str):
        try:
            data = jsontext.loads(data)
        except JsonProblem as exc:
            raise AssetDataError(f"resource.data: {exc}") from None
    if data is not None and not isinstance(data, dict):
        raise AssetDataError("resource.data: expected an object")
    return data


def _searched(raw: dict[str, Any], name: str) -> dict[str, Any] | None:
    """The resource of a search result's versionedResources (the v2 one
    first), named as a key's data names it when the resource does not."""
    versions = raw.get("versionedResources")
    if not isinstance(versions, list) or not all(isinstance(v, dict) for v in versions):
        raise AssetDataError("versionedResources: expected a list of objects")
    ordered = sorted(versions, key=lambda v: v.get("version") != "v2")
    data = next((_data(v.get("resource")) for v in ordered if v.get("resource")), None)
    if data is not None and not data.get("name"):
        data = data | {"name": name.removeprefix(_KEY_PREFIX)}
    return data


def _starts_array(path: Path) -> bool:
    """Whether PATH's first non-blank character opens a JSON array. Bytes that
    are not text are left for the line reader, which names their line."""
    with open_text(path) as handle:
        try:
            chunk = handle.read(256)
            while chunk and not chunk.strip():
                chunk = handle.read(256)
        except UnicodeDecodeError:
            return False
    return chunk.lstrip().startswith("[")


class ExportSource:
    def __init__(
        self,
        paths: list[Path],
        gemini_services: list[str],
        progress: Progress | None = None,
    ) -> None:
        if not paths:
            raise InputError("--from-export: no file given")
        self.paths = paths
        self.description = "export:" + ",".join(str(p) for p in paths)
        self._spool = Spool()
        # Each export as read (a pipe is copied once) and as its errors name it.
        self._files = [(self._spool.readable(path), str(path)) for path in paths]
        self.position: str | None = None
        self._gemini_services = gemini_services
        self._progress = progress
        self._assets_read = 0

    @property
    def assets_read(self) -> int:
        return self._assets_read

    def _lines(self, path: Path, shown: str, only_context: bool) -> Iterator[Asset]:
        """(where, envelope, line) for each asset in PATH: where is SHOWN:LINE,
        and the item's number in a JSON array; line, the text it was read from
        (None for an item of a JSON array). Read an asset at a time, twice a
        scan (context, then keys): an organization's export can be gigabytes."""
        try:
            for where, envelope, line in self._read(path, only_context):
                yield where.replace(str(path), shown, 1), envelope, line
        except InputError as exc:  # a spooled copy is named as the user named it
            raise InputError(str(exc).replace(str(path), shown, 1)) from None

    def _read(self, path: Path, only_context: bool) -> Iterator[Asset]:
        try:
            if _starts_array(path):
                yield from self._array_items(path)
                return
            for lineno, raw in text_lines(path):
                if not raw.strip():
                    continue
                if only_context and not any(m in raw for m in _CONTEXT_MARKERS):
                    continue
                yield f"{path}:{lineno}", self._parse_line(path, lineno, raw), raw
        except (OSError, EOFError, gzip.BadGzipFile) as exc:
            detail = getattr(exc, "strerror", None) or exc
            raise InputError(f"{path}: cannot read: {detail}") from None
        except UnicodeDecodeError:
            raise InputError(f"{path}: not UTF-8 or UTF-16 text") from None

    @staticmethod
    def _parse_line(path: Path, lineno: int, raw: str) -> AssetEnvelope:
        try:
            return AssetEnvelope(jsontext.loads(raw))
        except JsonProblem as exc:
            raise InputError(f"{path}:{lineno}: {exc}") from None
        except AssetDataError as exc:
            raise InputError(f"{path}:{lineno}: {exc}") from None

    @staticmethod
    def _array_items(path: Path) -> Iterator[Asset]:
        items = jsonstream.array(path, "expected a JSON array of assets")
        for index, (line, item) in enumerate(items, start=1):
            where = f"{path}:{line}: item {index}"
            try:
                envelope = AssetEnvelope(item)
            except AssetDataError as exc:
                raise InputError(f"{where}: {exc}") from None
            yield where, envelope, None

    def load_context(self) -> InventoryContext:
        builder = ContextBuilder(self._gemini_services)
        for path, shown in self._files:
            for where, env, _ in self._lines(path, shown, only_context=True):
                try:
                    if env.search_project is not None:
                        builder.add_searched_project(*env.search_project, env.ancestors)
                    if env.iam_policy is not None:
                        builder.add_policy(env.name, env.iam_policy)
                    elif env.data is not None:
                        builder.add(env.asset_type, env.name, env.data, env.ancestors)
                except AssetDataError as exc:
                    raise InputError(f"{where}: {exc}") from None
        # An export without Service assets says nothing about where Gemini is on;
        # one without service accounts, nothing about which are missing.
        listed = bool(builder.iam.service_accounts)
        return builder.build(builder.services_seen, builder.scope, listed)

    def iter_listed(self, context: InventoryContext) -> Iterator[ListedKey]:
        """Each key asset, decoded only when the scan asks for its record."""
        for path, shown in self._files:
            for where, env, line in self._lines(path, shown, only_context=False):
                self._assets_read += 1
                if self._progress is not None and self._assets_read % 1000 == 0:
                    self._progress(self._assets_read)
                if env.asset_type != KEY_TYPE:
                    continue
                data = env.data
                if data is None:
                    raise InputError(f"{where}: {NO_RESOURCE.format(name=env.name)}")
                decode = functools.partial(_decode, data, where, context)
                self.position = where
                yield listed_from_json(data, _as_listed(line, data), decode)
        if self._progress is not None:
            self._progress(self._assets_read)


Asset = tuple[str, AssetEnvelope, str | None]  # where, the asset, the line it was read from


def _decode(data: dict[str, Any], where: str, context: InventoryContext) -> KeyRecord:
    try:
        return normalize_key(
            data, context.projects, context.gemini_projects, context.services_known
        )
    except AssetDataError as exc:
        raise InputError(f"{where}: {exc}") from None


def _as_listed(line: str | None, data: dict[str, Any]) -> bytes:
    """The bytes a key asset was read from: its line, or for an item of a JSON
    array its data in a fixed order (the array's text is not kept)."""
    if line is not None:
        return line.encode()
    try:
        return orjson.dumps(data, option=orjson.OPT_SORT_KEYS)
    except orjson.JSONEncodeError:  # what only the standard encoder writes (huge integers)
        return json.dumps(data, sort_keys=True).encode()
