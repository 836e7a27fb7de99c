"""A scan's deadline reminders: for each open finding no exception accepts,
the reminder whose point was crossed since the previous scan, or the latest
one when the finding is new. The deadlines with a point crossed are found
among the distinct deadlines of open findings first (timeline dates and
rotation days: thousands at most), so that only their keys are read."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Connection

from scanner.alerts.facts import Event
from scanner.alerts.plan.events import reminder_for, reminder_points
from scanner.alerts.store.facts import keys_with_findings
from scanner.alerts.store.moves import open_deadlines
from scanner.alerts.store.open_keys import open_keys
from scanner.config.alerts import RemindersConfig


def reminder_events(
    conn: Connection,
    scan_id: int,
    at: datetime,
    since: datetime,
    new: set[str],
    reminders: RemindersConfig,
) -> list[Event]:
    """The reminders due at AT for findings open at SCAN_ID; SINCE is the
    previous scan's instant, NEW the findings this scan opened."""
    offsets = reminders.offsets_days
    every = timedelta(seconds=reminders.overdue_every)
    cap = timedelta(seconds=reminders.max_overdue)
    crossed = []
    for deadline in open_deadlines(conn, scan_id):
        point = reminder_points(deadline, tuple(offsets), every, at, cap)
        if point is not None and point[1] > since:
            crossed.append(deadline)
    names = keys_with_findings(conn, scan_id, "deadline", crossed)
    names |= keys_with_findings(conn, scan_id, "fingerprint", new)
    events = []
    for key, findings, _ in open_keys(conn, scan_id, names):
        for finding in findings:
            is_new = finding.fingerprint in new
            event = reminder_for(key, finding, at, since, is_new, offsets, every, cap)
            if event is not None:
                events.append(event)
    return events
