"""Dates and instants as people read them: a whole day as its date, an
instant to the minute in UTC, never microseconds or a "T"."""

from __future__ import annotations

from datetime import UTC, date, datetime, time


def human(value: date | datetime | None) -> str:
    if value is None:
        return ""
    if not isinstance(value, datetime):
        return value.isoformat()
    at = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    if at.time() in (time(0, 0), time(23, 59, 59, 999999)):
        return at.date().isoformat()  # a window's day bounds: the day itself
    return f"{at:%Y-%m-%d %H:%M} UTC"
