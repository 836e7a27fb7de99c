"""What was fixed in a window: every finding that closed in it, with when it
had opened, how long it stayed open, why it closed and who changed the key
(where the audit log names them). Read from the finding intervals the
remediation statistics count, so that the two always agree."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from scanner.report.remediation import intervals
from scanner.store.change_rows import scan_actors
from scanner.store.finding_spans import scans_through
from scanner.store.key_records import key_labels

COLUMNS = (
    "resolved_at",
    "scan",
    "key",
    "display_name",
    "project",
    "owners",
    "rule",
    "opened_at",
    "days_open",
    "reason",
    "by",
)


def fixed_in_window(conn: Connection, since: datetime, until: datetime) -> list[dict[str, Any]]:
    """Each finding interval that closed in [SINCE, UNTIL], oldest first."""
    scans = scans_through(conn, until)
    if not scans:
        return []
    # A finding an exception accepted when it was first seen was never open:
    # the exceptions section shows it, not this list.
    closed = [
        (i, i.resolved_at)
        for i in intervals(conn, scans[-1].id)
        if i.resolved_at is not None
        and since <= i.resolved_at <= until
        and i.resolved_scan != i.opened_scan
    ]
    labels = key_labels(conn, (i.key for i, _ in closed))
    actors: dict[int, dict[str, str]] = {}
    rows = []
    for i, resolved_at in closed:
        scan = i.resolved_scan or 0
        if scan not in actors:
            actors[scan] = scan_actors(conn, scan)
        project, display, owners = labels.get(i.key, ("", "", []))
        rows.append(
            {
                "resolved_at": resolved_at,
                "scan": scan,
                "key": i.key,
                "display_name": display,
                "project": project,
                "owners": owners,
                "rule": i.rule,
                "opened_at": i.opened_at,
                "days_open": round((resolved_at - i.opened_at).total_seconds() / 86400, 1),
                "reason": i.reason or "unknown",
                "by": actors[scan].get(i.key),
            }
        )
    rows.sort(key=lambda r: (r["resolved_at"], r["project"], r["display_name"], r["rule"]))
    return rows
