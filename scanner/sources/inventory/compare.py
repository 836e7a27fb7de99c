"""What Cloud Asset and the API Keys API say differently about the same keys:
the check an operator runs before trusting one source (`keysentry inventory
compare`)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from scanner.core.models import KeyRecord
from scanner.sources.inventory.source import InventorySource, records

# What decides a key's status, as each source reports it.
COMPARED = (
    "key_type",
    "service_account",
    "api_targets",
    "application_restriction",
    "application_values",
    "deleted",
)


@dataclass(frozen=True, slots=True)
class KeyDifference:
    key_name: str
    field: str  # one of COMPARED, or "listed" for a key only one source has
    asset: str
    apikeys: str


def _shown(value: object) -> str:
    if value is None or value == ():
        return "-"
    if isinstance(value, tuple):
        return ", ".join(str(v) for v in value)
    return str(value)


def differences(
    asset_keys: Iterable[KeyRecord], api_keys: Iterable[KeyRecord]
) -> list[KeyDifference]:
    by_asset = {k.name: k for k in asset_keys}
    by_api = {k.name: k for k in api_keys}
    found = []
    for name in sorted(by_asset.keys() | by_api.keys()):
        left, right = by_asset.get(name), by_api.get(name)
        if left is None or right is None:
            found.append(
                KeyDifference(name, "listed", "yes" if left else "no", "yes" if right else "no")
            )
            continue
        for field in COMPARED:
            a, b = getattr(left, field), getattr(right, field)
            if a != b:
                found.append(KeyDifference(name, field, _shown(a), _shown(b)))
    return found


def compare(asset: InventorySource, apikeys: InventorySource) -> tuple[int, list[KeyDifference]]:
    """(keys seen by either source, their differences). APIKEYS reads its
    projects from ASSET's context, so the context is loaded once."""
    context = asset.load_context()
    asset_keys = list(records(asset, context))
    api_keys = list(records(apikeys, context))
    seen = len({k.name for k in asset_keys} | {k.name for k in api_keys})
    return seen, differences(asset_keys, api_keys)
