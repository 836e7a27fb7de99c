"""What changed in a window of scans: every transition, every change to a
key, every key event, with the scan, the reason and the actor where the
audit log names one. Rows stream in scan order."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, select
from sqlalchemy.orm import aliased

from scanner.report.key_history import VERSION_FIELDS
from scanner.store.tables import KeyEventRow, KeyVersion, Scan, Transition

COLUMNS = (
    "scan",
    "at",
    "kind",
    "key",
    "project",
    "rule",
    "from",
    "to",
    "reason",
    "actor",
)
_STREAM = 2000


def scans_between(conn: Connection, since: datetime, until: datetime) -> list[Any]:
    """Successful scans evaluated in [SINCE, UNTIL], oldest first."""
    return list(
        conn.execute(
            select(Scan.id, Scan.evaluated_at)
            .where(
                Scan.status == "succeeded", Scan.evaluated_at >= since, Scan.evaluated_at <= until
            )
            .order_by(Scan.id)
        )
    )


def _actors(conn: Connection, scan_id: int) -> dict[str, str]:
    """Per key, who made the last change the scan's audit events show."""
    e = KeyEventRow
    rows = conn.execute(
        select(e.key_name, e.principal)
        .where(e.scan_id == scan_id, e.principal.is_not(None))
        .order_by(e.at, e.id)
    )
    return {name: principal for name, principal in rows if principal}


def _project(name: str) -> str:
    parts = name.split("/")
    return parts[1] if len(parts) > 1 else name


def _transitions(conn: Connection, scan: Any, actors: dict[str, str]) -> Iterator[dict[str, Any]]:
    t = Transition
    query = (
        select(t.kind, t.key_name, t.rule_id, t.from_value, t.to_value, t.reason, t.exception_id)
        .where(t.scan_id == scan.id)
        .order_by(t.id)
    )
    # A first scan has hundreds of thousands: unpacked, not Row attribute access.
    rows = conn.execute(query.execution_options(yield_per=_STREAM))
    for stored_kind, key_name, rule_id, from_value, to_value, stored_reason, exception in rows:
        kind, reason = stored_kind, stored_reason
        if exception is not None:
            reason = _with_exception(kind, reason, exception)
        if kind == "status_changed" and to_value is None:
            kind = "left_inventory"
        elif kind == "status_changed" and from_value is None:
            kind = "key_added"
        yield {
            "scan": scan.id,
            "at": scan.evaluated_at,
            "kind": kind,
            "key": key_name,
            "project": _project(key_name),
            "rule": rule_id,
            "from": from_value,
            "to": to_value,
            "reason": reason,
            "actor": actors.get(key_name) if kind != "opened" else None,
        }


def _with_exception(kind: str, reason: str | None, exception: str) -> str:
    if kind in ("accepted", "acceptance_expired", "acceptance_revoked"):
        return f"exception {exception}"
    return (f"{reason}; " if reason else "") + f"accepted by exception {exception}"


def _key_changes(conn: Connection, scan: Any, actors: dict[str, str]) -> Iterator[dict[str, Any]]:
    """Versions this scan opened over an earlier one that differ in more than the verdict."""
    new, old = aliased(KeyVersion), aliased(KeyVersion)
    columns = [
        new.key_name,
        new.project_id,
        new.project_number,
        *(getattr(new, f).label(f"new_{f}") for f in VERSION_FIELDS),
        *(getattr(old, f).label(f"old_{f}") for f in VERSION_FIELDS),
    ]
    query = (
        select(*columns)
        # "+ 0": by the closing scan alone SQLite would pair every version this
        # scan opened with every one it closed; by name it is one lookup each.
        .join(old, and_(old.key_name == new.key_name, old.valid_to_scan_id + 0 == scan.id))
        .where(new.valid_from_scan_id == scan.id)
        .order_by(new.id)
    )
    for row in conn.execute(query.execution_options(yield_per=_STREAM)):
        values = row._mapping
        changed = [f for f in VERSION_FIELDS if values[f"new_{f}"] != values[f"old_{f}"]]
        if not changed:
            continue
        yield {
            "scan": scan.id,
            "at": scan.evaluated_at,
            "kind": "key_changed",
            "key": row.key_name,
            "project": row.project_id or row.project_number,
            "rule": None,
            "from": {f: values[f"old_{f}"] for f in changed},
            "to": {f: values[f"new_{f}"] for f in changed},
            "reason": ", ".join(changed),
            "actor": actors.get(row.key_name),
        }


def _events(conn: Connection, scan: Any) -> Iterator[dict[str, Any]]:
    e = KeyEventRow
    query = select(e).where(e.scan_id == scan.id).order_by(e.at, e.id)
    for row in conn.execute(query):
        yield {
            "scan": scan.id,
            "at": row.at,
            "kind": f"event:{row.method}",
            "key": row.key_name,
            "project": _project(row.key_name),
            "rule": None,
            "from": None,
            "to": "unrestricted" if row.restrictions_removed else None,
            "reason": None,
            "actor": row.principal,
        }


def changes(conn: Connection, since: datetime, until: datetime) -> Iterator[dict[str, Any]]:
    for scan in scans_between(conn, since, until):
        actors = _actors(conn, scan.id)
        yield from _events(conn, scan)
        yield from _key_changes(conn, scan, actors)
        yield from _transitions(conn, scan, actors)
