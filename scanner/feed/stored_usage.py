"""Usage for a feed scan: the figures the last full scan read from Cloud
Monitoring, as history holds them. A feed scan judges a key with what that
scan knew of its traffic; a key new since then has none until the next."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, select

from scanner.core.key_views import KeyIdent
from scanner.core.models import KeyUsage, ProjectRecord, ServiceUse
from scanner.store.tables import UsageVersion

_COLUMNS = (
    UsageVersion.key_name, UsageVersion.last_used, UsageVersion.lookback_days,
    UsageVersion.requests_7d, UsageVersion.requests_30d, UsageVersion.gemini_requests_7d,
    UsageVersion.gemini_rejected_7d, UsageVersion.requests_1d, UsageVersion.daily_median_28d,
    UsageVersion.services, UsageVersion.covered_days,
)  # fmt: skip


def _services(document: list[dict[str, Any]] | None) -> tuple[ServiceUse, ...]:
    return tuple(
        ServiceUse(
            s["service"],
            s["requests"],
            tuple(sorted(s["by_class"].items())),
            date.fromisoformat(s["first_day"]),
            date.fromisoformat(s["last_day"]),
        )
        for s in document or ()
    )


class StoredUsage:
    """A usage source (scanner.sources.usage.source.UsageSource) over the open
    usage intervals of NAMES."""

    def __init__(self, conn: Connection, names: Sequence[str]) -> None:
        self.errors: dict[str, str] = {}
        self._by_name: dict[str, KeyUsage] = {}
        uv = UsageVersion
        for start in range(0, len(names), 500):
            chunk = names[start : start + 500]
            rows = conn.execute(
                select(*_COLUMNS).where(uv.valid_to_scan_id.is_(None), uv.key_name.in_(chunk))
            )
            for row in rows:
                self._by_name[row.key_name] = KeyUsage(
                    row.last_used,
                    row.lookback_days,
                    row.requests_7d,
                    row.requests_30d,
                    row.gemini_requests_7d,
                    row.gemini_rejected_7d,
                    row.requests_1d,
                    row.daily_median_28d,
                    _services(row.services),
                    row.covered_days,
                )

    def start(self, projects: Iterable[ProjectRecord], at: datetime) -> None:
        pass

    def for_key(self, key: KeyIdent) -> KeyUsage | None:
        return self._by_name.get(key.name)

    def unmatched_series(self) -> int:
        return 0

    def close(self) -> None:
        pass
