"""Turns daily request counts into each key's usage, whatever read them
(Cloud Monitoring, or a saved timeSeries file)."""

from __future__ import annotations

import math
import sys
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from statistics import median

from scanner.core.key_views import KeyIdent
from scanner.core.models import KeyUsage, ServiceUse
from scanner.core.secrets import GOOGLE_PREFIXES
from scanner.inputs.fields import service_name

KEY_PREFIX = "apikey:"
# Public test code labels series with the key's string (`apikey:AIza...`): such
# a series is counted as unmatched under this name, and the string dropped
# here, before anything can keep it.
KEY_STRING_SERIES = "\x00a key string"
BASELINE_DAYS = 28  # key-usage-anomaly compares the last day with these before it
_DAY = 86400.0


@dataclass(slots=True)
class _Tally:
    last_used: datetime | None = None
    requests_7d: int = 0
    requests_30d: int = 0
    gemini_7d: int = 0
    gemini_rejected_7d: int = 0
    requests_1d: int = 0
    daily: list[int] | None = None  # the BASELINE_DAYS days before the last one
    services: dict[str, _ServiceTally] = field(default_factory=dict)


@dataclass(slots=True)
class _ServiceTally:
    first: datetime
    last: datetime
    requests: int = 0
    by_class: Counter[str] = field(default_factory=Counter)

    def add(self, when: datetime, count: int, code_class: str) -> None:
        self.first, self.last = min(self.first, when), max(self.last, when)
        self.requests += count
        self.by_class[code_class or "unknown"] += count

    def merge(self, other: _ServiceTally) -> None:
        self.first, self.last = min(self.first, other.first), max(self.last, other.last)
        self.requests += other.requests
        self.by_class.update(other.by_class)


@dataclass
class ProjectUsage:
    """One project's series. A key counts as unused only when some series of
    the project carried a credential (the label is known to be filled in)."""

    at: datetime
    gemini_services: frozenset[str]
    lookback_days: int
    has_credentials: bool = False
    oldest: datetime | None = None  # the oldest point of any series: how far the data reaches
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
        points = list(points)
        for when, _ in points:
            if self.oldest is None or when < self.oldest:
                self.oldest = when
        if not credential:
            return
        self.has_credentials = True
        if not credential.startswith(KEY_PREFIX):
            return  # OAuth clients and service accounts are not keys
        ident = credential[len(KEY_PREFIX) :]
        if ident.startswith(GOOGLE_PREFIXES):  # no key id or uid starts so
            self.series[KEY_STRING_SERIES] += 1
            return
        self.series[ident] += 1
        tally = self.keys.setdefault(ident, _Tally())
        # One string each: every series repeats them, and tallies keep them.
        service, code_class = sys.intern(service_name(service)), sys.intern(code_class)
        gemini = service in self.gemini_services
        rejected = code_class == "4xx"
        week, month = self.at - timedelta(days=7), self.at - timedelta(days=30)
        window = self.at - timedelta(days=self.lookback_days)
        for when, count in points:
            if count <= 0:
                continue
            if when > window and service:
                used = tally.services.get(service)
                if used is None:
                    used = tally.services[service] = _ServiceTally(when, when)
                used.add(when, count, code_class)
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

    def usage_of(self, key: KeyIdent, lookback_days: int) -> KeyUsage | None:
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
            services=_services(tally),
            covered_days=self._covered_days(lookback_days),
        )

    def _covered_days(self, lookback_days: int) -> int:
        if self.oldest is None:
            return 0
        reach = math.ceil((self.at - self.oldest).total_seconds() / _DAY)
        return max(0, min(lookback_days, reach))


def _services(tally: _Tally) -> tuple[ServiceUse, ...]:
    used = (
        ServiceUse(
            name,
            t.requests,
            tuple(sorted(t.by_class.items())),
            t.first.date(),
            t.last.date(),
        )
        for name, t in tally.services.items()
    )
    return tuple(sorted(used, key=lambda u: (-u.requests, u.service)))


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
        for name, used in t.services.items():
            mine = total.services.get(name)
            if mine is None:
                mine = total.services[name] = _ServiceTally(used.first, used.last)
            mine.merge(used)
    return total
