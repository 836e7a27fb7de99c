"""Keys' usage as history holds it, read back into the figures a scan read
(for a feed scan, which judges with the usage the last full scan read)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import Connection, select

from scanner.core.models import KeyUsage, ServiceUse
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


def open_usage(conn: Connection, names: Sequence[str]) -> dict[str, KeyUsage]:
    """The open usage interval of each of NAMES that has one."""
    found: dict[str, KeyUsage] = {}
    uv = UsageVersion
    for start in range(0, len(names), 500):
        chunk = names[start : start + 500]
        rows = conn.execute(
            select(*_COLUMNS).where(uv.valid_to_scan_id.is_(None), uv.key_name.in_(chunk))
        )
        for row in rows:
            found[row.key_name] = KeyUsage(
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
    return found
