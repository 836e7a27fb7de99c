"""GitGuardian ggshield reports (`ggshield secret scan ... --json`): one JSON
document per scan, its findings nested as scans[] (commit ranges) or
directly (paths) > entities_with_incidents[] (files) > incidents[] (one
secret, its detector `type` and `validity`) > occurrences[] (`match`,
`line_start`). ggshield masks each match with `*` unless run with
--show-secrets: such a match is counted as redacted, never an error.

Shapes: DefectDojo/django-DefectDojo unittests/scans/ggshield/ (real
commit-range output) and ggshield's published JSON schema (`type`, `id`,
`scans`, `entities_with_incidents`; validity one of valid, invalid,
unknown, cannot_check, no_checker, failed_to_check, not_checked)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from scanner.core.secrets import GOOGLE_PREFIXES
from scanner.leaks.formats.common import (
    NOT_GOOGLE,
    Item,
    Sighting,
    Skip,
    checked,
    objects,
    sighting,
)

NAME = "ggshield"
MASKED = Skip("masked by the scanner (run ggshield with --show-secrets)")
_VALIDITY = {"valid": True, "invalid": False}  # the rest say nobody knows


def looks_like(raw: Any) -> bool:
    return isinstance(raw, dict) and "total_incidents" in raw and "type" in raw


def findings(path: Path, line: int, raw: Any) -> Iterator[Sighting | Skip]:
    report = Item(path, line, raw, "ggshield report")
    if "total_incidents" not in raw:
        raise report.fail("total_incidents", "missing: not a ggshield report")
    scans = objects(report, "scans") if "scans" in raw else [raw]
    for scan in scans:
        commit = scan.get("id") if scan.get("type") == "commit" else None
        extra = report.mapping("extra_info", within=scan)
        for entity in objects(report, "entities_with_incidents", within=scan):
            for incident in objects(report, "incidents", within=entity):
                for occurrence in objects(report, "occurrences", within=incident):
                    yield _occurrence(
                        Item(path, line, occurrence, "ggshield occurrence"),
                        incident,
                        entity,
                        commit if isinstance(commit, str) else None,
                        extra,
                    )


def _occurrence(
    item: Item,
    incident: dict[str, Any],
    entity: dict[str, Any],
    commit: str | None,
    extra: dict[str, Any],
) -> Sighting | Skip:
    match = item.secret("match") or ""
    if "*" in match:
        detector = str(incident.get("type") or "")
        google = "google" in detector.lower() or match.startswith(GOOGLE_PREFIXES)
        return MASKED if google else NOT_GOOGLE
    found = checked(match)
    if isinstance(found, Skip):
        return found
    file = item.text("filename", within=entity)
    start = item.number("line_start")
    ref = [commit, file, item.text("ignore_sha", within=incident), item.number("index_start")]
    return sighting(
        item,
        found,
        ref,
        NAME,
        file=file,
        line=start,
        link=item.text("incident_url", within=incident),
        commit=commit,
        author=item.text("email", within=extra) or item.text("author", within=extra),
        first_reported=item.instant("date", within=extra),
        verified=_VALIDITY.get(str(incident.get("validity"))),
    )
