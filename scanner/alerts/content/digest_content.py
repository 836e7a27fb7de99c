"""What one recipient's digest shows, gathered a key at a time: the LIMIT
most urgent keys (those with a finding new or worse since the last digest
first) and counts over all of them. It holds at most twice LIMIT keys, so a
digest of a million keys costs what one of a few hundred does."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any, Protocol

from scanner.alerts.content.why import Audience
from scanner.alerts.facts import FindingFacts, KeyFacts, Target
from scanner.config.alerts import AlertsConfig
from scanner.core.models import KeyStatus

# By the stored value: KeyStatus(value) costs more than the rest of an order.
_STATUS_RANK = {status.value: status.rank for status in KeyStatus}


def urgency_order(key: KeyFacts, findings: Iterable[FindingFacts]) -> tuple[Any, ...]:
    """Blocked and in use first, then by the nearest deadline, then by score."""
    nearest = min((f.deadline for f in findings if f.deadline), default=None)
    idle = not (key.requests_7d or 0)
    return (_STATUS_RANK[key.status], idle, str(nearest or "9999"), -key.score, key.name)


def urgency_text(order: tuple[Any, ...]) -> str:
    """urgency_order but the key's name, as digits that sort the same way in
    any collation: the store orders by it, then by name."""
    rank, idle, nearest, minus_score = order[:4]
    day = "99999999" if nearest == "9999" else nearest.replace("-", "")
    return f"{rank:02d}{int(idle)}{day}{10**9 + minus_score:010d}"


class Content(Protocol):
    """What a digest or an overview shows: DigestContent, gathered a key at
    a time (previews), or scanner.alerts.plan.stored_digest's, read from digest lines."""

    total: int
    fresh: int
    by_status: Counter[str]
    audience: Audience

    def top(self) -> list[tuple[KeyFacts, list[FindingFacts], bool]]: ...

    @property
    def omitted(self) -> int: ...


Entry = tuple[tuple[Any, ...], KeyFacts, list[FindingFacts], bool]


class DigestContent:
    def __init__(
        self, config: AlertsConfig, target: Target, limit: int, changed: frozenset[str]
    ) -> None:
        self.target = target
        self.limit = limit
        self.changed = changed
        self.audience = Audience(config, target)
        self.total = 0
        self.fresh = 0  # keys with a finding in CHANGED
        self.by_status: Counter[str] = Counter()
        self._kept: list[Entry] = []
        self._last: tuple[Any, ...] | None = None  # the order of the last key kept at a trim

    def add(
        self, key: KeyFacts, findings: list[FindingFacts], order: tuple[Any, ...] | None = None
    ) -> None:
        """KEY with its open FINDINGS this target hears about (a key once);
        ORDER is urgency_order(KEY, FINDINGS) when the caller has it."""
        fresh = bool(self.changed) and any(f.fingerprint in self.changed for f in findings)
        self.total += 1
        self.fresh += fresh
        self.by_status[key.status] += 1
        self.audience.add(key)
        # The order is total (it ends with the key's name): the same keys come
        # out first whatever order they arrive in.
        entry = (not fresh, *(order or urgency_order(key, findings)))
        if self._last is not None and entry > self._last:
            return  # behind every key kept: it could only be trimmed again
        self._kept.append((entry, key, findings, fresh))
        if len(self._kept) >= 2 * self.limit:
            self._trim()

    def _trim(self) -> None:
        self._kept.sort(key=lambda entry: entry[0])
        del self._kept[self.limit :]
        if len(self._kept) == self.limit:
            self._last = self._kept[-1][0]

    def top(self) -> list[tuple[KeyFacts, list[FindingFacts], bool]]:
        """The LIMIT most urgent keys, most urgent first: (key, findings, fresh)."""
        self._trim()
        return [(key, findings, fresh) for _, key, findings, fresh in self._kept]

    @property
    def held(self) -> int:
        """Keys in memory now."""
        return len(self._kept)

    @property
    def omitted(self) -> int:
        return max(0, self.total - self.limit)
