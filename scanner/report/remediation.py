"""How fast findings are remediated, counted in scan time: a finding opens
at the scan that first saw it and closes at the first scan that no longer
did. The true time is shorter by up to the gap between the closing scan and
the one before it, which the result states."""

from __future__ import annotations

import itertools
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from scanner.core.reasons import NEWSWORTHY, Reason
from scanner.store.finding_spans import finding_transitions, last_owners, scans_through

GROUPINGS = ("rule", "project", "owner")


@dataclass
class Interval:
    rule: str
    key: str
    opened_scan: int
    opened_at: datetime
    resolved_scan: int | None = None
    resolved_at: datetime | None = None
    reason: str | None = None


@dataclass
class Group:
    opened: int = 0
    resolved: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    still_open: int = 0
    days: list[float] = field(default_factory=list)


def percentile(values: list[float], share: float) -> float | None:
    """Nearest rank: the smallest value with at least SHARE of them at or below it."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * share // 1))
    return ordered[int(rank) - 1]


# An exception accepting a finding closes its interval as `accepted`; the
# exception lapsing or leaving the config opens a new one from that scan.
_CLOSING = ("resolved", "accepted")
_OPENING = ("opened", "reopened", "acceptance_expired", "acceptance_revoked")


def intervals(conn: Connection, until_scan: int) -> list[Interval]:
    open_now: dict[str, Interval] = {}
    done: list[Interval] = []
    for row in finding_transitions(conn, until_scan, _CLOSING + _OPENING):
        if row.kind in _CLOSING:
            interval = open_now.pop(row.fingerprint, None)
            if interval is not None:  # else it was accepted already
                interval.resolved_scan, interval.resolved_at = row.scan_id, row.at
                interval.reason = row.reason
                done.append(interval)
            continue
        interval = Interval(row.rule_id, row.key_name, row.scan_id, row.at)
        if row.exception_id is not None and row.kind in ("opened", "reopened"):
            interval.resolved_scan, interval.resolved_at = row.scan_id, row.at
            interval.reason = Reason.ACCEPTED.value  # found already accepted
            done.append(interval)
        else:
            open_now[row.fingerprint] = interval
    return done + list(open_now.values())


def remediation(
    conn: Connection, since: datetime, until: datetime, by: str | None
) -> dict[str, Any]:
    scans = scans_through(conn, until)
    until_scan = scans[-1].id if scans else 0
    gaps = {
        later.id: (later.evaluated_at - earlier.evaluated_at).total_seconds() / 86400
        for earlier, later in itertools.pairwise(scans)
    }
    owners = last_owners(conn, until_scan) if by == "owner" else {}
    groups: dict[str, Group] = defaultdict(Group)
    bound: list[float] = []
    for interval in intervals(conn, until_scan):
        if interval.opened_at < since:
            continue
        for name in _group_names(interval, by, owners):
            group = groups[name]
            group.opened += 1
            if interval.resolved_at is None:
                group.still_open += 1
                continue
            reason = interval.reason or "unknown"  # resolved before schema 0010
            group.resolved[reason] += 1
            if reason in NEWSWORTHY:
                days = (interval.resolved_at - interval.opened_at).total_seconds() / 86400
                group.days.append(days)
                bound.append(gaps.get(interval.resolved_scan or -1, 0.0))
    rows = [
        {
            "group": name,
            "opened": g.opened,
            "resolved": dict(sorted(g.resolved.items())),
            "still_open": g.still_open,
            "remediated": len(g.days),
            "median_days": _round(percentile(g.days, 0.5)),
            "p90_days": _round(percentile(g.days, 0.9)),
        }
        for name, g in sorted(groups.items())
    ]
    return {
        "since": since,
        "until": until,
        "by": by,
        "scans": len([s for s in scans if s.evaluated_at >= since]),
        "groups": rows,
        "bound_days": {
            "max": _round(max(bound)) if bound else None,
            "median": _round(percentile(bound, 0.5)),
        },
        "note": (
            "times are in scan time: from the scan that first saw a finding to the first "
            "that no longer did; each overstates the true time by at most the gap before "
            "that scan (bound_days). Remediated means fixed, key_deleted or left_inventory; "
            "findings that closed because a rule was disabled, evidence was missing or the "
            "configuration changed, or that an exception accepted (accepted), are counted "
            "as resolved by that reason, not as remediated; an exception that lapses or "
            "is removed opens the finding again."
        ),
    }


def _group_names(interval: Interval, by: str | None, owners: dict[str, list[str]]) -> list[str]:
    if by == "rule":
        return [interval.rule]
    if by == "project":
        parts = interval.key.split("/")
        return [f"projects/{parts[1]}" if len(parts) > 1 else interval.key]
    if by == "owner":
        return owners.get(interval.key) or ["(no owner)"]
    return ["all"]


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)
