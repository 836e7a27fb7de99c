"""Writes one scan into history as a diff against what is current.

All of a scan's writes happen in one transaction: if the scan fails, none of
them lands. Memory holds one small tuple per current key (what the diff
needs), the findings of a few hundred keys whose findings moved, and a bounded
write buffer."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import Connection, update

from scanner.core.errors import InputError
from scanner.core.models import Finding, KeyAssessment, KeyRecord, KeyUsage, ScanStats
from scanner.core.reasons import Resolution
from scanner.store import deferred_indexes
from scanner.store.bulk import BulkTable
from scanner.store.history.buffer import WriteBuffer
from scanner.store.history.findings import FindingDiff
from scanner.store.history.rows import findings_digest, key_digest, key_row, usage_digest, usage_row
from scanner.store.history.state import OpenKey, open_keys, packed
from scanner.store.tables import FindingVersion, KeyVersion, Scan, Transition, UsageVersion

BATCH = 2000


class HistoryWriter:
    """Writes into CONN's transaction, which the caller commits after finish()
    or rolls back. RESOLUTION says why findings not found again went away;
    the writer adds to it what it sees of each key."""

    def __init__(
        self,
        conn: Connection,
        scan_id: int,
        evaluated_at: datetime,
        resolution: Resolution,
        only: Sequence[str] | None = None,
        since: datetime | None = None,
    ) -> None:
        """ONLY: the keys this scan is about (a feed scan); every other key
        stays as it is, and one of them that is not added is gone. SINCE: the
        last full scan's instant; a key changed after it that history did not
        hold yet counts in `missed` (what a feed, had one run, did not say)."""
        self._conn = conn
        self._scan_id = scan_id
        self._resolution = resolution
        self._seen = resolution.seen
        self._buf = WriteBuffer(scan_id, evaluated_at)
        self.rows_written = 0
        self._since = since
        self.missed = 0
        dialect = conn.dialect.name
        self._key_table = BulkTable(KeyVersion.__table__, dialect)  # type: ignore[arg-type]
        self._finding_table = BulkTable(FindingVersion.__table__, dialect)  # type: ignore[arg-type]
        self._transition_table = BulkTable(Transition.__table__, dialect)  # type: ignore[arg-type]
        self._usage_table = BulkTable(UsageVersion.__table__, dialect)  # type: ignore[arg-type]
        self._keys, self._orphan_usage = open_keys(conn, only)
        self._indexes_deferred = only is None and deferred_indexes.history_is_empty(conn)
        if self._indexes_deferred:
            deferred_indexes.drop(conn)
        self._findings = FindingDiff(conn, self._buf, resolution, self._indexes_deferred, only)

    def open_version(self, name: str) -> OpenKey | None:
        """NAME's open version, while the scan has not seen the key."""
        return self._keys.get(name)

    def unchanged(self, name: str, previous: OpenKey, usage: KeyUsage | None) -> None:
        """Record NAME as seen with PREVIOUS, its open version, unchanged (the
        caller, scanner.scan.reuse, held its judgement to stand): nothing is
        written; USAGE is its usage this scan, for the resolutions."""
        del self._keys[name]
        self._seen.add(name)
        resolution = self._resolution
        if previous.deleted:
            resolution.deleted.add(name)
        if usage is None and resolution.usage_read:
            resolution.without_usage.add(name)

    def _note_seen(self, key: KeyRecord) -> None:
        resolution = self._resolution
        if key.deleted is not None:
            resolution.deleted.add(key.name)
        if key.usage is None and resolution.usage_read:
            resolution.without_usage.add(key.name)

    def add(self, assessment: KeyAssessment, source_hash: bytes | None = None) -> None:
        """Write what moved of ASSESSMENT's key; SOURCE_HASH is its digest as
        listed (a new one alone writes a version: later scans compare with it)."""
        key = assessment.key
        name = key.name
        if name in self._seen:
            raise InputError(f"key {name} appears twice in the inventory")
        self._seen.add(name)
        digest = key_digest(key)
        findings_hash = findings_digest(assessment.findings)
        status = assessment.status._value_
        previous = self._keys.pop(name, None)
        record_changed = previous is None or previous.content_hash != packed(digest)
        findings_moved = previous is None or previous.findings_hash != packed(findings_hash)
        if (
            previous is None
            or record_changed
            or findings_moved
            or previous.source_hash != source_hash
            or previous.status != status
            or previous.score != assessment.score
        ):
            if previous is not None:
                self._buf.key_closes.append(previous.id)
            row = key_row(assessment, digest, findings_hash, source_hash)
            self._buf.key_inserts.append(row | {"valid_from_scan_id": self._scan_id})
            old_status = previous.status if previous else None
            if old_status != status:
                self._buf.transition("status_changed", name, from_value=old_status, to_value=status)
        if (
            record_changed
            and self._since is not None
            and (key.updated or key.created or self._since) > self._since
        ):
            self.missed += 1
        usage_changed = self._add_usage(assessment, previous)
        resolution = self._resolution
        if record_changed or usage_changed:
            resolution.changed.add(name)
        self._note_seen(key)
        # A new key has no open findings: those of a key that left were resolved then.
        if findings_moved and (previous is not None or assessment.findings):
            self._findings.of_key(name, assessment.findings)
        if self._buf.size() >= BATCH:
            self._flush()

    def _add_usage(self, assessment: KeyAssessment, previous: OpenKey | None) -> bool:
        """Close and write the key's usage interval when its figures changed."""
        usage = assessment.key.usage
        digest = usage_digest(usage) if usage is not None else None
        old_id = previous.usage_id if previous is not None else None
        old_hash = previous.usage_hash if previous is not None else None
        if packed(digest) == old_hash:
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
        self._findings.of_projects(findings)
        if self._buf.size() >= BATCH:
            self._flush()

    def _flush(self) -> None:
        conn = self._conn
        self._findings.classify_new()
        buf = self._buf
        self._key_table.close(conn, buf.key_closes, self._scan_id)
        self._finding_table.close(conn, buf.finding_closes, self._scan_id)
        self._key_table.insert(conn, buf.key_inserts)
        self._finding_table.insert(conn, buf.finding_inserts)
        self._usage_table.close(conn, buf.usage_closes, self._scan_id)
        self._usage_table.insert(conn, buf.usage_inserts)
        self._transition_table.insert(conn, buf.transitions)
        self.rows_written += buf.size()
        buf.clear()

    def finish(self, stats: ScanStats) -> None:
        """Close what this scan did not see, then mark the scan succeeded."""
        if self._since is not None:
            self.missed += len(self._keys)
        for name, gone in self._keys.items():
            self._buf.key_closes.append(gone.id)
            if gone.usage_id is not None:
                self._buf.usage_closes.append(gone.usage_id)
            self._buf.transition("status_changed", name, from_value=gone.status, to_value=None)
        self._buf.usage_closes.extend(self._orphan_usage)
        self._keys.clear()
        self._findings.finish()
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
                counts={
                    "by_status": stats.by_status,
                    "by_severity": stats.by_severity,
                    # Changes since the last full scan that no feed scan recorded.
                    **({"feed": {"missed": self.missed}} if self._since is not None else {}),
                },
                notes=stats.notes,
            )
        )
