"""Writes one scan into history as a diff against what is current.

All of a scan's writes happen in one transaction: if the scan fails, none of
them lands. Memory holds one small tuple per current key and finding (what the
diff needs) plus a bounded write buffer."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, select, update

from scanner.errors import InputError
from scanner.models import Finding, KeyAssessment, ScanStats
from scanner.reasons import Reason, Resolution
from scanner.store import deferred_indexes
from scanner.store.bulk import BulkTable
from scanner.store.history_rows import (
    finding_digest,
    finding_row,
    fingerprint,
    key_digest,
    key_row,
    usage_digest,
    usage_row,
)
from scanner.store.history_state import OpenKey, open_findings, open_keys
from scanner.store.tables import FindingVersion, KeyVersion, Scan, Transition, UsageVersion

BATCH = 2000


@dataclass
class _Buffers:
    key_inserts: list[dict[str, Any]] = field(default_factory=list)
    key_closes: list[int] = field(default_factory=list)
    finding_inserts: list[dict[str, Any]] = field(default_factory=list)
    finding_closes: list[int] = field(default_factory=list)
    usage_inserts: list[dict[str, Any]] = field(default_factory=list)
    usage_closes: list[int] = field(default_factory=list)
    transitions: list[dict[str, Any]] = field(default_factory=list)

    def size(self) -> int:
        return (
            len(self.key_inserts)
            + len(self.key_closes)
            + len(self.finding_inserts)
            + len(self.finding_closes)
            + len(self.usage_inserts)
            + len(self.usage_closes)
            + len(self.transitions)
        )


class HistoryWriter:
    """Writes into CONN's transaction, which the caller commits after finish()
    or rolls back. RESOLUTION says why findings not found again went away;
    the writer adds to it what it sees of each key."""

    def __init__(
        self, conn: Connection, scan_id: int, evaluated_at: datetime, resolution: Resolution
    ) -> None:
        self._conn = conn
        self._scan_id = scan_id
        self._at = evaluated_at
        self._resolution = resolution
        self._seen = resolution.seen
        self._buf = _Buffers()
        self._new_fingerprints: list[dict[str, Any]] = []
        self.rows_written = 0
        dialect = conn.dialect.name
        self._key_table = BulkTable(KeyVersion.__table__, dialect)  # type: ignore[arg-type]
        self._finding_table = BulkTable(FindingVersion.__table__, dialect)  # type: ignore[arg-type]
        self._transition_table = BulkTable(Transition.__table__, dialect)  # type: ignore[arg-type]
        self._usage_table = BulkTable(UsageVersion.__table__, dialect)  # type: ignore[arg-type]
        self._keys, self._orphan_usage = open_keys(conn)
        self._findings, self._resolved_before = open_findings(conn)
        self._indexes_deferred = deferred_indexes.history_is_empty(conn)
        if self._indexes_deferred:
            deferred_indexes.drop(conn)

    def _transition(self, kind: str, key_name: str, **values: str | None) -> None:
        self._buf.transitions.append(
            {
                "scan_id": self._scan_id,
                "at": self._at,
                "kind": kind,
                "key_name": key_name,
                "fingerprint": values.get("fingerprint"),
                "rule_id": values.get("rule_id"),
                "from_value": values.get("from_value"),
                "to_value": values.get("to_value"),
                "reason": values.get("reason"),
                "exception_id": values.get("exception_id"),
            }
        )

    def add(self, assessment: KeyAssessment) -> None:
        key = assessment.key
        name = key.name
        if name in self._seen:
            raise InputError(f"key {name} appears twice in the inventory")
        self._seen.add(name)
        digest = key_digest(assessment)
        status = assessment.status.value
        previous = self._keys.pop(name, None)
        record_changed = previous is None or previous.content_hash != digest
        if (
            previous is None
            or record_changed
            or previous.status != status
            or previous.score != assessment.score
        ):
            if previous is not None:
                self._buf.key_closes.append(previous.id)
            row = key_row(assessment, digest)
            self._buf.key_inserts.append(row | {"valid_from_scan_id": self._scan_id})
            old_status = previous.status if previous else None
            if old_status != status:
                self._transition("status_changed", name, from_value=old_status, to_value=status)
        usage_changed = self._add_usage(assessment, previous)
        resolution = self._resolution
        if record_changed or usage_changed:
            resolution.changed.add(name)
        if key.deleted is not None:
            resolution.deleted.add(name)
        if key.usage is None and resolution.usage_read:
            resolution.without_usage.add(name)
        for f in assessment.findings:
            self._add_finding(f)
        if self._buf.size() >= BATCH:
            self._flush()

    def _add_usage(self, assessment: KeyAssessment, previous: OpenKey | None) -> bool:
        """Close and write the key's usage interval when its figures changed."""
        usage = assessment.key.usage
        digest = usage_digest(usage) if usage is not None else None
        old_id = previous.usage_id if previous is not None else None
        old_hash = previous.usage_hash if previous is not None else None
        if digest == old_hash:
            return False
        if old_id is not None:
            self._buf.usage_closes.append(old_id)
        if usage is not None and digest is not None:
            row = usage_row(assessment.key.name, usage, digest)
            self._buf.usage_inserts.append(row | {"valid_from_scan_id": self._scan_id})
        return True

    def add_findings(self, findings: list[Finding]) -> None:
        """Findings about something other than a key (a project): same
        fingerprints, intervals and transitions as a key's."""
        for f in findings:
            self._add_finding(f)
        if self._buf.size() >= BATCH:
            self._flush()

    def _add_finding(self, f: Finding) -> None:
        fp = fingerprint(f.rule_id, f.subject)
        state = finding_digest(f)
        previous = self._findings.pop(fp, None)
        if previous is not None and previous.state_hash == state:
            return
        self._buf.finding_inserts.append(
            finding_row(f, fp, state) | {"valid_from_scan_id": self._scan_id}
        )
        ids = {"fingerprint": fp, "rule_id": f.rule_id}
        severity = f.severity.value
        if previous is None:
            self._new_fingerprints.append(
                ids | {"key_name": f.subject, "severity": severity, "exception_id": f.accepted_by}
            )
            return
        self._buf.finding_closes.append(previous.id)
        if previous.severity != severity:
            self._transition(
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
            self._transition(
                "accepted", f.subject, **ids, reason=Reason.ACCEPTED, exception_id=f.accepted_by
            )
            return
        assert before is not None
        lapsed = before in self._resolution.lapsed_exceptions
        kind = "acceptance_expired" if lapsed else "acceptance_revoked"
        self._transition(kind, f.subject, **ids, to_value=f.severity.value, exception_id=before)

    def _classify_new_findings(self, conn: Connection) -> None:
        """opened, or reopened when the fingerprint was resolved before."""
        if not self._new_fingerprints:
            return
        seen_before: set[str] = set()
        if self._resolved_before:
            fps = [item["fingerprint"] for item in self._new_fingerprints]
            seen_before = set(
                conn.scalars(
                    select(FindingVersion.fingerprint)
                    .where(FindingVersion.fingerprint.in_(fps))
                    .where(FindingVersion.valid_to_scan_id.is_not(None))
                    .distinct()
                )
            )
        for item in self._new_fingerprints:
            kind = "reopened" if item["fingerprint"] in seen_before else "opened"
            self._transition(
                kind,
                item["key_name"],
                fingerprint=item["fingerprint"],
                rule_id=item["rule_id"],
                to_value=item["severity"],
                exception_id=item["exception_id"],
            )
        self._new_fingerprints = []

    def _flush(self) -> None:
        conn = self._conn
        # Classify before inserting, so this scan's own rows do not count as "before".
        self._classify_new_findings(conn)
        buf = self._buf
        self._key_table.close(conn, buf.key_closes, self._scan_id)
        self._finding_table.close(conn, buf.finding_closes, self._scan_id)
        self._key_table.insert(conn, buf.key_inserts)
        self._finding_table.insert(conn, buf.finding_inserts)
        self._usage_table.close(conn, buf.usage_closes, self._scan_id)
        self._usage_table.insert(conn, buf.usage_inserts)
        self._transition_table.insert(conn, buf.transitions)
        self.rows_written += buf.size()
        self._buf = _Buffers()

    def finish(self, stats: ScanStats) -> None:
        """Close what this scan did not see, then mark the scan succeeded."""
        for name, gone in self._keys.items():
            self._buf.key_closes.append(gone.id)
            if gone.usage_id is not None:
                self._buf.usage_closes.append(gone.usage_id)
            self._transition("status_changed", name, from_value=gone.status, to_value=None)
        self._buf.usage_closes.extend(self._orphan_usage)
        for fp, gone_finding in self._findings.items():
            self._buf.finding_closes.append(gone_finding.id)
            self._transition(
                "resolved",
                gone_finding.key_name,
                fingerprint=fp,
                rule_id=gone_finding.rule_id,
                from_value=gone_finding.severity,
                reason=self._resolution.reason(gone_finding.rule_id, gone_finding.key_name),
                exception_id=gone_finding.accepted_by,
            )
        self._keys.clear()
        self._findings.clear()
        self._flush()
        if self._indexes_deferred:
            deferred_indexes.build(self._conn)
            self._indexes_deferred = False
        stats.rows_written = self.rows_written
        self._conn.execute(
            update(Scan)
            .where(Scan.id == self._scan_id)
            .values(
                status="succeeded",
                finished_at=datetime.now(UTC),
                assets_read=stats.assets_read,
                keys_total=stats.keys_total,
                findings_open=sum(stats.by_severity.values()),
                rows_written=self.rows_written,
                counts={"by_status": stats.by_status, "by_severity": stats.by_severity},
                notes=stats.notes,
            )
        )
