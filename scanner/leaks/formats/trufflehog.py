"""TruffleHog v3 JSON output (`trufflehog ... --json`): one finding per line
with DetectorName, Raw, Verified, ExtraData and
SourceMetadata.Data.<source>.{file,line,commit,repository,link,timestamp}.

Versions differ (trufflesecurity/trufflehog pkg/output/json.go; older outputs
in DefectDojo/django-DefectDojo unittests/scans/trufflehog/): before 3.14 `Raw`
is base64; later ones write it plain and add `RawV2` (3.32.1); Google's
detectors are named GoogleGemini, then GoogleGeminiAPIKey. The secret is taken
by its shape, whatever the detector's name."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from scanner.core.models import LeakEvidence
from scanner.core.secrets import kind_of, redact, wrong_length
from scanner.leaks.formats.common import NOT_GOOGLE, WRONG_LENGTH, Item, Sighting, Skip

NAME = "trufflehog"


def looks_like(raw: Any) -> bool:
    return isinstance(raw, dict) and "SourceMetadata" in raw and ("Raw" in raw or "RawV2" in raw)


def _google_key(value: str) -> str | None:
    """VALUE, or what it base64-decodes to, when that is a Google key string."""
    if kind_of(value) is not None:
        return value
    try:
        decoded = base64.b64decode(value, validate=True).decode("ascii").strip()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    return decoded if kind_of(decoded) is not None else None


def _verified(item: Item) -> bool | None:
    """`Verified`, unless verification failed (`VerificationError`, as
    pkg/output/json.go writes it): then nobody knows whether the key works."""
    if item.text("VerificationError"):
        return None
    return item.flag("Verified")


def findings(path: Path, line: int, raw: Any) -> Iterator[Sighting | Skip]:
    """One finding per item."""
    yield parse(path, line, raw)


def parse(path: Path, line: int, raw: Any) -> Sighting | Skip:
    item = Item(path, line, raw, "TruffleHog finding")
    if ("Raw" not in raw and "RawV2" not in raw) or "SourceMetadata" not in raw:
        raise item.fail("Raw", "missing: not a TruffleHog finding")
    found = (_google_key(item.secret(f) or "") for f in ("Raw", "RawV2"))
    secret = next((s for s in found if s), None)
    if secret is None:
        raw_values = (item.secret(f) or "" for f in ("Raw", "RawV2"))
        return WRONG_LENGTH if any(wrong_length(v) for v in raw_values) else NOT_GOOGLE
    data = item.mapping("Data", within=item.mapping("SourceMetadata"))
    if len(data) > 1:
        item.dropped("SourceMetadata.Data (more than one source)")
    source_name, source = next(iter(data.items()), ("", {}))
    if not isinstance(source, dict):
        item.dropped(f"SourceMetadata.Data.{source_name}")
        source = {}
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
            first_reported=item.instant("timestamp", within=source),
            verified=_verified(item),
        ),
        warnings=tuple(item.warnings),
    )
