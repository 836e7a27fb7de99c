"""When the worker scans: the schedule's configuration, the APScheduler
trigger it makes, and the interval it implies (for the catch-up scan at
start and the readiness age). APScheduler is imported when a trigger is
made: every command reads the configuration, few schedule anything."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from pydantic import field_validator, model_validator

from scanner.config.types import Duration, Strict

if TYPE_CHECKING:
    from apscheduler.triggers.base import BaseTrigger
    from apscheduler.triggers.cron import CronTrigger


class ScheduleConfig(Strict):
    """When the worker scans: a crontab line (UTC) or a fixed interval."""

    cron: str | None = None
    interval: Duration | None = None
    # A random delay added to each run, so that many deployments do not hit the
    # Cloud Asset quota at the same second.
    jitter: Duration = 300.0
    # How late a run may start (after a pause or a long scan) and still run.
    misfire_grace: Duration = 3600.0

    @model_validator(mode="before")
    @classmethod
    def _default_cron(cls, data: object) -> object:
        if isinstance(data, dict) and data.get("cron") is None and data.get("interval") is None:
            return {**data, "cron": "0 */6 * * *"}
        return data

    @model_validator(mode="after")
    def _one_trigger(self) -> ScheduleConfig:
        if self.cron is not None and self.interval is not None:
            raise ValueError("give cron or interval, not both")
        return self

    @field_validator("cron")
    @classmethod
    def _crontab(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                trigger = cron_trigger(value)
            except ValueError as exc:
                raise ValueError(f"not a crontab line: {value!r}: {exc}") from None
            if trigger.get_next_fire_time(None, datetime.now(UTC)) is None:
                raise ValueError(f"the crontab line {value!r} never fires")
        return value

    @field_validator("interval")
    @classmethod
    def _at_least_a_second(cls, value: float | None) -> float | None:
        if value is not None and value < 1:
            raise ValueError("must be at least 1s")
        return value


_WEEKDAY_TERM = re.compile(r"^(\*|\d)(?:-(\d))?(?:/(\d+))?$")
_APS_WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


def _crontab_weekdays(field: str) -> str:
    """Crontab counts weekdays from Sunday (0 or 7); APScheduler 3 from Monday.
    Numbers are rewritten as names, which both read the same way."""
    days: list[str] = []
    for term in field.split(","):
        match = _WEEKDAY_TERM.match(term)
        if match is None:
            days.append(term)  # names, or an error APScheduler will report
            continue
        first, last, step = match.groups()
        start, end = (0, 6) if first == "*" else (int(first), int(last or first))
        if first == "*" and last is not None:
            raise ValueError(f"day of week {term!r}: a range cannot start at *")
        if not 0 <= start <= 7 or not 0 <= end <= 7 or start > end:
            raise ValueError(f"day of week {term!r}: use 0-7 (0 and 7 are Sunday)")
        if first != "*" and last is None and step is not None:
            end = 7
        days.extend(_APS_WEEKDAYS[n % 7] for n in range(start, end + 1, int(step or 1)))
    return ",".join(dict.fromkeys(days))


def cron_trigger(cron: str, jitter: int | None = None) -> CronTrigger:
    from apscheduler.triggers.cron import CronTrigger

    values = cron.split()
    if len(values) != 5:
        raise ValueError(f"expected 5 fields (minute hour day month weekday), got {len(values)}")
    minute, hour, day, month, weekday = values
    return CronTrigger(
        minute=minute,
        hour=hour,
        day=day,
        month=month,
        day_of_week=_crontab_weekdays(weekday) if weekday != "*" else "*",
        timezone=UTC,
        jitter=jitter,
    )


def make_trigger(schedule: ScheduleConfig) -> BaseTrigger:
    from apscheduler.triggers.interval import IntervalTrigger

    jitter = int(schedule.jitter) or None
    if schedule.interval is not None:
        return IntervalTrigger(seconds=schedule.interval, timezone=UTC, jitter=jitter)
    assert schedule.cron is not None
    return cron_trigger(schedule.cron, jitter)


def interval_seconds(schedule: ScheduleConfig, now: datetime | None = None) -> float:
    """The time between two runs; for a cron line, between the next two."""
    if schedule.interval is not None:
        return schedule.interval
    assert schedule.cron is not None
    trigger = cron_trigger(schedule.cron)
    first = trigger.get_next_fire_time(None, now or datetime.now(UTC))
    assert first is not None
    second = trigger.get_next_fire_time(first, first + timedelta(seconds=1))
    assert second is not None
    return float((second - first).total_seconds())
