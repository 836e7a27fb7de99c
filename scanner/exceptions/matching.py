"""Which exception, if any, accepts a finding. Each exception is filed under
its most selective selector (ExceptionsInForce), so that a scan of many keys
against many exceptions compares each key with its few candidates only."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date
from fnmatch import translate

from scanner.config.exceptions import ExceptionEntry
from scanner.core.models import Finding, KeyRecord, ProjectRecord

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


def _literal_prefix(glob: str) -> str:
    """The text a glob's matches all start with."""
    cut = min((i for i, ch in enumerate(glob) if ch in _GLOB_CHARS), default=len(glob))
    return glob[:cut]


class _Group:
    """Entries filed under glob selectors, by each glob's literal prefix: a
    value is compared only with the entries whose prefix it starts with."""

    def __init__(self) -> None:
        self._by_prefix: dict[str, list[_Compiled]] = defaultdict(list)
        self._lengths: list[int] = []

    def add(self, compiled: _Compiled, globs: list[str]) -> None:
        for glob in globs:
            prefix = _literal_prefix(glob)
            self._by_prefix[prefix].append(compiled)
        self._lengths = sorted({len(prefix) for prefix in self._by_prefix})

    def candidates(self, *values: str | None) -> list[_Compiled]:
        found: list[_Compiled] = []
        for value in values:
            if not value:
                continue
            for length in self._lengths:
                if length > len(value):
                    break
                found.extend(self._by_prefix.get(value[:length], ()))
        return found


class ExceptionsInForce:
    """The exceptions a scan evaluated on ON applies: those that have not lapsed.
    Counts what each accepted, for the stale ones in the scan notes.

    Each entry is filed under its most selective selector (key names, exact
    project ids, folders, label names, display name globs, project globs);
    `covers` then checks all of its selectors."""

    def __init__(self, entries: Iterable[ExceptionEntry], on: date) -> None:
        entries = list(entries)
        self.active = [e for e in entries if on < e.expires]
        self.lapsed = {e.id: e for e in entries if e.expires <= on}
        self.accepted: Counter[str] = Counter()
        self._by_name: dict[str, list[_Compiled]] = defaultdict(list)
        self._by_project: dict[str, list[_Compiled]] = defaultdict(list)
        self._by_folder: dict[str, list[_Compiled]] = defaultdict(list)
        self._by_label: dict[str, list[_Compiled]] = defaultdict(list)
        self._display = _Group()
        self._project_glob = _Group()
        for order, entry in enumerate(self.active):
            self._file(_compile(order, entry))

    def _file(self, c: _Compiled) -> None:
        e = c.entry
        if e.keys:
            for name in e.keys:
                self._by_name[name].append(c)
        elif e.projects and not any(_GLOB_CHARS & set(p) for p in e.projects):
            for project in e.projects:
                self._by_project[project].append(c)
        elif e.folders:
            for folder in e.folders:
                self._by_folder[folder].append(c)
        elif e.labels:
            self._by_label[min(e.labels)].append(c)  # covers() checks the others
        elif e.display_names:
            self._display.add(c, e.display_names)
        else:
            self._project_glob.add(c, e.projects)

    def __bool__(self) -> bool:
        return bool(self.active)

    def _candidates(
        self, key: KeyRecord | None, project: ProjectRecord | None, number: str
    ) -> list[_Compiled]:
        project_id = project.project_id if project is not None else None
        lists = [self._by_name.get(n, ()) for n in ((key.name, key.uid) if key else ())]
        lists += [self._by_project.get(p, ()) for p in (number, project_id) if p]
        if project is not None:
            lists += [self._by_folder.get(a, ()) for a in project.ancestors]
            lists += [self._by_label.get(name, ()) for name, _ in project.labels]
        if key is not None:
            lists.append(self._display.candidates(key.display_name))
        lists.append(self._project_glob.candidates(number, project_id))
        found = {c.order: c for items in lists for c in items}
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
        candidates = self._candidates(key, project, number)
        covering = [c for c in candidates if c.covers(key, project, number)]
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
