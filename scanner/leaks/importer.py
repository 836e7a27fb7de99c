"""Import: sightings -> fingerprints -> which key (cached LookupKey) -> one
transaction. A key string lives only inside `_resolve`, for one iteration."""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Engine

from scanner.core.models import LeakEvidence
from scanner.core.secrets import Fingerprinter, kind_of
from scanner.leaks.formats.common import Sighting, Skip
from scanner.leaks.lookup import KeyLookup, Lookup, Outcome
from scanner.store import leaks as store

Cached = tuple[str, str | None, str | None]
EVIDENCE_FIELDS = tuple(LeakEvidence.__dataclass_fields__)


@dataclass
class ImportStats:
    import_id: int = 0
    items: int = 0
    sightings: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    # Evidence fields left out because they could not be read, by field.
    warnings: Counter[str] = field(default_factory=Counter)
    duplicates: int = 0  # the same report finding again, in this import or stored
    new_reports: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)  # of new reports
    lookups: int = 0  # strings asked of the lookup
    cached: int = 0  # strings answered from earlier lookups
    newly_leaked_keys: int = 0

    def as_counts(self) -> dict[str, Any]:
        return {
            "items": self.items,
            "sightings": self.sightings,
            "skipped": dict(self.skipped),
            "warnings": dict(self.warnings),
            "duplicates": self.duplicates,
            "new_reports": self.new_reports,
            "outcomes": dict(self.outcomes),
            "lookups": self.lookups,
            "cached": self.cached,
            "newly_leaked_keys": self.newly_leaked_keys,
        }


def source_fingerprint(tool: str, source_ref: str, secret_fingerprint: str) -> str:
    """Stable per report finding: re-importing the same report adds nothing."""
    text = "\0".join((tool, source_ref, secret_fingerprint))
    return hashlib.sha256(text.encode()).hexdigest()


class Importer:
    def __init__(self, engine: Engine, fingerprinter: Fingerprinter, lookup: KeyLookup) -> None:
        self._engine = engine
        self._fingerprinter = fingerprinter
        self._lookup = lookup

    def run(
        self, parsed: Iterable[tuple[str, Sighting | Skip]], source: str, at: datetime
    ) -> ImportStats:
        """Read all of PARSED, then write it in one transaction: a bad item
        anywhere raises before anything is written."""
        stats = ImportStats()
        with self._engine.connect() as conn:
            store.check_fingerprint_key(conn, self._fingerprinter.key_id)
            cache = store.cached_lookups(conn)
            numbers = store.project_numbers(conn)
        fresh: dict[str, Cached] = {}  # answers to cache
        seen: dict[str, Cached] = {}  # every answer of this import
        reports: dict[str, dict[str, Any]] = {}
        for _where, result in parsed:
            stats.items += 1
            if isinstance(result, Skip):
                stats.skipped[result.reason] += 1
                continue
            stats.sightings += 1
            stats.warnings.update(result.warnings)
            row = self._resolve(result, cache, fresh, seen, numbers, stats)
            if row["source_fingerprint"] in reports:
                stats.duplicates += 1
            else:
                reports[row["source_fingerprint"]] = row
        with self._engine.begin() as conn:
            store.check_fingerprint_key(conn, self._fingerprinter.key_id)
            stored = store.stored_sources(conn, reports)
            new = [row for fp, row in reports.items() if fp not in stored]
            stats.duplicates += len(reports) - len(new)
            stats.new_reports = len(new)
            stats.outcomes.update(row["outcome"] for row in new)
            before = store.leaked_key_names(conn, numbers)
            stats.newly_leaked_keys = len({r["key_name"] for r in new if r["key_name"]} - before)
            stats.import_id = store.record_import(
                conn, at, source, self._fingerprinter.key_id, stats.as_counts(), new, fresh
            )
        return stats

    def _resolve(
        self,
        sighting: Sighting,
        cache: dict[str, Cached],
        fresh: dict[str, Cached],
        seen: dict[str, Cached],
        numbers: dict[str, str],
        stats: ImportStats,
    ) -> dict[str, Any]:
        secret = sighting.secret
        fingerprint = self._fingerprinter.of(secret)
        answer = seen.get(fingerprint) or cache.get(fingerprint)
        if answer is None or (answer[0] == Outcome.DENIED and fingerprint not in seen):
            stats.lookups += 1
            found = self._lookup.lookup(secret)
            answer = _normalized(found, numbers)
            if found.cacheable:
                fresh[fingerprint] = answer
        else:
            stats.cached += 1
        seen[fingerprint] = answer
        outcome, key_name, parent = answer
        evidence = sighting.evidence
        row = {
            "source_fingerprint": source_fingerprint(
                evidence.tool, sighting.source_ref, fingerprint
            ),
            "secret_fingerprint": fingerprint,
            "secret_kind": kind_of(secret) or "standard",
            **{f: getattr(evidence, f) for f in EVIDENCE_FIELDS},
            "outcome": outcome,
            "key_name": key_name,
            # The key id: the last part of the name (not the key's uid).
            "key_uid": key_name.rsplit("/", 1)[-1] if key_name else None,
            "parent": parent,
        }
        del secret
        return row


def _normalized(found: Lookup, numbers: dict[str, str]) -> Cached:
    name = store.numbered_key_name(found.key_name, numbers) if found.key_name else None
    return (found.outcome.value, name, found.parent)
