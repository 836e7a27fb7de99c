"""Reminders that an exception is about to lapse: at each of its configured
days before the expiry (exceptions.remind_days), one per finding it accepts,
to whoever the routes send that key's news to. The exceptions are read from
the scan's rules in force, so the reminder says what the scan was judged under."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Connection, select

from alerts.events import Event
from alerts.facts import accepted_findings
from scanner.store.configs import config_document
from scanner.store.tables import Scan

KIND = "exception_expiring"


def _due(
    entry: dict[str, Any], days: list[int], at: datetime, since: datetime | None
) -> int | None:
    """The reminder point (days before the expiry) crossed since SINCE, if any."""
    expires = date.fromisoformat(entry["expires"])
    midnight = datetime.combine(expires, time(0), UTC)
    if at >= midnight:
        return None  # lapsed: the scan's transitions say so
    crossed = None
    for before in sorted(days, reverse=True):
        point = midnight - timedelta(days=before)
        if point <= at and (since is None or point > since):
            crossed = before
    return crossed


def exception_reminders(
    conn: Connection, scan_id: int, at: datetime, since: datetime | None
) -> list[Event]:
    digest = conn.scalar(select(Scan.config_digest).where(Scan.id == scan_id))
    section = (config_document(conn, digest) or {}).get("exceptions") or {}
    days = list(section.get("remind_days") or [])
    due: dict[str, tuple[int, str]] = {}
    for entry in section.get("entries") or []:
        before = _due(entry, days, at, since)
        if before is not None:
            due[entry["id"]] = (before, entry["expires"])
    if not due:
        return []
    events = []
    for key, finding, exception in accepted_findings(conn, scan_id, set(due)):
        before, expires = due[exception]
        left = (date.fromisoformat(expires) - at.date()).days
        detail = (
            f"exception {exception} lapses on {expires} (in {left} days): renew it with a new "
            "approval, or fix the key before the finding counts again"
        )
        identity = f"x:{exception}:{expires}:-{before}:{finding.fingerprint}"
        events.append(Event(KIND, key, finding, detail, identity))
    return events
