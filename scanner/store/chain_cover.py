"""What a scan's chain entry covers besides the history rows it wrote, for
scans sealed since schema 0018: where the chain began (the origin), the
scan's figures, and the rows written outside scans since the scan before it
(failed scans, leak imports and reports, key fixes). Each such row names the
scan that covers it (chain_scan_id), so that a row written while a scan seals
is covered by the next one rather than falling between two.

The origin is the chain's fixed point: the succeeded scans before it predate
the chain (only a database upgraded from before schema 0010 has any), and
every later scan without a hash is a break. Each scan hashes the origin it
knew, and evidence packs cite it, so it cannot be moved without breaking the
scans after it or disagreeing with every pack handed out."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Connection, Table, func, select, update

from scanner.store.chain_rows import canonical, lines
from scanner.store.tables import (
    ChainOrigin,
    FigureRow,
    KeyFixRow,
    LeakImportRow,
    LeakReportRow,
    Scan,
)

# Rows written outside scans, append-only: the next scan to seal covers them.
_SIDE = tuple(cast(Table, model.__table__) for model in (LeakImportRow, LeakReportRow, KeyFixRow))
_SCANS = cast(Table, Scan.__table__)


@dataclass(frozen=True)
class Origin:
    unchained_through: int  # succeeded scans up to this id predate the chain
    first_scan_id: int | None  # the first chained scan, once there is one
    first_hash: str | None

    def text_for(self, scan_id: int) -> str:
        """The origin as scan SCAN_ID hashes it (the first scan cannot know
        its own hash)."""
        if self.first_scan_id is None or self.first_scan_id == scan_id:
            return f"{self.unchained_through} {scan_id} -"
        return f"{self.unchained_through} {self.first_scan_id} {self.first_hash}"

    def as_document(self) -> dict[str, Any]:
        return {
            "unchained_through": self.unchained_through,
            "first_scan": self.first_scan_id,
            "first_hash": self.first_hash,
        }


def read_origin(conn: Connection) -> Origin | None:
    row = conn.execute(
        select(
            ChainOrigin.unchained_through, ChainOrigin.first_scan_id, ChainOrigin.first_hash
        ).where(ChainOrigin.id == 1)
    ).first()
    return None if row is None else Origin(*row)


def claim(conn: Connection, scan_id: int) -> None:
    """Before SCAN_ID is hashed: have it cover the rows no scan covers yet,
    and record the origin it knows on it."""
    for table in _SIDE:
        conn.execute(
            update(table).where(table.c.chain_scan_id.is_(None)).values(chain_scan_id=scan_id)
        )
    conn.execute(
        update(Scan)
        .where(Scan.status == "failed", Scan.chain_scan_id.is_(None), Scan.id < scan_id)
        .values(chain_scan_id=scan_id)
    )
    origin = read_origin(conn)
    if origin is None:
        raise RuntimeError("chain_origin holds no row: the schema was altered")
    conn.execute(
        update(Scan).where(Scan.id == scan_id).values(chain_origin=origin.text_for(scan_id))
    )


def begin_if_first(conn: Connection, scan_id: int, head: str) -> None:
    """Once SCAN_ID is sealed with HEAD: if no scan was chained before, the
    chain begins here."""
    conn.execute(
        update(ChainOrigin)
        .where(ChainOrigin.id == 1, ChainOrigin.first_scan_id.is_(None))
        .values(first_scan_id=scan_id, first_hash=head)
    )


def covered_lines(conn: Connection, scan_id: int, origin: str) -> Iterator[bytes]:
    """The bytes SCAN_ID's digest adds for what it covers, ORIGIN first."""
    yield b"origin\n" + origin.encode() + b"\n"
    figures = conn.scalar(select(FigureRow.document).where(FigureRow.scan_id == scan_id))
    yield b"scan_figures\n" + canonical([figures]) + b"\n"
    covered: list[tuple[str, Table]] = [("failed scans", _SCANS)]
    covered += [(table.name, table) for table in _SIDE]
    for name, table in covered:
        yield f"{name}\n".encode()
        for line in lines(conn, table, table.c.chain_scan_id, scan_id):
            yield line + b"\n"


def stray_covers(conn: Connection, chained: set[int]) -> tuple[int, str] | None:
    """A row that names, as the scan covering it, a scan that covers nothing."""
    for table in (_SCANS, *_SIDE):
        column = table.c.chain_scan_id
        for scan_id in conn.scalars(select(column).where(column.is_not(None)).distinct()):
            if scan_id not in chained:
                return scan_id, f"{table.name} rows name scan {scan_id} as their chain entry"
    return None


def uncovered(conn: Connection) -> int:
    """Rows no chain entry covers yet: written since the last scan sealed."""
    total = 0
    for table in _SIDE:
        query = select(func.count()).where(table.c.chain_scan_id.is_(None))
        total += conn.scalar(query.select_from(table)) or 0
    failed = select(func.count()).where(Scan.status == "failed", Scan.chain_scan_id.is_(None))
    return total + (conn.scalar(failed) or 0)
