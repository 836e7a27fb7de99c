"""When the finding that sets a key's status falls due: what the report's Due
column, the top-offender metric and the current_keys view call "days to
deadline". For a blocked key, the enforced deadline that blocked it (the
earliest passed, accepted or not: an exception does not unblock a key); for
a non-compliant key, its worst finding of medium severity or more, nearest
due first; for a key at risk, its finding due soonest (rules.verdict)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from scanner.core.models import DeadlineKind, KeyStatus, Severity


def status_due(
    status: str,
    findings: Iterable[tuple[str, date | None, str | None, bool]],
    today: date,
) -> date | None:
    """FINDINGS: (severity, deadline, deadline kind, accepted) of the key's open findings."""
    rows = list(findings)
    if status == KeyStatus.BLOCKED.value:
        passed = [
            d
            for _, d, kind, _ in rows
            if kind == DeadlineKind.ENFORCED.value and d is not None and d <= today
        ]
        return min(passed, default=None)
    if status == KeyStatus.NON_COMPLIANT.value:
        serious = [
            (-Severity(s).rank, d or date.max, d)
            for s, d, _, accepted in rows
            if not accepted and Severity(s).rank >= Severity.MEDIUM.rank
        ]
        return min(serious)[2] if serious else None
    if status == KeyStatus.AT_RISK.value:
        return min(
            (d for _, d, _, accepted in rows if d is not None and not accepted), default=None
        )
    return None
