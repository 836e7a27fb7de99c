"""What changed in a window of scans: every transition, every change to a
key, every key event, with the scan, the reason, the key's owners (as its
latest version names them) and the actor where the audit log names one.
Rows stream in scan order."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from itertools import islice
from typing import Any

from sqlalchemy import Connection

from scanner.report.key_history import VERSION_FIELDS
from scanner.store.change_rows import (
    event_rows,
    scan_actors,
    transition_rows,
    version_pairs,
)
from scanner.store.key_records import key_labels
from scanner.store.window import window_scans

COLUMNS = (
    "scan",
    "at",
    "kind",
    "key",
    "key_id",
    "display_name",
    "project",
    "owners",
    "rule",
    "from",
    "to",
    "reason",
    "actor",
)
# What a terminal shows of a change: the full name, the raw from and to
# are in CSV and JSON.
TABLE_COLUMNS = ("at", "kind", "project", "key", "change", "by")
# What can happen to a finding, as history's transitions name it.
FINDING_KINDS = (
    "opened",
    "reopened",
    "resolved",
    "severity_changed",
    "accepted",
    "acceptance_expired",
    "acceptance_revoked",
)
# The kinds `changes` names; "event" takes every audit event.
KINDS = ("key_added", "left_inventory", "status_changed", "key_changed", *FINDING_KINDS, "event")
_LABEL_BATCH = 2000


@dataclass(frozen=True)
class ChangeFilter:
    """Which changes to show; an empty set lets every value through."""

    keys: frozenset[str] = frozenset()  # full names
    projects: frozenset[str] = frozenset()  # ids or numbers
    kinds: frozenset[str] = frozenset()

    def admits(self, row: dict[str, Any]) -> bool:
        if self.keys and row["key"] not in self.keys:
            return False
        if self.projects and not {row["project"], _project(row["key"])} & self.projects:
            return False
        kind = "event" if row["kind"].startswith("event:") else row["kind"]
        return not self.kinds or kind in self.kinds

    def describe(self) -> str:
        parts = (("key", self.keys), ("project", self.projects), ("kind", self.kinds))
        return "; ".join(f"{label} {', '.join(sorted(v))}" for label, v in parts if v)


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


def event_detail(method: str, restrictions_removed: bool, caller_ip: str | None) -> str:
    """What an audit event did, in words: who did it is said beside it."""
    if method == "GetKeyString":
        return "key string read" + (f" from {caller_ip}" if caller_ip else "")
    return "restrictions removed" if restrictions_removed else ""


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
            "reason": event_detail(row.method, row.restrictions_removed, row.caller_ip) or None,
            "actor": row.principal,
        }


def _labelled(conn: Connection, rows: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """ROWS with the project id, key id and display name of their key, looked
    up a batch at a time: the name carries only the project number."""
    stream = iter(rows)
    while batch := list(islice(stream, _LABEL_BATCH)):
        labels = key_labels(conn, (row["key"] for row in batch))
        for row in batch:
            project, display, owners = labels.get(row["key"], (row["project"], "", []))
            row["project"] = project
            row["key_id"] = row["key"].rsplit("/", 1)[-1]
            row["display_name"] = display
            row["owners"] = owners
            yield row


def changes(
    conn: Connection, since: datetime, until: datetime, only: ChangeFilter | None = None
) -> Iterator[dict[str, Any]]:
    only = only or ChangeFilter()
    for scan in window_scans(conn, since, until):
        actors = scan_actors(conn, scan.id)
        rows: Iterator[dict[str, Any]] = (
            row
            for part in (
                _events(conn, scan),
                _key_changes(conn, scan, actors),
                _transitions(conn, scan, actors),
            )
            for row in part
            if not only.keys or row["key"] in only.keys
        )
        yield from (row for row in _labelled(conn, rows) if only.admits(row))


def table_row(row: dict[str, Any]) -> dict[str, Any]:
    """ROW as a terminal shows it: the key by its display name, the change in words."""
    if row["kind"] == "key_changed":
        change = f"{row['reason']} changed"
    elif row["kind"].startswith("event:"):
        change = row["reason"] or ""
    else:
        moved = " → ".join(str(v) for v in (row["from"], row["to"]) if v is not None)
        change = ": ".join(str(p) for p in (row["rule"], moved) if p)
        if row["reason"]:
            change = f"{change}; {row['reason']}" if change else row["reason"]
    return {
        "at": row["at"],
        "kind": row["kind"],
        "project": row["project"],
        "key": row["display_name"] or row["key_id"],
        "change": change,
        "by": row["actor"],
    }
