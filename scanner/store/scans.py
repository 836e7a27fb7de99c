"""The scan row: written first as 'running', then marked succeeded (by the
history writer, in the same transaction as the scan's history) or failed."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, insert, select, update

from scanner import __version__
from scanner.leaks.secrets import scrub
from scanner.store.tables import Scan


def begin_scan(engine: Engine, source: str, scope: str | None, evaluated_at: datetime) -> int:
    with engine.begin() as conn:
        return insert_scan(conn, source, scope, evaluated_at)


def insert_scan(conn: Connection, source: str, scope: str | None, evaluated_at: datetime) -> int:
    """The 'running' scan row, in the caller's transaction."""
    result = conn.execute(
        insert(Scan)
        .values(
            started_at=datetime.now(UTC),
            status="running",
            source=source,
            scope=scope,
            evaluated_at=evaluated_at,
            assets_read=0,
            keys_total=0,
            findings_open=0,
            rows_written=0,
            counts={},
            notes=[],
            version=__version__,
        )
        .returning(Scan.id)
    )
    return int(result.scalar_one())


def fail_scan(engine: Engine, scan_id: int, error: str, stage: str, assets_read: int) -> None:
    with engine.begin() as conn:
        conn.execute(
            update(Scan)
            .where(Scan.id == scan_id)
            .values(
                status="failed",
                finished_at=datetime.now(UTC),
                # The error may quote its input, and input may hold a key string.
                error=scrub(error)[:4000],
                error_stage=stage,
                assets_read=assets_read,
            )
        )


def fail_abandoned(engine: Engine) -> list[int]:
    """Mark failed the scans still 'running' whose process died. Call only
    while holding the scan lock: then no other scan can be running."""
    with engine.begin() as conn:
        ids = list(conn.scalars(select(Scan.id).where(Scan.status == "running")))
        if ids:
            conn.execute(
                update(Scan)
                .where(Scan.id.in_(ids))
                .values(
                    status="failed",
                    finished_at=datetime.now(UTC),
                    error="abandoned: the process running this scan stopped before it finished",
                    error_stage="abandoned",
                )
            )
    return ids


def set_scope(engine: Engine, scan_id: int, scope: str | None) -> None:
    with engine.begin() as conn:
        conn.execute(update(Scan).where(Scan.id == scan_id).values(scope=scope))


def add_counts(conn: Connection, scan_id: int, name: str, value: dict[str, Any]) -> None:
    """Add NAME to the scan's counts, inside the caller's transaction."""
    counts = dict(conn.scalar(select(Scan.counts).where(Scan.id == scan_id)) or {})
    counts[name] = value
    conn.execute(update(Scan).where(Scan.id == scan_id).values(counts=counts))


def set_config(conn: Connection, scan_id: int, digest: str) -> None:
    conn.execute(update(Scan).where(Scan.id == scan_id).values(config_digest=digest))
