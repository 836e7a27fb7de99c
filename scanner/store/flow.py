"""What flowed through history up to a scan: findings opened and resolved
(by the reason their resolution carries), keys newly blocked, and how long
remediated findings stayed open. Totals since the first scan, so that
Prometheus can take rates and increases of them."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import Connection, func, select

from scanner.models import DeadlineKind, KeyStatus
from scanner.reasons import NEWSWORTHY
from scanner.store.tables import FindingVersion, KeyEventRow, Scan, Transition


@dataclass(frozen=True, slots=True)
class Flow:
    opened: Counter[str] = field(default_factory=Counter)  # rule -> findings opened
    resolved: Counter[tuple[str, str]] = field(default_factory=Counter)  # (rule, reason)
    # rule -> keys that turned (or arrived) blocked with an enforced deadline of
    # that rule passed: a key blocked by two rules counts under each
    newly_blocked: Counter[str] = field(default_factory=Counter)
    restrictions_removed: int = 0  # UpdateKey audit events that left a key unrestricted
    # rule -> seconds each remediated (fixed, deleted, gone) finding stayed open
    remediation: dict[str, list[float]] = field(default_factory=dict)


def read_flow(conn: Connection, scan_id: int) -> Flow:
    t = Transition
    upto = (t.scan_id <= scan_id, t.fingerprint.is_not(None))
    opened: Counter[str] = Counter()
    resolved: Counter[tuple[str, str]] = Counter()
    # One pass over the transitions serves both counters.
    for kind, rule, reason, n in conn.execute(
        select(t.kind, t.rule_id, t.reason, func.count())
        .where(*upto, t.kind.in_(("opened", "reopened", "resolved")))
        .group_by(t.kind, t.rule_id, t.reason)
    ):
        if kind == "resolved":
            resolved[(str(rule), reason or "unknown")] += n
        else:
            opened[str(rule)] += n
    removed = conn.scalar(
        select(func.count()).where(
            KeyEventRow.scan_id <= scan_id, KeyEventRow.restrictions_removed.is_(True)
        )
    )
    return Flow(
        opened,
        resolved,
        newly_blocked(conn, scan_id),
        int(removed or 0),
        _remediation(conn, scan_id),
    )


def newly_blocked(conn: Connection, scan_id: int) -> Counter[str]:
    """Rule -> keys that turned blocked up to SCAN_ID, by the rules whose
    enforced deadline had passed on the key at that scan: what makes a key
    blocked (rules.verdict). Matched here rather than joined in SQL: findings
    have no index by key, and the join's plan on PostgreSQL visits every
    finding for each transition."""
    t, f = Transition, FindingVersion
    turned: dict[str, list[tuple[int, date]]] = defaultdict(list)
    for key_name, at_scan, evaluated_at in conn.execute(
        select(t.key_name, t.scan_id, Scan.evaluated_at)
        .join(Scan, Scan.id == t.scan_id)
        .where(
            t.scan_id <= scan_id,
            t.kind == "status_changed",
            t.to_value == KeyStatus.BLOCKED.value,
        )
    ):
        turned[str(key_name)].append((int(at_scan), evaluated_at.date()))
    counts: Counter[str] = Counter()
    if not turned:
        return counts
    for key_name, rule, deadline, valid_from, valid_to in conn.execute(
        select(f.key_name, f.rule_id, f.deadline, f.valid_from_scan_id, f.valid_to_scan_id).where(
            f.deadline_kind == DeadlineKind.ENFORCED.value,
            f.valid_from_scan_id + 0 <= scan_id,
            f.deadline.is_not(None),
        )
    ):
        for at_scan, day in turned.get(str(key_name), ()):
            open_then = valid_from <= at_scan and (valid_to is None or valid_to > at_scan)
            if open_then and deadline is not None and deadline <= day:
                counts[str(rule)] += 1
    return counts


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
