"""Turns daily request counts into each key's usage, whatever read them
(Cloud Monitoring, or a saved timeSeries file)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from statistics import median

from scanner.inventory.fields import service_name
from scanner.models import KeyUsage

KEY_PREFIX = "apikey:"
BASELINE_DAYS = 28  # key-usage-anomaly compares the last day with these before it
_DAY = 86400.0


@dataclass
class _Tally:
    last_used: datetime | None = None
    requests_7d: int = 0
    requests_30d: int = 0
    gemini_7d: int = 0
    gemini_rejected_7d: int = 0
    requests_1d: int = 0
    daily: list[int] | None = None  # the BASELINE_DAYS days before the last one


@dataclass
class ProjectUsage:
    """One project's series. A key counts as unused only when some series of
    the project carried a credential (the label is known to be filled in)."""

    at: datetime
    gemini_services: frozenset[str]
    has_credentials: bool = False
    keys: dict[str, _Tally] = field(default_factory=dict)  # by key uid

    def add(
        self,
        credential: str,
        service: str,
        code_class: str,
        points: Iterable[tuple[datetime, int]],
    ) -> None:
        if not credential:
            return
        self.has_credentials = True
        if not credential.startswith(KEY_PREFIX):
            return  # OAuth clients and service accounts are not keys
        tally = self.keys.setdefault(credential[len(KEY_PREFIX) :], _Tally())
        gemini = service_name(service) in self.gemini_services
        rejected = code_class == "4xx"
        week, month = self.at - timedelta(days=7), self.at - timedelta(days=30)
        for when, count in points:
            if count <= 0:
                continue
            if tally.last_used is None or when > tally.last_used:
                tally.last_used = when
            if when > month:
                tally.requests_30d += count
            day = int((self.at - when).total_seconds() // _DAY)
            if day == 0:
                tally.requests_1d += count
            elif 0 < day <= BASELINE_DAYS:
                if tally.daily is None:
                    tally.daily = [0] * BASELINE_DAYS
                tally.daily[day - 1] += count
            if when > week:
                tally.requests_7d += count
                if gemini:
                    tally.gemini_7d += count
                    if rejected:
                        tally.gemini_rejected_7d += count

    def usage_of(self, uid: str, lookback_days: int) -> KeyUsage | None:
        tally = self.keys.get(uid)
        if tally is None:
            if not self.has_credentials:
                return None  # this project's series say nothing about keys
            tally = _Tally()
        return KeyUsage(
            last_used=tally.last_used,
            lookback_days=lookback_days,
            requests_7d=tally.requests_7d,
            requests_30d=tally.requests_30d,
            gemini_requests_7d=tally.gemini_7d,
            gemini_rejected_7d=tally.gemini_rejected_7d,
            requests_1d=tally.requests_1d,
            daily_median_28d=(
                float(median(tally.daily or [0] * BASELINE_DAYS))
                if lookback_days > BASELINE_DAYS
                else None
            ),
        )
