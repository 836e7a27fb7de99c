"""When a key's judgement can change with nothing but the clock moving.

Two rules read the clock (each says when through its `changes_at`), the status
counts days to each finding's deadline (rules.warn_days before it, the day
itself for an enforced deadline, and the day after it), and exceptions lapse
on their expiry day. Between two instants none
of these falls within, `assess` gives a key with equal inputs the same
findings, status and score (tests/test_clock.py holds it to that)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timedelta

from scanner.config import Config
from scanner.core.key_views import KeyClock
from scanner.rules.base import Rule


def scan_changes(config: Config) -> tuple[date, ...]:
    """The days that can change any key's judgement: the timeline's deadlines,
    the days rules.warn_days before them and the days after them, and the
    expiry of each exception."""
    # The day after a deadline, a finding below medium stops making a key at
    # risk (the default catalog has none past its deadline: kept for any other).
    warn, day = timedelta(days=config.rules.warn_days), timedelta(days=1)
    deadlines = tuple(d for e in config.timeline for d in (e.date - warn, e.date, e.date + day))
    return deadlines + tuple(e.expires for e in config.exceptions.entries)


def key_changes(key: KeyClock, rules: Iterable[Rule], config: Config) -> tuple[date, ...]:
    """The instants and days that can change KEY's judgement by RULES alone."""
    found: tuple[date, ...] = ()
    for rule in rules:
        if rule.changes_at is not None:
            found += rule.changes_at(key, config)
    return found


def unchanged_between(changes: Iterable[date], a: datetime, b: datetime) -> bool:
    """No change falls from A to B (in either order), both ends included: a
    datetime as an instant, a date as the day it begins in A's time zone."""
    low, high = (a, b) if a <= b else (b, a)
    first_day, last_day = low.date(), high.date()
    for change in changes:
        if isinstance(change, datetime):
            if low <= change <= high:
                return False
        elif first_day < change <= last_day:
            return False
    return True
