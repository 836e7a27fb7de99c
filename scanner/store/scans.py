"""The scan row: written first as 'running', then marked succeeded (by the
history writer, in the same transaction as the scan's history) or failed."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Engine, insert, update

from scanner import __version__
from scanner.store.tables import Scan


def begin_scan(engine: Engine, source: str, scope: str | None, evaluated_at: datetime) -> int:
    with engine.begin() as conn:
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


def fail_scan(engine: Engine, scan_id: int, error: str, assets_read: int) -> None:
    with engine.begin() as conn:
        conn.execute(
            update(Scan)
            .where(Scan.id == scan_id)
            .values(
                status="failed",
                finished_at=datetime.now(UTC),
                error=error[:4000],
                assets_read=assets_read,
            )
        )


def set_scope(engine: Engine, scan_id: int, scope: str | None) -> None:
    with engine.begin() as conn:
        conn.execute(update(Scan).where(Scan.id == scan_id).values(scope=scope))
