"""The words messages use for counts, dates and deadlines: plural forms,
dates in the configured time zone, and deadlines worded by their kind (a
date Google enforces, one it announced, the organization's own policy)."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo


def plural(n: int, word: str, many: str | None = None) -> str:
    return f"{n:,} {word if n == 1 else (many or word + 's')}"


def human_date(day: date | str) -> str:
    value = date.fromisoformat(day) if isinstance(day, str) else day
    return f"{value.day} {value:%b %Y}"


def human_time(instant: datetime | str, zone: str) -> str:
    value = datetime.fromisoformat(instant) if isinstance(instant, str) else instant
    local = value.astimezone(ZoneInfo(zone))
    return f"{human_date(local.date())}, {local:%H:%M} {local.tzname()}"


def in_days(days: int) -> str:
    if days == 0:
        return "today"
    if days > 0:
        return "tomorrow" if days == 1 else f"in {days:,} days"
    return "yesterday" if days == -1 else f"{-days:,} days ago"


def deadline_phrase(deadline: str | None, kind: str | None, days_left: int | None) -> str:
    """What a finding's deadline means for its key, in words."""
    if deadline is None or days_left is None:
        return "no deadline"
    when = human_date(deadline)
    if kind == "announced":  # Google has not confirmed it: say so, and that it passed
        if days_left > 0:
            return f"announced for {when} ({in_days(days_left)})"
        late = "today" if days_left == 0 else plural(-days_left, "day") + " ago"
        return f"past the announced date of {when} ({late}), not confirmed by Google"
    if kind == "enforced":
        if days_left > 0:
            return f"rejected from {when} ({in_days(days_left)})"
        return f"rejected since {when}"
    if days_left > 0:
        return f"due {when} ({in_days(days_left)})"
    if days_left == 0:
        return f"due today, {when}"
    return f"overdue since {when} ({plural(-days_left, 'day')})"


def usage_phrase(last_used: str | None, requests_7d: int | None, at: datetime) -> str:
    """Whether the key is in use: decides "outage now" against "safe to delete"."""
    if requests_7d is None:
        return "usage not read"
    if requests_7d > 0:
        return f"in use: {plural(requests_7d, 'request')} in 7 days"
    if last_used is None:
        return "no requests seen"
    last = datetime.fromisoformat(last_used).date()
    return f"unused for 7 days; last used {human_date(last)} ({in_days((last - at.date()).days)})"
