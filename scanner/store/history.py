"""Writes one scan into history as a diff against what is current.

All of a scan's writes happen in one transaction: if the scan fails, none of
them lands. Memory holds one small tuple per current key and finding (what the
diff needs) plus a bounded write buffer."""

from __future__ import annotations

import hashlib
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, NamedTuple

from sqlalchemy import Connection, Engine, select, update

from scanner.errors import InputError
from scanner.models import Finding, KeyAssessment, ScanStats
from scanner.store.bulk import BulkTable
from scanner.store.tables import FindingVersion, KeyVersion, Scan, Transition

BATCH = 2000


def fingerprint(rule_id: str, subject: str) -> str:
    """Stable identity of a finding across scans: the rule and what it is about."""
    return hashlib.sha256(f"{rule_id}\x00{subject}".encode()).hexdigest()[:32]


def _digest(values: tuple[Any, ...]) -> str:
    """A digest of str, int, bool, None, date, datetime and tuple values, whose repr
    is stable. Changing what goes in makes every row look changed once."""
    return hashlib.blake2b(repr(values).encode(), digest_size=16).hexdigest()


def key_digest(assessment: KeyAssessment) -> str:
    key = assessment.key
    return _digest(
        (
            key.name,
            key.uid,
            key.project_number,
            key.project_id,
            key.display_name,
            key.created,
            key.updated,
            key.deleted,
            key.key_type.value,
            key.service_account,
            key.api_targets,
            key.application_restriction.value,
            key.application_values,
            key.annotations,
            key.gemini_enabled,
            assessment.status.value,
            assessment.score,
            key.owners,
            key.creator,
            key.key_admins,
        )
    )


def finding_digest(f: Finding) -> str:
    kind = f.deadline_kind.value if f.deadline_kind else None
    return _digest((f.severity.value, f.summary, f.checklist, f.deadline, kind, f.timeline_entry))


def key_row(assessment: KeyAssessment, content_hash: str) -> dict[str, Any]:
    key = assessment.key
    return {
        "key_name": key.name,
        "uid": key.uid,
        "project_number": key.project_number,
        "project_id": key.project_id,
        "display_name": key.display_name,
        "created_at": key.created,
        "updated_at": key.updated,
        "deleted_at": key.deleted,
        "key_type": key.key_type.value,
        "service_account": key.service_account,
        "api_targets": list(key.api_targets),
        "application_restriction": key.application_restriction.value,
        "application_values": list(key.application_values),
        "annotations": dict(key.annotations),
        "gemini_enabled": key.gemini_enabled,
        "status": assessment.status.value,
        "score": assessment.score,
        "owners": list(key.owners),
        "creator": key.creator,
        "key_admins": list(key.key_admins),
        "content_hash": content_hash,
    }


def finding_row(f: Finding, fp: str, state_hash: str) -> dict[str, Any]:
    return {
        "fingerprint": fp,
        "rule_id": f.rule_id,
        "key_name": f.subject,
        "severity": f.severity.value,
        "summary": f.summary,
        "checklist": f.checklist,
        "deadline": f.deadline,
        "deadline_kind": f.deadline_kind.value if f.deadline_kind else None,
        "timeline_entry": f.timeline_entry,
        "state_hash": state_hash,
    }


class _OpenKey(NamedTuple):
    id: int
    content_hash: str
    status: str


class _OpenFinding(NamedTuple):
    id: int
    state_hash: str
    severity: str
    rule_id: str
    key_name: str


@dataclass
class _Buffers:
    key_inserts: list[dict[str, Any]] = field(default_factory=list)
    key_closes: list[int] = field(default_factory=list)
    finding_inserts: list[dict[str, Any]] = field(default_factory=list)
    finding_closes: list[int] = field(default_factory=list)
    transitions: list[dict[str, Any]] = field(default_factory=list)

    def size(self) -> int:
        return (
            len(self.key_inserts)
            + len(self.key_closes)
            + len(self.finding_inserts)
            + len(self.finding_closes)
            + len(self.transitions)
        )


class HistoryWriter:
    """Use as a context manager: commits on a clean exit after finish(), rolls
    back on any exception."""

    def __init__(self, engine: Engine, scan_id: int, evaluated_at: datetime) -> None:
        self._engine = engine
        self._scan_id = scan_id
        self._at = evaluated_at
        self._conn: Connection | None = None
        self._keys: dict[str, _OpenKey] = {}
        self._findings: dict[str, _OpenFinding] = {}
        self._seen: set[str] = set()
        self._buf = _Buffers()
        self._new_fingerprints: list[dict[str, Any]] = []
        self._resolved_before = False
        self.rows_written = 0
        self._finished = False

    def __enter__(self) -> HistoryWriter:
        self._conn = self._engine.connect()
        self._conn.begin()
        dialect = self._conn.dialect.name
        self._key_table = BulkTable(KeyVersion.__table__, dialect)  # type: ignore[arg-type]
        self._finding_table = BulkTable(FindingVersion.__table__, dialect)  # type: ignore[arg-type]
        self._transition_table = BulkTable(Transition.__table__, dialect)  # type: ignore[arg-type]
        kv, fv = KeyVersion, FindingVersion
        open_keys = select(kv.id, kv.key_name, kv.content_hash, kv.status).where(
            kv.valid_to_scan_id.is_(None)
        )
        # Interned: a finding's key name and rule id share one string with the
        # key's entry, which keeps these maps small at a million keys.
        for row in self._conn.execute(open_keys):
            self._keys[sys.intern(row.key_name)] = _OpenKey(
                row.id, row.content_hash, sys.intern(row.status)
            )
        open_findings = select(
            fv.id, fv.fingerprint, fv.state_hash, fv.severity, fv.rule_id, fv.key_name
        ).where(fv.valid_to_scan_id.is_(None))
        # Only a fingerprint resolved before can reopen; none ever was on a first scan.
        self._resolved_before = (
            self._conn.scalar(select(fv.id).where(fv.valid_to_scan_id.is_not(None)).limit(1))
            is not None
        )
        for f in self._conn.execute(open_findings):
            self._findings[f.fingerprint] = _OpenFinding(
                f.id,
                f.state_hash,
                sys.intern(f.severity),
                sys.intern(f.rule_id),
                sys.intern(f.key_name),
            )
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._conn is not None
        try:
            if exc_type is None and self._finished:
                self._conn.commit()
            else:
                self._conn.rollback()
        finally:
            self._conn.close()

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
            }
        )

    def add(self, assessment: KeyAssessment) -> None:
        name = assessment.key.name
        if name in self._seen:
            raise InputError(f"key {name} appears twice in the inventory")
        self._seen.add(name)
        digest = key_digest(assessment)
        previous = self._keys.pop(name, None)
        if previous is None or previous.content_hash != digest:
            if previous is not None:
                self._buf.key_closes.append(previous.id)
            row = key_row(assessment, digest)
            self._buf.key_inserts.append(row | {"valid_from_scan_id": self._scan_id})
            old_status = previous.status if previous else None
            if old_status != row["status"]:
                self._transition(
                    "status_changed", name, from_value=old_status, to_value=row["status"]
                )
        for f in assessment.findings:
            self._add_finding(f)
        if self._buf.size() >= BATCH:
            self._flush()

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
            self._new_fingerprints.append(ids | {"key_name": f.subject, "severity": severity})
            return
        self._buf.finding_closes.append(previous.id)
        if previous.severity != severity:
            self._transition(
                "severity_changed",
                f.subject,
                **ids,
                from_value=previous.severity,
                to_value=severity,
            )

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
            )
        self._new_fingerprints = []

    def _flush(self) -> None:
        conn = self._conn
        assert conn is not None
        # Classify before inserting, so this scan's own rows do not count as "before".
        self._classify_new_findings(conn)
        buf = self._buf
        self._key_table.close(conn, buf.key_closes, self._scan_id)
        self._finding_table.close(conn, buf.finding_closes, self._scan_id)
        self._key_table.insert(conn, buf.key_inserts)
        self._finding_table.insert(conn, buf.finding_inserts)
        self._transition_table.insert(conn, buf.transitions)
        self.rows_written += buf.size()
        self._buf = _Buffers()

    @property
    def connection(self) -> Connection:
        """The scan's transaction, for work that must commit or roll back with it."""
        assert self._conn is not None
        return self._conn

    def finish(self, stats: ScanStats) -> None:
        """Close what this scan did not see, then mark the scan succeeded."""
        for name, gone in self._keys.items():
            self._buf.key_closes.append(gone.id)
            self._transition("status_changed", name, from_value=gone.status, to_value=None)
        for fp, gone_finding in self._findings.items():
            self._buf.finding_closes.append(gone_finding.id)
            self._transition(
                "resolved",
                gone_finding.key_name,
                fingerprint=fp,
                rule_id=gone_finding.rule_id,
                from_value=gone_finding.severity,
            )
        self._keys.clear()
        self._findings.clear()
        self._flush()
        stats.rows_written = self.rows_written
        assert self._conn is not None
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
        self._finished = True
