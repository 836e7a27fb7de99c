"""Field readers every inventory and evidence reader shares: the error that
names a bad field, RFC 3339 timestamps and service names."""

from __future__ import annotations

from datetime import datetime
from typing import Any


class AssetDataError(ValueError):
    """An asset lacks a field keysentry needs; the message names the field."""


# Timestamps keysentry can compute with (a rotation deadline 999 days past
# 9999-12-31 cannot be represented): anything outside is an input error.
EARLIEST_YEAR, LATEST_YEAR = 1970, 2200


def text(value: Any, field: str) -> str | None:
    """An optional string field; any other type is an input error."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise AssetDataError(f"{field}: expected a string, got {type(value).__name__}")
    if "\x00" in value:
        raise AssetDataError(f"{field}: holds a NUL character")
    return value


def parse_time(value: Any, field: str) -> datetime | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise AssetDataError(f"{field}: expected an RFC 3339 timestamp, got {value!r}")
    if value.endswith(" UTC"):  # BigQuery's TIMESTAMP as text: `2024-01-02 03:04:05.6 UTC`
        value = value[:-4] + "+00:00"
    try:
        # Python 3.11+ reads "Z" and truncates nanoseconds to microseconds.
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise AssetDataError(f"{field}: not an RFC 3339 timestamp: {value!r}") from None
    if parsed.tzinfo is None:
        raise AssetDataError(f"{field}: timestamp has no time zone: {value!r}")
    if not EARLIEST_YEAR <= parsed.year <= LATEST_YEAR:
        raise AssetDataError(f"{field}: {value!r} is outside {EARLIEST_YEAR} to {LATEST_YEAR}")
    return parsed


def service_name(value: str) -> str:
    """A service name as keysentry compares it. Google matches API targets case
    insensitively (API Keys v2 `ApiTarget`: "Both fields are case insensitive",
    googleapis google/api/apikeys/v2/resources.proto)."""
    return value.strip().lower()
