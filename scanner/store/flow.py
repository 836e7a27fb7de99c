"""What flowed through history up to a scan: findings opened and resolved
(by the reason their resolution carries), keys newly blocked, and how long
remediated findings stayed open. Totals since the first scan, so that
Prometheus can take rates and increases of them."""

from __future__ import annotations

import bisect
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import ColumnElement, Connection, func, or_, select
from sqlalchemy.orm import InstrumentedAttribute

from scanner.core.models import DeadlineKind, KeyStatus
from scanner.core.reasons import NEWSWORTHY
from scanner.store.tables import FindingVersion, KeyEventRow, Scan, Transition

DAY = 86400.0
# Remediation times from a day to a year: scans are hours apart, so finer is noise.
BUCKETS = tuple(d * DAY for d in (1, 3, 7, 14, 30, 60, 90, 180, 365))


@dataclass(slots=True)
class Remediated:
    """One rule's remediation times as a histogram: how many fell at or under
    each of BUCKETS (each counted once, in the first that holds it), how many
    beyond, and their sum. Totals that add up from scan to scan."""

    counts: list[int] = field(default_factory=lambda: [0] * (len(BUCKETS) + 1))
    seconds: float = 0.0

    def add(self, seconds: float) -> None:
        self.counts[bisect.bisect_left(BUCKETS, seconds)] += 1
        self.seconds += seconds

    def plus(self, other: Remediated) -> Remediated:
        counts = [a + b for a, b in zip(self.counts, other.counts, strict=True)]
        return Remediated(counts, self.seconds + other.seconds)


@dataclass(frozen=True, slots=True)
class Flow:
    opened: Counter[str] = field(default_factory=Counter)  # rule -> findings opened
    resolved: Counter[tuple[str, str]] = field(default_factory=Counter)  # (rule, reason)
    # rule -> keys that turned (or arrived) blocked with an enforced deadline of
    # that rule passed: a key blocked by two rules counts under each
    newly_blocked: Counter[str] = field(default_factory=Counter)
    restrictions_removed: int = 0  # UpdateKey audit events that left a key unrestricted
    # rule -> how long remediated (fixed, deleted, gone) findings stayed open
    remediation: dict[str, Remediated] = field(default_factory=dict)

    def plus(self, later: Flow) -> Flow:
        """These totals and LATER's (a scan's own flow) together."""
        remediation = dict(self.remediation)
        for rule, times in later.remediation.items():
            remediation[rule] = remediation[rule].plus(times) if rule in remediation else times
        return Flow(
            self.opened + later.opened,
            self.resolved + later.resolved,
            self.newly_blocked + later.newly_blocked,
            self.restrictions_removed + later.restrictions_removed,
            remediation,
        )


def read_flow(conn: Connection, scan_id: int, only_this_scan: bool = False) -> Flow:
    """The totals up to SCAN_ID, or what SCAN_ID alone added (ONLY_THIS_SCAN)."""
    t = Transition
    upto = (_scans(t.scan_id, scan_id, only_this_scan), t.fingerprint.is_not(None))
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
            _scans(KeyEventRow.scan_id, scan_id, only_this_scan),
            KeyEventRow.restrictions_removed.is_(True),
        )
    )
    return Flow(
        opened,
        resolved,
        newly_blocked(conn, scan_id, only_this_scan),
        int(removed or 0),
        _remediation(conn, scan_id, only_this_scan),
    )


def _scans(column: InstrumentedAttribute[int], scan_id: int, only: bool) -> ColumnElement[bool]:
    return column == scan_id if only else column <= scan_id


def newly_blocked(conn: Connection, scan_id: int, only_this_scan: bool = False) -> Counter[str]:
    """Rule -> keys that turned blocked up to SCAN_ID, each counted once,
    under the rule whose enforced deadline blocked it first (the earliest of
    those passed on the key at that scan: what makes a key blocked,
    rules.verdict). Matched here rather than joined in SQL: the join's plan
    on PostgreSQL visits every finding for each transition."""
    t, f = Transition, FindingVersion
    turned: dict[str, list[tuple[int, date]]] = defaultdict(list)
    for key_name, at_scan, evaluated_at in conn.execute(
        select(t.key_name, t.scan_id, Scan.evaluated_at)
        .join(Scan, Scan.id == t.scan_id)
        .where(
            _scans(t.scan_id, scan_id, only_this_scan),
            t.kind == "status_changed",
            t.to_value == KeyStatus.BLOCKED.value,
        )
    ):
        turned[str(key_name)].append((int(at_scan), evaluated_at.date()))
    counts: Counter[str] = Counter()
    if not turned:
        return counts
    enforced: tuple[ColumnElement[bool], ...] = (
        f.deadline_kind == DeadlineKind.ENFORCED.value,
        f.valid_from_scan_id + 0 <= scan_id,
        f.deadline.is_not(None),
    )
    columns = (f.key_name, f.rule_id, f.deadline, f.valid_from_scan_id, f.valid_to_scan_id)
    if only_this_scan:  # the findings open at this scan, of these keys only
        enforced += (or_(f.valid_to_scan_id.is_(None), f.valid_to_scan_id > scan_id),)
    first: dict[tuple[str, int], tuple[date, str]] = {}  # (key, scan) -> (deadline, rule)
    for key_name, rule, deadline, valid_from, valid_to in conn.execute(
        select(*columns).where(*enforced)
    ):
        for at_scan, day in turned.get(str(key_name), ()):
            open_then = valid_from <= at_scan and (valid_to is None or valid_to > at_scan)
            if open_then and deadline is not None and deadline <= day:
                turn = (str(key_name), at_scan)
                first[turn] = min(first.get(turn, (deadline, str(rule))), (deadline, str(rule)))
    counts.update(rule for _, rule in first.values())
    return counts


def _remediation(
    conn: Connection, scan_id: int, only_this_scan: bool = False
) -> dict[str, Remediated]:
    """Rule -> seconds from the opening of each remediated finding to its
    resolution. Only the fingerprints that were remediated are read back, so
    the cost follows the fixes, not the size of the organization. A finding an
    exception accepted was already closed as `accepted` (report.remediation)."""
    t = Transition
    remediated = (
        select(t.id, t.fingerprint, t.rule_id, t.at)
        .where(
            _scans(t.scan_id, scan_id, only_this_scan),
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
        _scans(t.scan_id, scan_id, only_this_scan),
        t.kind == "resolved",
        t.reason.in_(sorted(NEWSWORTHY)),
    )
    starts: dict[str, list[tuple[int, datetime]]] = defaultdict(list)
    for row_id, fingerprint, at in conn.execute(
        select(t.id, t.fingerprint, t.at)
        .where(t.scan_id <= scan_id, t.kind.in_(opening), t.fingerprint.in_(fixed))
        .order_by(t.id)
    ):
        starts[str(fingerprint)].append((row_id, at))
    durations: dict[str, Remediated] = defaultdict(Remediated)
    for end_id, fingerprint, rule, ended in ends:
        before = [at for row_id, at in starts.get(str(fingerprint), []) if row_id < end_id]
        if before:
            durations[str(rule)].add((ended - before[-1]).total_seconds())
    return dict(durations)
