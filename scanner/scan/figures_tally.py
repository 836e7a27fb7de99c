"""The figures the metrics show of a scan, counted while the scan judges each
key, so that no scrape has to read every open row back. They are what
store.aggregates.read_figures reads from history for the same scan (a test
holds the two equal); per-project counts are kept for every project, so that
any metrics.max_projects can cap them when they are shown."""

from __future__ import annotations

import itertools
import operator
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Sequence
from datetime import date, timedelta
from typing import Any

from scanner.core.models import DeadlineKind, Finding, KeyAssessment, KeyStatus, Severity
from scanner.store.due_soon import BUCKETS
from scanner.store.history.state import OpenKey

# The worst keys kept: metrics.top_keys is at most this; a larger setting
# reads them from history.
TOP_KEYS_KEPT = 500

_DELETED = KeyStatus.DELETED.value

# -score, name, project, display name (None until read, for kept keys), ...
TopEntry = tuple[int, str, str, str | None, str, str, date | None]
# subject, rule id, severity, deadline, timeline entry, accepted by, deadline kind
FindingFacts = tuple[str, str, str, date | None, str | None, str | None, str | None]
_ENFORCED = DeadlineKind.ENFORCED.value
_BLOCKED = KeyStatus.BLOCKED.value
_NON_COMPLIANT = KeyStatus.NON_COMPLIANT.value
_AT_RISK = KeyStatus.AT_RISK.value
# A severity's rank, negated: the smallest is the worst.
_WORST_FIRST = {s.value: -s.rank for s in Severity}
_MEDIUM = -Severity.MEDIUM.rank
_SUBJECT = operator.itemgetter(0)


def _facts(findings: Iterable[Finding]) -> Iterator[FindingFacts]:
    # _value_: see FiguresTally.add
    for f in findings:
        yield (
            f.subject,
            f.rule_id,
            f.severity._value_,
            f.deadline,
            f.timeline_entry,
            f.accepted_by,
            f.deadline_kind._value_ if f.deadline_kind is not None else None,
        )


class FiguresTally:
    def __init__(self, today: date) -> None:
        self.today = today
        self._week = today + timedelta(days=7)
        self._month = today + timedelta(days=30)
        self.keys: Counter[tuple[str, str]] = Counter()
        self.projects: Counter[tuple[str, str]] = Counter()
        self.findings: Counter[tuple[str, str]] = Counter()
        self.accepted: Counter[tuple[str, str]] = Counter()
        self.deadline_keys: Counter[str] = Counter()
        self.due: Counter[tuple[str, str]] = Counter()
        self.project_due: Counter[tuple[str, str]] = Counter()
        self._shown: dict[str, str] = {}  # project number -> how the metrics name it
        self._days: dict[date | str, date] = {}  # a deadline as read -> the day (_day)
        self._top: list[TopEntry] = []
        self._kept: set[str] = set()  # keys whose judgement the scan kept
        self._kept_status: dict[str, str] = {}
        # What the exceptions accepted of those keys, by exception id.
        self.kept_accepted: Counter[str] = Counter()

    def add(self, assessment: KeyAssessment) -> None:
        key = assessment.key
        project = key.project_id or key.project_number
        findings = assessment.findings
        status = assessment.status._value_
        due = self._count(_facts(findings), project, status) if findings else None
        # _value_ rather than .value: the same string without the enum property
        # (this runs for every key of every scan).
        self._count_key(
            key.name,
            key.project_number,
            project,
            key.display_name,
            key.key_type._value_,
            status,
            assessment.score,
            due,
        )

    def add_kept(self, name: str, kept: OpenKey) -> None:
        """A key whose last judgement (its open version KEPT) the scan kept:
        its findings are counted from history once every key is in
        (add_stored), and its display name read if it is among the top keys
        (top_without_names)."""
        self._kept.add(name)
        self._kept_status[name] = kept.status
        project = kept.project_id or kept.project_number
        self._count_key(
            name, kept.project_number, project, None, kept.key_type, kept.status, kept.score, None
        )

    def _count_key(
        self,
        name: str,
        number: str,
        project: str,
        display_name: str | None,
        key_type: str,
        status: str,
        score: int,
        due: date | None,
    ) -> None:
        self._shown[number] = project
        self.keys[(status, key_type)] += 1
        self.projects[(project, status)] += 1
        if status != _DELETED and score > 0:
            self._top.append((-score, name, project, display_name, status, key_type, due))
            if len(self._top) >= 2 * TOP_KEYS_KEPT:
                self._trim()

    def top_without_names(self) -> list[str]:
        """The top keys whose display names are not known yet (kept keys)."""
        self._trim()
        return [entry[1] for entry in self._top if entry[3] is None]

    def name_top(self, display_names: dict[str, str]) -> None:
        """Give the top keys their DISPLAY_NAMES (by key name)."""
        self._top = [
            (*entry[:3], display_names.get(entry[1], ""), *entry[4:]) if entry[3] is None else entry
            for entry in self._top
        ]

    @property
    def kept(self) -> int:
        return len(self._kept)

    def add_stored(self, open_findings: Iterable[Sequence[Any]]) -> None:
        """The open findings of history, grouped by subject (as
        store.history_state.open_finding_facts reads them): those of the kept
        keys are counted, the rest were counted as their keys were judged."""
        kept, due_of = self._kept, {}
        pending = {entry[1] for entry in self._top if entry[1] in kept}
        for subject, group in itertools.groupby(open_findings, key=_SUBJECT):
            if subject in kept:
                found = list(group)
                self.kept_accepted.update(f[5] for f in found if f[5] is not None)
                number = subject.split("/")[1]
                status = self._kept_status[subject]
                due = self._count(found, self._shown.get(number, number), status)
                if subject in pending:
                    due_of[subject] = due
        self._top = [
            (*entry[:6], due_of[entry[1]]) if entry[1] in due_of else entry for entry in self._top
        ]

    def add_findings(self, findings: Iterable[Finding]) -> None:
        """Findings about a project (after every key: the project's name in the
        metrics is what its keys call it)."""
        by_subject: dict[str, list[Finding]] = defaultdict(list)
        for f in findings:
            by_subject[f.subject].append(f)
        for subject, found in by_subject.items():
            number = subject.split("/")[1] if subject.startswith("projects/") else ""
            self._count(_facts(found), self._shown.get(number, number), "")

    def _count(self, findings: Iterable[Sequence[Any]], project: str, status: str) -> date | None:
        """Count one subject's open FINDINGS; when the finding that sets its
        STATUS is due (core.status_due, folded into this one pass)."""
        blocked_by: date | None = None  # the earliest enforced deadline passed
        serious: tuple[int, date] | None = None  # the worst medium+ finding, nearest due
        soonest: date | None = None
        entries: set[str] = set()
        days, today = self._days, self.today
        for _, rule_id, severity, stored, timeline_entry, accepted_by, kind in findings:
            labels = (rule_id, severity)
            if timeline_entry is not None:
                entries.add(timeline_entry)
            deadline = None if stored is None else days.get(stored) or _day(days, stored)
            if kind == _ENFORCED and deadline is not None and deadline <= today:
                blocked_by = deadline if blocked_by is None else min(blocked_by, deadline)
            if accepted_by is not None:
                self.accepted[labels] += 1
                continue
            self.findings[labels] += 1
            rank = _WORST_FIRST[severity]
            if rank <= _MEDIUM:
                candidate = (rank, deadline or date.max)
                if serious is None or candidate < serious:
                    serious = candidate
            if deadline is not None:
                if soonest is None or deadline < soonest:
                    soonest = deadline
                bucket = self._bucket(deadline)
                self.due[(rule_id, bucket)] += 1
                if project:
                    self.project_due[(project, bucket)] += 1
        for entry in entries:
            self.deadline_keys[entry] += 1
        if status == _BLOCKED:
            return blocked_by
        if status == _NON_COMPLIANT:
            return serious[1] if serious is not None and serious[1] != date.max else None
        return soonest if status == _AT_RISK else None

    def by_status(self) -> Counter[str]:
        """Keys counted by status."""
        counts: Counter[str] = Counter()
        for (status, _), count in self.keys.items():
            counts[status] += count
        return counts

    def by_severity(self) -> Counter[str]:
        """Open findings not accepted, of keys and projects, by severity."""
        counts: Counter[str] = Counter()
        for (_, severity), count in self.findings.items():
            counts[severity] += count
        return counts

    def _bucket(self, deadline: date) -> str:
        # As store.due_soon buckets them in SQL.
        if deadline < self.today:
            return BUCKETS[0]
        if deadline <= self._week:
            return BUCKETS[1]
        return BUCKETS[2] if deadline <= self._month else BUCKETS[3]

    def _trim(self) -> None:
        self._top.sort(key=lambda entry: (entry[0], entry[1]))
        del self._top[TOP_KEYS_KEPT:]

    def document(self) -> dict[str, Any]:
        """The figures as JSON (store.figures reads them back)."""
        self._trim()
        return {
            "version": 1,
            "top_keys_kept": TOP_KEYS_KEPT,
            "keys": _rows(self.keys),
            "projects": _rows(self.projects),
            "projects_with_keys": len({project for project, _ in self.projects}),
            "findings": _rows(self.findings),
            "accepted": _rows(self.accepted),
            "deadline_keys": dict(sorted(self.deadline_keys.items())),
            "due": _rows(self.due),
            "project_due": _rows(self.project_due),
            "top_keys": [
                [name, project, display, status, key_type, -score, day and day.isoformat()]
                for score, name, project, display, status, key_type, day in self._top
            ],
        }


def _day(days: dict[date | str, date], stored: date | str) -> date:
    """A deadline as a date, whether given as one or as SQLite's ISO text;
    remembered in DAYS (few days are deadlines, and every finding has one)."""
    day = stored if isinstance(stored, date) else date.fromisoformat(stored)
    days[stored] = day
    return day


def _rows(counts: Counter[tuple[str, str]]) -> list[list[Any]]:
    return [[a, b, n] for (a, b), n in sorted(counts.items())]
