"""The scan row: written first as 'running', then marked succeeded (by the
history writer, in the same transaction as the scan's history) or failed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, func, insert, select, update

from scanner import __version__
from scanner.core.secrets import scrub
from scanner.store.queries import FULL
from scanner.store.tables import FindingVersion, KeyVersion, Scan


def begin_scan(engine: Engine, source: str, scope: str | None, evaluated_at: datetime) -> int:
    with engine.begin() as conn:
        return insert_scan(conn, source, scope, evaluated_at)


def insert_scan(
    conn: Connection, source: str, scope: str | None, evaluated_at: datetime, kind: str = FULL
) -> int:
    """The 'running' scan row, in the caller's transaction."""
    result = conn.execute(
        insert(Scan)
        .values(
            kind=kind,
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


def set_whole_counts(conn: Connection, scan_id: int) -> None:
    """Scan SCAN_ID's totals as those of everything open after it (a feed
    scan, which judged a few keys, then stands for the whole inventory as a
    full scan does): keys by status, findings not accepted by severity."""
    kv, fv = KeyVersion, FindingVersion
    by_status = dict(
        conn.execute(
            select(kv.status, func.count()).where(kv.valid_to_scan_id.is_(None)).group_by(kv.status)
        ).all()
    )
    by_severity = dict(
        conn.execute(
            select(fv.severity, func.count())
            .where(fv.valid_to_scan_id.is_(None), fv.accepted_by.is_(None))
            .group_by(fv.severity)
        ).all()
    )
    counts = dict(conn.scalar(select(Scan.counts).where(Scan.id == scan_id)) or {})
    counts |= {"by_status": by_status, "by_severity": by_severity}
    conn.execute(
        update(Scan)
        .where(Scan.id == scan_id)
        .values(
            keys_total=sum(by_status.values()),
            findings_open=sum(by_severity.values()),
            counts=counts,
        )
    )


def set_config(conn: Connection, scan_id: int, digest: str) -> None:
    conn.execute(update(Scan).where(Scan.id == scan_id).values(config_digest=digest))


@dataclass(frozen=True)
class Peak:
    count: int
    scan_id: int
    why: str  # which scan this is, for a message


@dataclass(frozen=True)
class ShrinkBaseline:
    """The largest inventory of the recent succeeded scans: what a scan's
    inventory is compared with (scan_guards)."""

    keys: Peak | None
    projects: Peak | None


def shrink_baseline(conn: Connection, at: datetime, window: float) -> ShrinkBaseline:
    """The most keys and projects a succeeded scan saw within WINDOW seconds
    before AT, since the last scan that accepted a shrink (which starts the
    comparison over)."""
    accepted = Scan.counts["inventory"]["shrink_accepted"].as_boolean()
    reset = conn.scalar(
        select(func.max(Scan.id)).where(Scan.status == "succeeded", accepted.is_(True))
    )
    recent = [
        Scan.status == "succeeded",
        Scan.kind == FULL,
        Scan.evaluated_at >= at - timedelta(seconds=window),
        Scan.id >= (reset or 0),
    ]
    why = f"the most of the {_days(window)} before"
    projects = Scan.counts["inventory"]["projects"].as_integer()
    peaks = []
    for measure in (Scan.keys_total, projects):
        row = conn.execute(
            select(measure, Scan.id)
            .where(*recent, measure.is_not(None))
            .order_by(measure.desc(), Scan.id.desc())
            .limit(1)
        ).first()
        peaks.append(None if row is None else Peak(int(row[0]), int(row[1]), why))
    return ShrinkBaseline(*peaks)


def _days(seconds: float) -> str:
    days = seconds / 86400
    return f"{days:g} days" if days != 1 else "day"
