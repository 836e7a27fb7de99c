"""What `fix apply` and `fix rollback` changed, kept beside history: each
change on its own row, committed as soon as the API made it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, insert, select

from scanner.core.models import KeyState
from scanner.store.queries import valid_at
from scanner.store.tables import KeyFixRow, KeyVersion, Scan


def record_fix(
    engine: Engine,
    kind: str,
    before: KeyState,
    after: KeyState,
    by: str,
    at: datetime,
    plan_scan_id: int | None,
) -> None:
    with engine.begin() as conn:
        conn.execute(
            insert(KeyFixRow).values(
                key_name=before.name,
                at=at,
                by=by,
                kind=kind,
                plan_scan_id=plan_scan_id,
                before=before.restrictions,
                after=after.restrictions,
                etag_before=before.etag,
                etag_after=after.etag,
            )
        )


def live_keys(
    engine: Engine, scan_id: int, names: list[str]
) -> dict[str, tuple[str | None, str]] | None:
    """Of NAMES, the keys scan SCAN_ID held and not deleted, with their project
    id and number; None when SCAN_ID is no successful scan."""
    kv = KeyVersion
    held: dict[str, tuple[str | None, str]] = {}
    with engine.connect() as conn:
        if conn.scalar(select(Scan.status).where(Scan.id == scan_id)) != "succeeded":
            return None
        for start in range(0, len(names), 500):
            query = select(kv.key_name, kv.project_id, kv.project_number).where(
                kv.key_name.in_(names[start : start + 500]),
                valid_at(kv, scan_id),
                kv.deleted_at.is_(None),
            )
            for row in conn.execute(query):
                held[row.key_name] = (row.project_id, row.project_number)
    return held


def fixes(
    conn: Connection,
    since: datetime | None = None,
    until: datetime | None = None,
    key_name: str | None = None,
) -> list[dict[str, Any]]:
    """The changes made in [SINCE, UNTIL), or to KEY_NAME, oldest first."""
    f = KeyFixRow
    query = select(f.__table__).order_by(f.at, f.id)
    if since is not None:
        query = query.where(f.at >= since)
    if until is not None:
        query = query.where(f.at < until)
    if key_name is not None:
        query = query.where(f.key_name == key_name)
    return [
        {
            "at": row.at,
            "key": row.key_name,
            "kind": row.kind,
            "by": row.by,
            "plan_scan": row.plan_scan_id,
            "before": row.before,
            "after": row.after,
            "etag_before": row.etag_before,
            "etag_after": row.etag_after,
        }
        for row in conn.execute(query)
    ]


FIX_COLUMNS = (
    "at",
    "key",
    "kind",
    "by",
    "plan_scan",
    "targets_before",
    "targets_after",
    "etag_before",
    "etag_after",
)


def _targets(restrictions: dict[str, Any]) -> str:
    return ", ".join(t.get("service", "") for t in restrictions.get("apiTargets") or [])


def fix_rows(found: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Changes as fixes() gives them, with each side's API targets as text."""
    return [
        f | {"targets_before": _targets(f["before"]), "targets_after": _targets(f["after"])}
        for f in found
    ]
