"""Instants and dates given on the command line."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta

from scanner.core.errors import ConfigError


def parse_now(value: str | None) -> datetime:
    """--now: the instant given (a date, today, yesterday, 7d or ISO 8601), or now."""
    if value is None:
        return datetime.now(UTC)
    return parse_instant(value, "--now")


_DAYS_AGO = re.compile(r"(\d{1,5})d")


def parse_instant(
    value: str, option: str, *, end_of_day: bool = False, now: datetime | None = None
) -> datetime:
    """An ISO 8601 instant, or a day: a date, `today`, `yesterday` or `Nd`
    (N days before today). A day is its start, or with END_OF_DAY its last
    instant (so that `--until 2026-10-01` includes that day)."""
    text = value.strip()
    today = (now or datetime.now(UTC)).astimezone(UTC).date()
    relative = _DAYS_AGO.fullmatch(text)
    if text == "today":
        day: date | None = today
    elif text == "yesterday":
        day = today - timedelta(days=1)
    elif relative is not None:
        day = today - timedelta(days=int(relative.group(1)))
    else:
        try:
            day = date.fromisoformat(text)
        except ValueError:
            day = None
    if day is not None:
        start = datetime.combine(day, time(), tzinfo=UTC)
        return start + timedelta(days=1, microseconds=-1) if end_of_day else start
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(
            f"{option}: not a date (2026-10-01, today, yesterday, 7d) or ISO 8601 instant: "
            f"{value!r}"
        ) from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
