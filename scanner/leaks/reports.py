"""Reads report files of any supported format, detected from their first item
or given, into Sightings and Skips. An item is one finding (gitleaks,
TruffleHog, GitHub, Nosey Parker) or a document of many (ggshield,
Kingfisher, betterleaks v2): each format's `findings` says which."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

from scanner.core.errors import InputError
from scanner.inputs import jsonstream
from scanner.leaks.formats import (
    betterleaks,
    ggshield,
    github,
    gitleaks,
    kingfisher,
    noseyparker,
    trufflehog,
)
from scanner.leaks.formats.common import Sighting, Skip

# Detection tries them in this order: betterleaks before gitleaks, whose
# fields it shares.
_ORDER = (betterleaks, gitleaks, trufflehog, github, ggshield, noseyparker, kingfisher)
FORMATS: dict[str, ModuleType] = {m.NAME: m for m in _ORDER}
Parsed = tuple[str, Sighting | Skip]  # (file:line, result)


def files_of(paths: list[Path]) -> list[Path]:
    """PATHS with each directory replaced by the files in it (not hidden), sorted."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(
                sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
            )
        elif path.exists():
            found.append(path)
        else:
            raise InputError(f"{path}: no such file or directory")
    return found


def detect(path: Path, line: int, raw: Any) -> ModuleType:
    for module in FORMATS.values():
        if module.looks_like(raw):
            return module
    raise InputError(
        f"{path}:{line}: not an item of a report keysentry reads ({', '.join(sorted(FORMATS))}; "
        "give --format to say which it is)"
    )


def read(path: Path, fmt: str | None = None) -> Iterator[Parsed]:
    module = FORMATS[fmt] if fmt else None
    for line, raw in jsonstream.items(path):
        if module is None:
            module = detect(path, line, raw)
        for result in module.findings(path, line, raw):
            yield f"{path}:{line}", result
