"""Nosey Parker findings (`noseyparker report --format jsonl`): one finding
per line, each with its rule, the captured secret and its matches (where it
was seen: a file path, or a git repository with the first commit that
added it).

Versions differ (DefectDojo/django-DefectDojo unittests/scans/noseyparker/):
0.22 writes `finding_id`, the secret base64-encoded in `groups` and
`first_commit`; earlier ones `type: finding`, the secret in plain
`match_content` and `commit_provenance`. Commit timestamps are git's raw
form, seconds since the epoch and an offset (`1678401216 +0100`)."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from scanner.leaks.formats.common import (
    NOT_GOOGLE,
    Item,
    Sighting,
    Skip,
    checked,
    objects,
    sighting,
)

NAME = "noseyparker"


def looks_like(raw: Any) -> bool:
    return (
        isinstance(raw, dict)
        and "rule_name" in raw
        and "matches" in raw
        and ("groups" in raw or "match_content" in raw)
    )


def _decoded(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    try:
        return base64.b64decode(value, validate=True).decode("utf-8").strip()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None


def _secret(item: Item, raw: dict[str, Any]) -> str | Skip:
    """The first captured group that is a Google key string (0.22: base64),
    or the plain match_content of earlier versions."""
    groups = raw.get("groups")
    candidates = [_decoded(g) for g in groups] if isinstance(groups, list) else []
    candidates.append(item.secret("match_content"))
    skips = [checked(c) for c in candidates if c]
    for found in skips:
        if not isinstance(found, Skip):
            return found
    return next((s for s in skips if s is not NOT_GOOGLE), NOT_GOOGLE)


def findings(path: Path, line: int, raw: Any) -> Iterator[Sighting | Skip]:
    item = Item(path, line, raw, "Nosey Parker finding")
    if "matches" not in raw or "rule_name" not in raw:
        raise item.fail("matches", "missing: not a Nosey Parker finding")
    secret = _secret(item, raw)
    if isinstance(secret, Skip):
        yield secret
        return
    finding_id = item.text("finding_id")
    for match in objects(item, "matches"):
        yield _match(Item(path, line, match, "Nosey Parker match"), secret, finding_id)


def _match(item: Item, secret: str, finding_id: str | None) -> Sighting:
    file = commit = author = None
    committed = None
    for provenance in objects(item, "provenance"):
        file = file or item.text("path", within=provenance)
        git = item.mapping("first_commit", within=provenance) or item.mapping(
            "commit_provenance", within=provenance
        )
        if git:
            metadata = item.mapping("commit_metadata", within=git)
            file = item.text("blob_path", within=git) or file
            commit = item.text("commit_id", within=metadata)
            author = item.text("committer_email", within=metadata)
            committed = item.instant("committer_timestamp", within=metadata)
    span = item.mapping("source_span", within=item.mapping("location"))
    number = item.number("line", within=item.mapping("start", within=span))
    ref = [finding_id, item.text("structural_id"), item.text("blob_id"), file, number]
    return sighting(
        item,
        secret,
        ref,
        NAME,
        file=file,
        line=number,
        commit=commit,
        author=author,
        first_reported=committed,
    )
