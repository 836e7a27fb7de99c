"""TruffleHog v3 JSON output (`trufflehog ... --json`): one finding per line
with DetectorName, Raw, Verified, ExtraData and
SourceMetadata.Data.<source>.{file,line,commit,repository,link}."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from scanner.leaks.formats.common import Item, Sighting, Skip
from scanner.leaks.secrets import kind_of, redact
from scanner.models import LeakEvidence

NAME = "trufflehog"


def looks_like(raw: Any) -> bool:
    return isinstance(raw, dict) and "SourceMetadata" in raw and "Raw" in raw


def parse(path: Path, line: int, raw: Any) -> Sighting | Skip:
    item = Item(path, line, raw, "TruffleHog finding")
    if "Raw" not in raw or "SourceMetadata" not in raw:
        raise item.fail("Raw", "missing: not a TruffleHog finding")
    secret = item.secret("Raw") or ""
    if kind_of(secret) is None:
        return Skip("not a Google key")
    data = item.mapping("Data", within=item.mapping("SourceMetadata"))
    if len(data) > 1:
        raise item.fail("SourceMetadata.Data", "expected exactly one source")
    source_name, source = next(iter(data.items()), ("", {}))
    if not isinstance(source, dict):
        raise item.fail(f"SourceMetadata.Data.{source_name}", "expected an object")
    repository = item.text("repository", within=source)
    file = item.text("file", within=source)
    number = item.number("line", within=source)
    commit = item.text("commit", within=source)
    ref = json.dumps(
        [source_name, repository, commit, file, number, item.text("DetectorName")],
        separators=(",", ":"),
    )
    return Sighting(
        secret=secret,
        source_ref=ref,
        evidence=LeakEvidence(
            tool=NAME,
            redacted=redact(secret),
            repository=repository,
            file=file,
            line=number,
            link=item.text("link", within=source),
            commit=commit,
            author=item.text("email", within=source),
            first_reported=_timestamp(item, source),
            verified=item.flag("Verified"),
        ),
    )


def _timestamp(item: Item, source: dict[str, Any]) -> datetime | None:
    """Git sources write `2022-06-16 10:27:56 -0700`; others ISO 8601."""
    value = source.get("timestamp")
    if isinstance(value, str):
        try:
            return datetime.strptime(value.strip(), "%Y-%m-%d %H:%M:%S %z").astimezone(UTC)
        except ValueError:
            pass
    return item.instant("timestamp", within=source)
