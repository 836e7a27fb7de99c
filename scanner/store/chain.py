"""The hash chain over history: each successful scan stores a SHA-256 over
what it wrote (its scan row, the intervals it opened and closed, its
transitions and key events), chained to the previous scan's. The same
function computes it when the scan is written and when `keysentry verify`
reads it back, so the two can only differ if the rows did."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import cast

from sqlalchemy import Connection, Engine, Table, select, update

from scanner.store.chain_rows import canonical, lines
from scanner.store.configs import document_digest
from scanner.store.tables import (
    FindingVersion,
    KeyEventRow,
    KeyVersion,
    Scan,
    ScanConfig,
    Transition,
    UsageVersion,
)

GENESIS = ""
_INTERVALS = tuple(
    cast(Table, model.__table__) for model in (KeyVersion, FindingVersion, UsageVersion)
)
_EVENTS = tuple(cast(Table, model.__table__) for model in (Transition, KeyEventRow))
_SCAN_FIELDS = (
    "id",
    "started_at",
    "finished_at",
    "status",
    "source",
    "scope",
    "evaluated_at",
    "assets_read",
    "keys_total",
    "findings_open",
    "rows_written",
    "counts",
    "notes",
    "version",
    "config_digest",
)


def scan_digest(conn: Connection, scan_id: int) -> str:
    """SHA-256 over what scan SCAN_ID wrote, in a fixed order."""
    h = hashlib.sha256()
    scan = conn.execute(
        select(*(getattr(Scan, f) for f in _SCAN_FIELDS)).where(Scan.id == scan_id)
    ).one()
    h.update(b"scan\n" + canonical(scan) + b"\n")
    for table in _INTERVALS:
        h.update(f"{table.name} opened\n".encode())
        for line in lines(conn, table, table.c.valid_from_scan_id, scan_id):
            h.update(line + b"\n")
        h.update(f"{table.name} closed\n".encode())
        closed = select(table.c.id).where(table.c.valid_to_scan_id == scan_id)
        for row_id in conn.scalars(closed.order_by(table.c.id)):
            h.update(b"%d\n" % row_id)
    for table in _EVENTS:
        h.update(f"{table.name}\n".encode())
        for line in lines(conn, table, table.c.scan_id, scan_id):
            h.update(line + b"\n")
    configs = select(ScanConfig.digest, ScanConfig.document).where(
        ScanConfig.first_scan_id == scan_id
    )
    for digest, document in conn.execute(configs.order_by(ScanConfig.digest)):
        h.update(b"config\n" + canonical([digest, document]) + b"\n")
    return h.hexdigest()


def link(previous: str, digest: str) -> str:
    return hashlib.sha256(f"{previous}:{digest}".encode()).hexdigest()


def _previous_head(conn: Connection, scan_id: int) -> str:
    previous = conn.scalar(
        select(Scan.chain_hash)
        .where(Scan.status == "succeeded", Scan.id < scan_id)
        .order_by(Scan.id.desc())
        .limit(1)
    )
    return previous or GENESIS


def seal(conn: Connection, scan_id: int) -> str:
    """Store the scan's chain hash; call last in the scan's transaction."""
    head = link(_previous_head(conn, scan_id), scan_digest(conn, scan_id))
    conn.execute(update(Scan).where(Scan.id == scan_id).values(chain_hash=head))
    return head


@dataclass
class Verification:
    scans_checked: int = 0
    unchained: list[int] = field(default_factory=list)  # succeeded before the chain began
    head: str | None = None
    head_scan: int | None = None
    broken_at: int | None = None
    problem: str | None = None
    heads: dict[int, str] = field(default_factory=dict)


def _stray_rows(conn: Connection, good: set[int]) -> tuple[int, str] | None:
    """A history row that names a scan which recorded no history."""
    for table in _INTERVALS:
        for column in (table.c.valid_from_scan_id, table.c.valid_to_scan_id):
            for scan_id in conn.scalars(select(column).where(column.is_not(None)).distinct()):
                if scan_id not in good:
                    return scan_id, f"{table.name} rows name scan {scan_id}, which wrote no history"
    for table in _EVENTS:
        for scan_id in conn.scalars(select(table.c.scan_id).distinct()):
            if scan_id not in good:
                return scan_id, f"{table.name} rows name scan {scan_id}, which wrote no history"
    return None


def verify(engine: Engine) -> Verification:
    """Recompute every chained scan's hash, oldest first; stop at the first break."""
    result = Verification()
    with engine.connect() as conn:
        scans = conn.execute(
            select(Scan.id, Scan.status, Scan.chain_hash, Scan.config_digest).order_by(Scan.id)
        ).all()
        succeeded = [s for s in scans if s.status == "succeeded"]
        previous: str | None = None
        for s in succeeded:
            if s.chain_hash is None:
                if previous is None:
                    result.unchained.append(s.id)
                    continue
                result.broken_at, result.problem = s.id, "its chain hash is missing"
                return result
            expected = link(previous or GENESIS, scan_digest(conn, s.id))
            result.scans_checked += 1
            if expected != s.chain_hash:
                result.broken_at = s.id
                result.problem = "its rows no longer match the hash it stored"
                return result
            problem = _config_problem(conn, s.config_digest)
            if problem:
                result.broken_at, result.problem = s.id, problem
                return result
            previous = s.chain_hash
            result.heads[s.id] = s.chain_hash
            result.head, result.head_scan = s.chain_hash, s.id
        stray = _stray_rows(conn, {s.id for s in succeeded})
        if stray is not None:
            result.broken_at, result.problem = stray
    return result


def _config_problem(conn: Connection, digest: str | None) -> str | None:
    if digest is None:
        return None
    document = conn.scalar(select(ScanConfig.document).where(ScanConfig.digest == digest))
    if document is None:
        return f"the configuration it names ({digest[:12]}) is missing"
    if document_digest(document) != digest:
        return f"the configuration it names ({digest[:12]}) was changed"
    return None
