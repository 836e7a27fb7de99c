"""What the format modules share: their result types and field readers.

Evidence fields (where, when, who) are best effort: scanners change their
shapes between versions (TruffleHog's git timestamps alone have three), so a
value that cannot be read is dropped and counted as a warning, never a failed
import. Only what decides the finding (the secret, and whether an item is the
format at all) is an error, naming the file and line."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from scanner.core.errors import InputError
from scanner.core.models import LeakEvidence
from scanner.core.secrets import kind_of, redact, scrub, wrong_length


@dataclass(frozen=True, slots=True)
class Sighting:
    """A Google key string a scanner reported, and where. SECRET is used once,
    for the fingerprint and the lookup, and must not outlive the import step."""

    secret: str
    source_ref: str  # the report's own identity of the finding (not the secret)
    evidence: LeakEvidence
    warnings: tuple[str, ...] = ()  # evidence fields dropped as unreadable

    def __repr__(self) -> str:  # never the secret, even in a traceback
        return f"Sighting(tool={self.evidence.tool!r}, source_ref={self.source_ref!r})"


@dataclass(frozen=True, slots=True)
class Skip:
    reason: str  # a short, countable reason: "not a Google key", ...


NOT_GOOGLE = Skip("not a Google key")
WRONG_LENGTH = Skip("shaped like a Google key but not 39 (AIza) or 53 (AQ.) characters: not a key")


def checked(value: str | None) -> str | Skip:
    """VALUE when it is one Google key string, else why it is skipped."""
    if value and kind_of(value) is not None:
        return value
    return WRONG_LENGTH if value and wrong_length(value) else NOT_GOOGLE


def sighting(item: Item, secret: str, ref: list[Any], tool: str, **evidence: Any) -> Sighting:
    """SECRET as ITEM reported it: REF is the report's own identity of the
    finding, EVIDENCE the LeakEvidence fields the format could read."""
    return Sighting(
        secret=secret,
        source_ref=json.dumps(ref, separators=(",", ":")),
        evidence=LeakEvidence(tool=tool, redacted=redact(secret), **evidence),
        warnings=tuple(item.warnings),
    )


class Item:
    """One report item with typed field access; errors name PATH:LINE."""

    def __init__(self, path: Path, line: int, raw: Any, what: str) -> None:
        # Line 0: an item fetched from an API, which PATH names on its own.
        self.where = f"{path}:{line}" if line else str(path)
        if not isinstance(raw, dict):
            raise InputError(f"{self.where}: a {what} must be a JSON object")
        self.path, self.line, self.raw = path, line, raw
        self.what = what.split(maxsplit=1)[0].lower()
        self.warnings: list[str] = []

    def dropped(self, field: str) -> None:
        """FIELD's value could not be read and is left out of the evidence."""
        self.warnings.append(scrub(f"{self.what} {field} unreadable"))

    def fail(self, field: str, problem: str) -> InputError:
        return InputError(f"{self.where}: {field}: {problem}")

    def get(self, field: str, *, within: dict[str, Any] | None = None) -> Any:
        return (self.raw if within is None else within).get(field)

    def text(self, field: str, *, within: dict[str, Any] | None = None) -> str | None:
        """An optional string field, scrubbed of anything shaped like a key."""
        value = self.get(field, within=within)
        if value is None or value == "":
            return None
        if isinstance(value, bool) or not isinstance(value, str | int):
            self.dropped(field)
            return None
        return scrub(_storable(str(value)))

    def secret(self, field: str) -> str | None:
        value = self.get(field)
        if value is None:
            return None
        if not isinstance(value, str):
            raise self.fail(field, f"expected a string, not {type(value).__name__}")
        return value.strip()

    def number(self, field: str, *, within: dict[str, Any] | None = None) -> int | None:
        value = self.get(field, within=within)
        if value is None or value == "":
            return None
        try:
            if isinstance(value, bool) or not isinstance(value, int | str):
                raise ValueError
            number = int(value)
        except ValueError:
            self.dropped(field)
            return None
        if not 0 <= number <= _COLUMN_MAX:  # a line, a count: no column holds more
            self.dropped(field)
            return None
        return number

    def flag(self, field: str, *, within: dict[str, Any] | None = None) -> bool | None:
        value = self.get(field, within=within)
        if value is None:
            return None
        if not isinstance(value, bool):
            self.dropped(field)
            return None
        return value

    def instant(self, field: str, *, within: dict[str, Any] | None = None) -> datetime | None:
        """ISO 8601, or git's `2022-06-16 10:17:40 -0700` with anything after
        the offset (TruffleHog writes `-0700 -0700` in 3.14 to 3.29 and Go's
        `-0700 PDT` since)."""
        value = self.get(field, within=within)
        if value is None or value == "":
            return None
        parsed = _instant(value) if isinstance(value, str) else None
        if parsed is None:
            self.dropped(field)
        return parsed

    def mapping(self, field: str, *, within: dict[str, Any] | None = None) -> dict[str, Any]:
        value = self.get(field, within=within)
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.dropped(field)
            return {}
        return value


def objects(
    item: Item, field: str, *, within: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    """The list of objects FIELD of a report's nested structure (absent: none);
    anything else is not the format, and an error naming the file and line."""
    value = item.get(field, within=within)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise item.fail(field, "expected a list of objects")
    return value


_COLUMN_MAX = 2**31 - 1
# What an instant of evidence may be: as for every timestamp keysentry reads.
_EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
_LATEST = datetime(2200, 1, 1, tzinfo=UTC)


_GIT_DEFAULT = "%a %b %d %H:%M:%S %Y %z"  # git's default date: `Mon Jul 5 12:54:43 2021 +0530`
_EPOCH_WITH_OFFSET = re.compile(r"(\d{1,12}) [+-]\d{4}")  # git's raw date: `1678401216 +0100`


def _instant(value: str) -> datetime | None:
    text = value.strip()
    epoch = _EPOCH_WITH_OFFSET.fullmatch(text)
    try:
        if epoch is not None:  # seconds since the epoch; the offset only says where
            parsed = datetime.fromtimestamp(int(epoch.group(1)), UTC)
        else:
            parsed = _parsed(text)
    except (ValueError, OverflowError, OSError):
        return None
    try:  # 0001-01-01 at +14:00 is before the first instant Python can hold in UTC
        instant = parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except OverflowError:
        return None
    return instant if _EARLIEST <= instant < _LATEST else None


def _parsed(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        pass
    try:
        return datetime.strptime(text[:25], "%Y-%m-%d %H:%M:%S %z")
    except ValueError:
        return datetime.strptime(text, _GIT_DEFAULT)


def _storable(value: str) -> str:
    """VALUE with NUL and lone surrogates replaced: no database takes them."""
    if value.isascii() and "\x00" not in value:
        return value
    return "".join("\ufffd" if c == "\x00" or "\ud800" <= c <= "\udfff" else c for c in value)
