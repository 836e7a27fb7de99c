"""The hash chain over history: each successful scan stores a SHA-256 over
what it wrote (its scan row, the intervals it opened and closed, its
transitions and key events) and, since schema 0018, over the chain's origin
and the rows it covers (store.chain_cover), chained to the previous scan's.
The same function computes it when the scan is written and when `keysentry
verify` reads it back, so the two can only differ if the rows did."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import cast

from sqlalchemy import Connection, Engine, Table, select, update

from scanner.store.chain_cover import (
    Origin,
    begin_if_first,
    claim,
    covered_lines,
    read_origin,
    stray_covers,
    uncovered,
)
from scanner.store.chain_rows import canonical, lines
from scanner.store.configs import document_digest
from scanner.store.queries import FULL
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
        select(*(getattr(Scan, f) for f in _SCAN_FIELDS), Scan.kind, Scan.chain_origin).where(
            Scan.id == scan_id
        )
    ).one()
    h.update(b"scan\n" + canonical(scan[:-2]) + b"\n")
    if scan[-2] != FULL:  # a kind other than the one every scan had before 0023
        h.update(b"kind\n" + canonical([scan[-2]]) + b"\n")
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
    origin = scan[-1]
    if origin is not None:  # sealed since schema 0018
        for line in covered_lines(conn, scan_id, origin):
            h.update(line)
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
    claim(conn, scan_id)
    head = link(_previous_head(conn, scan_id), scan_digest(conn, scan_id))
    conn.execute(update(Scan).where(Scan.id == scan_id).values(chain_hash=head))
    begin_if_first(conn, scan_id, head)
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
    origin: Origin | None = None
    uncovered: int = 0  # rows written since the last scan sealed, covered by the next


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
    return stray_covers(conn, good)


class _Broken(Exception):
    def __init__(self, scan_id: int, problem: str) -> None:
        super().__init__(problem)
        self.scan_id = scan_id
        self.problem = problem


def verify(engine: Engine) -> Verification:
    """Recompute every chained scan's hash, oldest first; stop at the first break."""
    result = Verification()
    with engine.connect() as conn:
        try:
            _verify(conn, result)
        except _Broken as broken:
            result.broken_at, result.problem = broken.scan_id, broken.problem
            return result
        stray = _stray_rows(conn, set(result.heads) | set(result.unchained))
        if stray is not None:
            result.broken_at, result.problem = stray
        result.uncovered = uncovered(conn)
    return result


def _verify(conn: Connection, result: Verification) -> None:
    origin = result.origin = read_origin(conn)
    scans = conn.execute(
        select(Scan.id, Scan.chain_hash, Scan.config_digest, Scan.chain_origin)
        .where(Scan.status == "succeeded")
        .order_by(Scan.id)
    ).all()
    if origin is None:
        raise _Broken(scans[0].id if scans else 0, "the record of where the chain began is gone")
    previous: str | None = None
    origin_seen = False  # a scan sealed since schema 0018: every later one is too
    for s in scans:
        if s.chain_hash is None:
            if s.chain_origin is not None:
                raise _Broken(
                    s.id, "it was sealed (it carries the chain's origin) but its hash is gone"
                )
            if previous is None and s.id <= origin.unchained_through:
                result.unchained.append(s.id)
                continue
            raise _Broken(s.id, _missing_hash(origin, s.id))
        if previous is None and (s.id, s.chain_hash) != (origin.first_scan_id, origin.first_hash):
            raise _Broken(
                s.id,
                f"the chain began at scan {origin.first_scan_id}, not at this scan"
                if origin.first_scan_id is not None
                else "no chained scan is recorded where the chain began",
            )
        if s.chain_origin is not None and s.chain_origin != origin.text_for(s.id):
            raise _Broken(s.id, "it names another origin of the chain than the one recorded")
        if s.chain_origin is None and origin_seen:
            raise _Broken(s.id, "its chain entry lacks the origin the scans before it carry")
        origin_seen = origin_seen or s.chain_origin is not None
        expected = link(previous or GENESIS, scan_digest(conn, s.id))
        result.scans_checked += 1
        if expected != s.chain_hash:
            raise _Broken(s.id, "its rows no longer match the hash it stored")
        problem = _config_problem(conn, s.config_digest)
        if problem:
            raise _Broken(s.id, problem)
        previous = s.chain_hash
        result.heads[s.id] = s.chain_hash
        result.head, result.head_scan = s.chain_hash, s.id


def _missing_hash(origin: Origin, scan_id: int) -> str:
    if origin.unchained_through == 0:
        return "its chain hash is missing, and this database has chained every scan"
    return (
        f"its chain hash is missing; only scans up to {origin.unchained_through} predate the chain"
    )


def _config_problem(conn: Connection, digest: str | None) -> str | None:
    if digest is None:
        return None
    document = conn.scalar(select(ScanConfig.document).where(ScanConfig.digest == digest))
    if document is None:
        return f"the configuration it names ({digest[:12]}) is missing"
    if document_digest(document) != digest:
        return f"the configuration it names ({digest[:12]}) was changed"
    return None
