"""Which exception, if any, accepts a finding. Exceptions are indexed by the
key names, uids and project ids they name exactly, so that a scan of many
keys against many exceptions compares each key with its few candidates and
with the exceptions that only have patterns."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date
from fnmatch import translate

from scanner.exceptions.config import ExceptionEntry
from scanner.models import Finding, KeyRecord, ProjectRecord

_GLOB_CHARS = frozenset("*?[")


def _pattern(globs: Iterable[str]) -> re.Pattern[str] | None:
    globs = list(globs)
    if not globs:
        return None
    return re.compile("|".join(f"(?:{translate(g)})" for g in globs))


@dataclass(frozen=True)
class _Compiled:
    order: int  # the entry's place in the configuration: the first that matches wins
    entry: ExceptionEntry
    rules: frozenset[str]
    keys: frozenset[str]
    display_name: re.Pattern[str] | None
    project: re.Pattern[str] | None
    labels: tuple[tuple[str, re.Pattern[str]], ...]

    def covers(self, key: KeyRecord | None, project: ProjectRecord | None, number: str) -> bool:
        e = self.entry
        if key is None and (self.keys or self.display_name is not None):
            return False  # a finding about a project: key selectors cannot match it
        if key is not None:
            if self.keys and key.name not in self.keys and key.uid not in self.keys:
                return False
            if self.display_name is not None and not self.display_name.fullmatch(
                key.display_name or ""
            ):
                return False
        if self.project is not None:
            project_id = project.project_id if project is not None else None
            if not self.project.fullmatch(number) and not (
                project_id and self.project.fullmatch(project_id)
            ):
                return False
        if e.folders:
            ancestors = set(project.ancestors) if project is not None else set()
            if not ancestors.intersection(e.folders):
                return False
        if self.labels:
            labels = dict(project.labels) if project is not None else {}
            for name, pattern in self.labels:
                if name not in labels or not pattern.fullmatch(labels[name]):
                    return False
        return True


def _compile(order: int, e: ExceptionEntry) -> _Compiled:
    return _Compiled(
        order=order,
        entry=e,
        rules=frozenset(e.rules),
        keys=frozenset(e.keys),
        display_name=_pattern(e.display_names),
        project=_pattern(e.projects),
        labels=tuple((k, re.compile(translate(v))) for k, v in sorted(e.labels.items())),
    )


class ExceptionsInForce:
    """The exceptions a scan evaluated on ON applies: those that have not lapsed.
    Counts what each accepted, for the stale ones in the scan notes."""

    def __init__(self, entries: Iterable[ExceptionEntry], on: date) -> None:
        entries = list(entries)
        self.active = [e for e in entries if on < e.expires]
        self.lapsed = {e.id: e for e in entries if e.expires <= on}
        self.accepted: Counter[str] = Counter()
        self._by_name: dict[str, list[_Compiled]] = defaultdict(list)
        self._by_project: dict[str, list[_Compiled]] = defaultdict(list)
        self._general: list[_Compiled] = []
        for order, entry in enumerate(self.active):
            compiled = _compile(order, entry)
            if entry.keys:
                for name in entry.keys:
                    self._by_name[name].append(compiled)
            elif entry.projects and not any(_GLOB_CHARS & set(p) for p in entry.projects):
                for project in entry.projects:
                    self._by_project[project].append(compiled)
            else:
                self._general.append(compiled)

    def __bool__(self) -> bool:
        return bool(self.active)

    def _candidates(
        self, key: KeyRecord | None, number: str, project_id: str | None
    ) -> list[_Compiled]:
        found: dict[int, _Compiled] = {}
        names = (key.name, key.uid) if key is not None else ()
        for name in names:
            for c in self._by_name.get(name, ()):
                found[c.order] = c
        for project in (number, project_id):
            if project:
                for c in self._by_project.get(project, ()):
                    found[c.order] = c
        for c in self._general:
            found[c.order] = c
        return [found[order] for order in sorted(found)]

    def apply(
        self,
        findings: Iterable[Finding],
        key: KeyRecord | None,
        project: ProjectRecord | None,
        number: str,
    ) -> list[Finding]:
        """FINDINGS about KEY (None: about the project NUMBER), each marked with
        the first exception that accepts it."""
        findings = list(findings)
        if not findings or not self.active:
            return findings
        project_id = project.project_id if project is not None else None
        covering = [
            c for c in self._candidates(key, number, project_id) if c.covers(key, project, number)
        ]
        if not covering:
            return findings
        marked = []
        for finding in findings:
            by = next((c.entry.id for c in covering if finding.rule_id in c.rules), None)
            if by is not None:
                self.accepted[by] += 1
            marked.append(finding if by is None else replace(finding, accepted_by=by))
        return marked

    def stale(self) -> list[str]:
        """Exceptions in force that accepted nothing in this scan."""
        return [e.id for e in self.active if not self.accepted[e.id]]
