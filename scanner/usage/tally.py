"""Turns daily request counts into each key's usage, whatever read them
(Cloud Monitoring, or a saved timeSeries file)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from statistics import median

from scanner.inventory.fields import service_name
from scanner.models import KeyRecord, KeyUsage

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
    # By the credential's id after "apikey:". Google does not document whether
    # that is the key's uid or its key id (the end of its name), which differ
    # when the id was chosen, so a key claims either.
    keys: dict[str, _Tally] = field(default_factory=dict)
    series: Counter[str] = field(default_factory=Counter)  # per credential id
    claimed: set[str] = field(default_factory=set)

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
        ident = credential[len(KEY_PREFIX) :]
        self.series[ident] += 1
        tally = self.keys.setdefault(ident, _Tally())
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

    def unmatched_series(self) -> int:
        """Series of key credentials no key of the inventory claimed."""
        return sum(n for ident, n in self.series.items() if ident not in self.claimed)

    def usage_of(self, key: KeyRecord, lookback_days: int) -> KeyUsage | None:
        key_id = key.name.rsplit("/", 1)[-1]
        idents = [i for i in dict.fromkeys((key.uid, key_id)) if i in self.keys]
        self.claimed.update(idents)  # only ids with series: the set stays as small as keys
        tally = _merged([self.keys[i] for i in idents]) if idents else None
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


def _merged(tallies: list[_Tally]) -> _Tally:
    """One key's series under both of its ids, added up."""
    if len(tallies) == 1:
        return tallies[0]
    total = _Tally()
    for t in tallies:
        if t.last_used is not None and (total.last_used is None or t.last_used > total.last_used):
            total.last_used = t.last_used
        total.requests_7d += t.requests_7d
        total.requests_30d += t.requests_30d
        total.gemini_7d += t.gemini_7d
        total.gemini_rejected_7d += t.gemini_rejected_7d
        total.requests_1d += t.requests_1d
        if t.daily is not None:
            total.daily = [
                a + b for a, b in zip(total.daily or [0] * BASELINE_DAYS, t.daily, strict=True)
            ]
    return total
