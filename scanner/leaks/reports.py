"""Reads report files of any supported format, detected from their first item
or given, into Sightings and Skips."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

from scanner.core.errors import InputError
from scanner.inputs import jsonstream
from scanner.leaks.formats import github, gitleaks, trufflehog
from scanner.leaks.formats.common import Sighting, Skip

FORMATS: dict[str, ModuleType] = {m.NAME: m for m in (gitleaks, trufflehog, github)}
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
        f"{path}:{line}: not a gitleaks, TruffleHog or GitHub secret scanning report item "
        "(give --format to say which it is)"
    )


def read(path: Path, fmt: str | None = None) -> Iterator[Parsed]:
    module = FORMATS[fmt] if fmt else None
    for line, raw in jsonstream.items(path):
        if module is None:
            module = detect(path, line, raw)
        yield f"{path}:{line}", module.parse(path, line, raw)
