"""The findings half of the history writer.

A key whose findings digest equals the one on its open version has the same
findings as when that version was written: none of them is read or written.
The findings of every other subject are diffed against its open ones, read a
batch of subjects at a time. What a subject no longer has is resolved when the
scan ends, with the reason the whole scan gives it."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from itertools import groupby
from typing import Any

from sqlalchemy import Connection, select

from scanner.core.models import Finding
from scanner.core.reasons import Reason, Resolution
from scanner.store.history.buffer import WriteBuffer
from scanner.store.history.rows import finding_digest, finding_row, fingerprint
from scanner.store.history.state import (
    OpenFinding,
    open_findings_of,
    resolved_before,
    subjects_with_findings,
)
from scanner.store.tables import FindingVersion

SUBJECTS_PER_READ = 500


class FindingDiff:
    """NOTHING_OPEN: the history is empty, so every finding is new and nothing
    is read back (the scan also runs without secondary indexes then)."""

    def __init__(
        self,
        conn: Connection,
        buf: WriteBuffer,
        resolution: Resolution,
        nothing_open: bool,
        only: Sequence[str] | None = None,
    ) -> None:
        self._conn = conn
        self._only = only  # the subjects a scan of a few keys is about
        self._buf = buf
        self._resolution = resolution
        self._nothing_open = nothing_open
        self._resolved_before = not nothing_open and resolved_before(conn)
        self._pending: list[tuple[str, Sequence[Finding]]] = []
        self._diffed: set[str] = set()  # subjects other than keys (keys are in resolution.seen)
        self._gone: list[tuple[str, OpenFinding]] = []
        self._new: list[dict[str, Any]] = []

    def of_key(self, name: str, findings: Sequence[Finding]) -> None:
        """The findings of key NAME, whose digest moved (or which is new)."""
        if self._nothing_open:
            for f in findings:
                self._add(f, None)
            return
        self._pending.append((name, findings))
        if len(self._pending) >= SUBJECTS_PER_READ:
            self._read_pending()

    def of_projects(self, findings: Iterable[Finding]) -> None:
        """Findings about something other than a key, all of them at once."""
        by_subject = sorted(findings, key=lambda f: f.subject)
        for subject, group in groupby(by_subject, lambda f: f.subject):
            self._diffed.add(subject)
            self.of_key(subject, list(group))

    def _read_pending(self) -> None:
        if not self._pending:
            return
        found = open_findings_of(self._conn, [subject for subject, _ in self._pending])
        for _, findings in self._pending:
            for f in findings:
                self._add(f, found.pop(fingerprint(f.rule_id, f.subject), None))
        self._gone.extend(found.items())
        self._pending = []

    def _add(self, f: Finding, previous: OpenFinding | None) -> None:
        fp = fingerprint(f.rule_id, f.subject)
        state = finding_digest(f)
        if previous is not None and previous.state_hash == state:
            return
        self._buf.finding_inserts.append(
            finding_row(f, fp, state) | {"valid_from_scan_id": self._buf.scan_id}
        )
        ids = {"fingerprint": fp, "rule_id": f.rule_id}
        severity = f.severity.value
        if previous is None:
            self._new.append(
                ids | {"key_name": f.subject, "severity": severity, "exception_id": f.accepted_by}
            )
            return
        self._buf.finding_closes.append(previous.id)
        if previous.severity != severity:
            self._buf.transition(
                "severity_changed",
                f.subject,
                **ids,
                from_value=previous.severity,
                to_value=severity,
                exception_id=f.accepted_by,
            )
        if previous.accepted_by != f.accepted_by:
            self._acceptance_changed(f, ids, previous.accepted_by)

    def _acceptance_changed(self, f: Finding, ids: dict[str, str], before: str | None) -> None:
        if f.accepted_by is not None:
            self._buf.transition(
                "accepted", f.subject, **ids, reason=Reason.ACCEPTED, exception_id=f.accepted_by
            )
            return
        assert before is not None
        lapsed = before in self._resolution.lapsed_exceptions
        kind = "acceptance_expired" if lapsed else "acceptance_revoked"
        self._buf.transition(kind, f.subject, **ids, to_value=f.severity.value, exception_id=before)

    def classify_new(self) -> None:
        """opened, or reopened when the fingerprint was resolved before. Call
        before this scan's rows are inserted, so they do not count as before."""
        if not self._new:
            return
        seen_before: set[str] = set()
        if self._resolved_before:
            fps = [item["fingerprint"] for item in self._new]
            seen_before = set(
                self._conn.scalars(
                    select(FindingVersion.fingerprint)
                    .where(FindingVersion.fingerprint.in_(fps))
                    .where(FindingVersion.valid_to_scan_id.is_not(None))
                    .distinct()
                )
            )
        for item in self._new:
            kind = "reopened" if item["fingerprint"] in seen_before else "opened"
            self._buf.transition(
                kind,
                item["key_name"],
                fingerprint=item["fingerprint"],
                rule_id=item["rule_id"],
                to_value=item["severity"],
                exception_id=item["exception_id"],
            )
        self._new = []

    def finish(self) -> None:
        """Diff what is pending, then resolve every open finding this scan did
        not find again: of diffed subjects, of keys that left the inventory and
        of projects with no finding now."""
        self._read_pending()
        if not self._nothing_open:
            diffed, seen = self._diffed, self._resolution.seen
            # Listed whole before reading: a stream and reads on one connection do not mix.
            subjects = self._only if self._only is not None else subjects_with_findings(self._conn)
            leftover = [s for s in subjects if s not in seen and s not in diffed]
            for start in range(0, len(leftover), SUBJECTS_PER_READ):
                found = open_findings_of(self._conn, leftover[start : start + SUBJECTS_PER_READ])
                self._gone.extend(found.items())
        for fp, gone in self._gone:
            self._buf.finding_closes.append(gone.id)
            self._buf.transition(
                "resolved",
                gone.key_name,
                fingerprint=fp,
                rule_id=gone.rule_id,
                from_value=gone.severity,
                reason=self._resolution.reason(gone.rule_id, gone.key_name),
                exception_id=gone.accepted_by,
            )
        self._gone = []
