"""What the format modules share: their result types and field readers that
name the file and line of a malformed item."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from scanner.errors import InputError
from scanner.leaks.secrets import scrub
from scanner.models import LeakEvidence


@dataclass(frozen=True, slots=True)
class Sighting:
    """A Google key string a scanner reported, and where. SECRET is used once,
    for the fingerprint and the lookup, and must not outlive the import step."""

    secret: str
    source_ref: str  # the report's own identity of the finding (not the secret)
    evidence: LeakEvidence

    def __repr__(self) -> str:  # never the secret, even in a traceback
        return f"Sighting(tool={self.evidence.tool!r}, source_ref={self.source_ref!r})"


@dataclass(frozen=True, slots=True)
class Skip:
    reason: str  # a short, countable reason: "not a Google key", ...


class Item:
    """One report item with typed field access; errors name PATH:LINE."""

    def __init__(self, path: Path, line: int, raw: Any, what: str) -> None:
        # Line 0: an item fetched from an API, which PATH names on its own.
        self.where = f"{path}:{line}" if line else str(path)
        if not isinstance(raw, dict):
            raise InputError(f"{self.where}: a {what} must be a JSON object")
        self.path, self.line, self.raw = path, line, raw

    def fail(self, field: str, problem: str) -> InputError:
        return InputError(f"{self.where}: {field}: {problem}")

    def get(self, field: str, *, within: dict[str, Any] | None = None) -> Any:
        return (self.raw if within is None else within).get(field)

    def text(self, field: str, *, within: dict[str, Any] | None = None) -> str | None:
        """An optional string field, scrubbed of anything shaped like a key."""
        value = self.get(field, within=within)
        if value is None or value == "":
            return None
        if not isinstance(value, str | int):
            raise self.fail(field, f"expected a string, not {type(value).__name__}")
        return scrub(str(value))

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
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise self.fail(field, "expected a whole number")
        try:
            return int(value)
        except ValueError:
            raise self.fail(field, f"expected a whole number, not {scrub(str(value))!r}") from None

    def flag(self, field: str, *, within: dict[str, Any] | None = None) -> bool | None:
        value = self.get(field, within=within)
        if value is None:
            return None
        if not isinstance(value, bool):
            raise self.fail(field, "expected true or false")
        return value

    def instant(self, field: str, *, within: dict[str, Any] | None = None) -> datetime | None:
        value = self.get(field, within=within)
        if value is None or value == "":
            return None
        if not isinstance(value, str):
            raise self.fail(field, "expected an ISO 8601 timestamp")
        try:
            parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise self.fail(field, f"not an ISO 8601 timestamp: {scrub(value)!r}") from None
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)

    def mapping(self, field: str, *, within: dict[str, Any] | None = None) -> dict[str, Any]:
        value = self.get(field, within=within)
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self.fail(field, "expected an object")
        return value
