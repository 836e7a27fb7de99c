"""What changed in a window of scans: every transition, every change to a
key, every key event, with the scan, the reason and the actor where the
audit log names one. Rows stream in scan order."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from scanner.report.key_history import VERSION_FIELDS
from scanner.store.change_rows import (
    event_rows,
    scan_actors,
    transition_rows,
    version_pairs,
)
from scanner.store.window import window_scans

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


def _project(name: str) -> str:
    parts = name.split("/")
    return parts[1] if len(parts) > 1 else name


def _transitions(conn: Connection, scan: Any, actors: dict[str, str]) -> Iterator[dict[str, Any]]:
    # A first scan has hundreds of thousands: unpacked, not Row attribute access.
    rows = transition_rows(conn, scan.id)
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
    for key, project, old, new in version_pairs(conn, scan.id, VERSION_FIELDS):
        changed = [f for f in VERSION_FIELDS if new[f] != old[f]]
        if not changed:
            continue
        yield {
            "scan": scan.id,
            "at": scan.evaluated_at,
            "kind": "key_changed",
            "key": key,
            "project": project,
            "rule": None,
            "from": {f: old[f] for f in changed},
            "to": {f: new[f] for f in changed},
            "reason": ", ".join(changed),
            "actor": actors.get(key),
        }


def _events(conn: Connection, scan: Any) -> Iterator[dict[str, Any]]:
    for row in event_rows(conn, scan.id):
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
    for scan in window_scans(conn, since, until):
        actors = scan_actors(conn, scan.id)
        yield from _events(conn, scan)
        yield from _key_changes(conn, scan, actors)
        yield from _transitions(conn, scan, actors)
