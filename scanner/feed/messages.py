"""A Cloud Asset real-time feed message, as Pub/Sub delivers its data: a
TemporalAsset in JSON (`asset`, `priorAsset`, `priorAssetState`, `window`,
`deleted`; google/cloud/asset/v1/assets.proto and the sample in "Monitor
asset changes with Pub/Sub", cloud.google.com/asset-inventory/docs/
monitor-asset-changes), except the first message of a new feed, a plain
welcome string ("You have successfully configured real time feed ...")."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from scanner.core.errors import InputError
from scanner.inputs.fields import AssetDataError, parse_time
from scanner.inputs.jsontext import JsonProblem, loads
from scanner.sources.inventory.export import AssetEnvelope
from scanner.sources.inventory.normalize import KEY_TYPE

WELCOME = "You have successfully configured real time feed"
_KEY_PREFIX = "//apikeys.googleapis.com/"


@dataclass(frozen=True, slots=True)
class Change:
    """One key as a feed message shows it."""

    name: str  # projects/N/locations/global/keys/ID, as history names keys
    at: datetime  # the key's updateTime, or when the feed saw the change
    observed: datetime  # when the feed saw it (window.startTime), or `at`
    deleted: bool
    data: dict[str, Any] | None  # resource.data; None for a deleted key
    prior_state: str | None  # PRESENT, DOES_NOT_EXIST, INVALID, DELETED


def parse(data: bytes, where: str) -> Change | str | None:
    """The key change DATA carries; the asset type of any other asset (which
    the feed may also watch); None for the welcome message. WHERE names the
    message in errors."""
    text = data.decode("utf-8", errors="replace")
    if text.lstrip().startswith(WELCOME):
        return None
    try:
        raw = loads(text)
    except JsonProblem as exc:
        raise InputError(f"{where}: not a feed message: {exc}") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("asset"), dict):
        raise InputError(f"{where}: not a feed message: no 'asset' object")
    try:
        envelope = AssetEnvelope(raw["asset"])
        if envelope.asset_type != KEY_TYPE:
            return envelope.asset_type
        return _change(raw, envelope)
    except AssetDataError as exc:
        raise InputError(f"{where}: {exc}") from None


def _change(raw: dict[str, Any], envelope: AssetEnvelope) -> Change:
    deleted = raw.get("deleted") is True
    window = raw.get("window") if isinstance(raw.get("window"), dict) else {}
    observed = parse_time(window.get("startTime"), "window.startTime")  # type: ignore[union-attr]
    data = envelope.data
    updated = parse_time(raw["asset"].get("updateTime"), "asset.updateTime")
    if updated is None and data is not None:
        updated = parse_time(data.get("updateTime"), "asset.resource.data.updateTime")
    at = updated or observed
    if at is None:
        raise AssetDataError("the message says neither asset.updateTime nor window.startTime")
    if not deleted and data is None:
        raise AssetDataError(
            f"key asset {envelope.name} has no resource data: the feed needs content type RESOURCE"
        )
    prior = raw.get("priorAssetState")
    return Change(
        envelope.name.removeprefix(_KEY_PREFIX),
        at,
        observed or at,
        deleted,
        None if deleted else data,
        prior if isinstance(prior, str) else None,
    )
