"""A Cloud Asset real-time feed message, as Pub/Sub delivers its data: a
TemporalAsset in JSON (`asset`, `priorAsset`, `priorAssetState`, `window`,
`deleted`; google/cloud/asset/v1/assets.proto and the sample in "Monitor
asset changes with Pub/Sub", cloud.google.com/asset-inventory/docs/
monitor-asset-changes), except the first message of a new feed, a plain
welcome string ("You have successfully configured real time feed ..."). An
IAM policy's message carries `asset.iamPolicy` instead of `asset.resource`
(content type IAM_POLICY)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from scanner.core.errors import InputError
from scanner.inputs.fields import AssetDataError, parse_time
from scanner.inputs.jsontext import JsonProblem, loads
from scanner.sources.inventory.export import AssetEnvelope
from scanner.sources.inventory.iam import POLICY_TYPES, ROLE_TYPE, SERVICE_ACCOUNT_TYPE
from scanner.sources.inventory.normalize import KEY_TYPE, PROJECT_TYPE, SERVICE_TYPE

WELCOME = "You have successfully configured real time feed"
_KEY_PREFIX = "//apikeys.googleapis.com/"
# What a full scan reads besides the keys, which the feeds also watch
# (scanner.feed.setup): applied to the stored context (scanner.feed.context_edit).
CONTEXT_TYPES = frozenset(
    {PROJECT_TYPE, SERVICE_TYPE, SERVICE_ACCOUNT_TYPE, ROLE_TYPE, *POLICY_TYPES}
)
RESOURCE, IAM_POLICY = "resource", "iam_policy"


@dataclass(frozen=True, slots=True)
class Change:
    """One asset as a feed message shows it: a key, or something the rules
    read besides (a project, a service, a service account, a role, an IAM
    policy)."""

    name: (
        str  # a key: projects/N/locations/global/keys/ID, as history names it; else the asset name
    )
    at: datetime  # the asset's updateTime, or when the feed saw the change
    observed: datetime  # when the feed saw it (window.startTime), or `at`
    deleted: bool
    data: dict[str, Any] | None  # resource.data; None for a deleted key
    prior_state: str | None  # PRESENT, DOES_NOT_EXIST, INVALID, DELETED
    asset_type: str = KEY_TYPE
    content: str = RESOURCE  # or IAM_POLICY: `data` is the asset's iamPolicy
    ancestors: tuple[str, ...] = ()

    @property
    def is_key(self) -> bool:
        return self.asset_type == KEY_TYPE

    @property
    def subject(self) -> tuple[str, str]:
        """What one message supersedes another about: a project's resource
        and its IAM policy share an asset name, not a subject."""
        return self.content, self.name


def parse(data: bytes, where: str) -> Change | str | None:
    """The change DATA carries; the asset type of an asset no rule reads;
    None for the welcome message. WHERE names the message in errors."""
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
        if envelope.asset_type == KEY_TYPE:
            return _change(raw, envelope)
        if envelope.asset_type in CONTEXT_TYPES:
            return _context_change(raw, envelope)
        return envelope.asset_type
    except AssetDataError as exc:
        raise InputError(f"{where}: {exc}") from None


def _times(raw: dict[str, Any], data: dict[str, Any] | None) -> tuple[datetime, datetime]:
    """(at, observed): the asset's updateTime (its data's, for a key) or else
    window.startTime; and window.startTime or else `at`."""
    window = raw.get("window") if isinstance(raw.get("window"), dict) else {}
    observed = parse_time(window.get("startTime"), "window.startTime")  # type: ignore[union-attr]
    updated = parse_time(raw["asset"].get("updateTime"), "asset.updateTime")
    if updated is None and data is not None:
        updated = parse_time(data.get("updateTime"), "asset.resource.data.updateTime")
    at = updated or observed
    if at is None:
        raise AssetDataError("the message says neither asset.updateTime nor window.startTime")
    return at, observed or at


def _prior_state(raw: dict[str, Any]) -> str | None:
    prior = raw.get("priorAssetState")
    return prior if isinstance(prior, str) else None


def _change(raw: dict[str, Any], envelope: AssetEnvelope) -> Change:
    deleted = raw.get("deleted") is True
    data = envelope.data
    at, observed = _times(raw, data)
    if not deleted and data is None:
        raise AssetDataError(
            f"key asset {envelope.name} has no resource data: the feed needs content type RESOURCE"
        )
    return Change(
        envelope.name.removeprefix(_KEY_PREFIX),
        at,
        observed,
        deleted,
        None if deleted else data,
        _prior_state(raw),
    )


def _context_change(raw: dict[str, Any], envelope: AssetEnvelope) -> Change:
    """A change to what the rules read besides keys. The message of a
    deleted asset may carry only its name: its data is then the prior
    asset's (a deleted service account is known by its email)."""
    deleted = raw.get("deleted") is True
    prior = raw.get("priorAsset")
    before = AssetEnvelope(prior) if isinstance(prior, dict) else None
    if envelope.iam_policy is not None or (before is not None and before.iam_policy is not None):
        content, data = IAM_POLICY, envelope.iam_policy
    else:
        content, data = RESOURCE, envelope.data
    if data is None and deleted and before is not None:
        data = before.iam_policy if content == IAM_POLICY else before.data
    if data is None and not deleted:
        raise AssetDataError(
            f"asset {envelope.name} has neither resource data nor an IAM policy: "
            "the feed needs content type RESOURCE or IAM_POLICY"
        )
    at, observed = _times(raw, None)
    ancestors = tuple(envelope.ancestors or (before.ancestors if before else None) or ())
    return Change(
        envelope.name,
        at,
        observed,
        deleted,
        data,
        _prior_state(raw),
        envelope.asset_type,
        content,
        ancestors,
    )
