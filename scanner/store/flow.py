"""What flowed through history up to a scan: findings opened and resolved
(by the reason their resolution carries), keys newly blocked, and how long
remediated findings stayed open. Totals since the first scan, so that
Prometheus can take rates and increases of them."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field

from sqlalchemy import Connection, func, select

from scanner.models import KeyStatus
from scanner.reasons import NEWSWORTHY
from scanner.store.remediation import intervals
from scanner.store.tables import Transition


@dataclass(frozen=True, slots=True)
class Flow:
    opened: Counter[str] = field(default_factory=Counter)  # rule -> findings opened
    resolved: Counter[tuple[str, str]] = field(default_factory=Counter)  # (rule, reason)
    newly_blocked: int = 0  # keys that turned (or arrived) blocked
    # rule -> seconds each remediated (fixed, deleted, gone) finding stayed open
    remediation: dict[str, list[float]] = field(default_factory=dict)


def read_flow(conn: Connection, scan_id: int) -> Flow:
    t = Transition
    upto = (t.scan_id <= scan_id, t.fingerprint.is_not(None))
    opened: Counter[str] = Counter()
    for rule, n in conn.execute(
        select(t.rule_id, func.count())
        .where(*upto, t.kind.in_(("opened", "reopened")))
        .group_by(t.rule_id)
    ):
        opened[str(rule)] = n
    resolved: Counter[tuple[str, str]] = Counter()
    for rule, reason, n in conn.execute(
        select(t.rule_id, t.reason, func.count())
        .where(*upto, t.kind == "resolved")
        .group_by(t.rule_id, t.reason)
    ):
        resolved[(str(rule), reason or "unknown")] = n
    blocked = conn.scalar(
        select(func.count()).where(
            t.scan_id <= scan_id, t.kind == "status_changed", t.to_value == KeyStatus.BLOCKED.value
        )
    )
    durations: dict[str, list[float]] = defaultdict(list)
    for interval in intervals(conn, scan_id):
        if interval.resolved_at is not None and interval.reason in NEWSWORTHY:
            seconds = (interval.resolved_at - interval.opened_at).total_seconds()
            durations[interval.rule].append(seconds)
    return Flow(opened, resolved, int(blocked or 0), dict(durations))
