"""Kingfisher reports (`kingfisher scan --format json` or `jsonl`).

JSON is a stream of two documents back to back: the findings
(`{"findings": [...], "metadata": {...}}`), then a summary of counts; JSON
lines are one `{"rule", "finding"}` per line, then the same summary. Each
finding's secret is `finding.snippet`, its place `path` and `line`, its
check `validation.status` ("Active Credential", "Inactive Credential", "Not
Attempted"; shorter "Active"/"Inactive" in JSON lines). Shapes:
DefectDojo/django-DefectDojo unittests/scans/kingfisher/ (kingfisher
1.68.0 and 1.110.0 output)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from scanner.leaks.formats.common import Item, Sighting, Skip, checked, objects, sighting

NAME = "kingfisher"


def looks_like(raw: Any) -> bool:
    if not isinstance(raw, dict):
        return False
    return ("rule" in raw and "finding" in raw) or (
        isinstance(raw.get("findings"), list) and ("metadata" in raw or "stats" in raw)
    )


def findings(path: Path, line: int, raw: Any) -> Iterator[Sighting | Skip]:
    document = Item(path, line, raw, "Kingfisher report")
    if "rule" in raw and "finding" in raw:
        yield _finding(document)
    elif isinstance(raw.get("findings"), list):
        for entry in objects(document, "findings"):
            yield _finding(Item(path, line, entry, "Kingfisher finding"))
    elif "findings" not in raw:  # the summary is the other document, the one with counts
        raise document.fail("findings", "missing: not a Kingfisher report")


def _verified(status: str | None) -> bool | None:
    text = (status or "").lower()
    if text.startswith("active"):
        return True
    if text.startswith("inactive"):
        return False
    return None  # "Not Attempted", an error, or nothing


def _finding(item: Item) -> Sighting | Skip:
    finding = item.mapping("finding")
    snippet = finding.get("snippet")
    if snippet is not None and not isinstance(snippet, str):
        raise item.fail("finding.snippet", f"expected a string, not {type(snippet).__name__}")
    found = checked((snippet or "").strip() or None)
    if isinstance(found, Skip):
        return found
    file = item.text("path", within=finding)
    number = item.number("line", within=finding)
    git = item.mapping("git_metadata", within=finding)
    commit = item.mapping("commit", within=git)
    rule = item.text("id", within=item.mapping("rule"))
    ref = [rule, item.text("fingerprint", within=finding), file, number]
    validation = item.mapping("validation", within=finding)
    return sighting(
        item,
        found,
        ref,
        NAME,
        repository=item.text("repository_url", within=git),
        file=file,
        line=number,
        link=item.text("url", within=item.mapping("file", within=git)),
        commit=item.text("id", within=commit),
        first_reported=item.instant("date", within=commit),
        verified=_verified(item.text("status", within=validation)),
    )
