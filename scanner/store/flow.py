"""What flowed through history up to a scan: findings opened and resolved
(by the reason their resolution carries), keys newly blocked, and how long
remediated findings stayed open. Totals since the first scan, so that
Prometheus can take rates and increases of them."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Connection, func, select

from scanner.models import KeyStatus
from scanner.reasons import NEWSWORTHY
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
    return Flow(opened, resolved, int(blocked or 0), _remediation(conn, scan_id))


def _remediation(conn: Connection, scan_id: int) -> dict[str, list[float]]:
    """Rule -> seconds from the opening of each remediated finding to its
    resolution. Only the fingerprints that were remediated are read back, so
    the cost follows the fixes, not the size of the organization. A finding an
    exception accepted was already closed as `accepted` (store.remediation)."""
    t = Transition
    remediated = (
        select(t.id, t.fingerprint, t.rule_id, t.at)
        .where(
            t.scan_id <= scan_id,
            t.kind == "resolved",
            t.reason.in_(sorted(NEWSWORTHY)),
            t.exception_id.is_(None),
            t.fingerprint.is_not(None),
        )
        .order_by(t.id)
    )
    ends = conn.execute(remediated).all()
    if not ends:
        return {}
    opening = ("opened", "reopened", "acceptance_expired", "acceptance_revoked")
    fixed = select(t.fingerprint).where(
        t.scan_id <= scan_id, t.kind == "resolved", t.reason.in_(sorted(NEWSWORTHY))
    )
    starts: dict[str, list[tuple[int, datetime]]] = defaultdict(list)
    for row_id, fingerprint, at in conn.execute(
        select(t.id, t.fingerprint, t.at)
        .where(t.scan_id <= scan_id, t.kind.in_(opening), t.fingerprint.in_(fixed))
        .order_by(t.id)
    ):
        starts[str(fingerprint)].append((row_id, at))
    durations: dict[str, list[float]] = defaultdict(list)
    for end_id, fingerprint, rule, ended in ends:
        before = [at for row_id, at in starts.get(str(fingerprint), []) if row_id < end_id]
        if before:
            durations[str(rule)].append((ended - before[-1]).total_seconds())
    return dict(durations)
