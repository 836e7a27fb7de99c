"""What alerts are about, read from history inside the scan's transaction:
transitions (opened, escalated, resolved, an exception's acceptance ending)
and deadline reminders. The facts they carry are read by scanner.alerts.store.facts."""

from __future__ import annotations

import functools
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Connection

from scanner.alerts.content.wording import deadline_phrase
from scanner.alerts.facts import Event, FindingFacts, KeyFacts, days_left
from scanner.alerts.store.facts import latest_findings, latest_keys, worst_open_findings
from scanner.alerts.store.moves import scan_transitions
from scanner.core.models import KeyStatus, Severity
from scanner.core.reasons import NEWSWORTHY, RESOLVED_DETAIL


def transition_events(conn: Connection, scan_id: int) -> list[Event]:
    """opened (or reopened), escalated (severity up, or the key became
    blocked) and resolved, from the scan's transitions."""
    transitions = scan_transitions(conn, scan_id)
    wanted = [t for t in transitions if _wanted(t)]
    keys = latest_keys(conn, scan_id, (t.key_name for t in wanted))
    findings = latest_findings(conn, scan_id, (t.fingerprint for t in wanted if t.fingerprint))
    worst = worst_open_findings(conn, scan_id, {t.key_name for t in wanted if not t.fingerprint})
    events = []
    for t in wanted:
        key = keys.get(t.key_name)
        finding = findings.get(t.fingerprint) if t.fingerprint else worst.get(t.key_name)
        if key is None or finding is None:
            continue
        identity = f"t{t.id}"
        if t.kind in ("opened", "reopened"):
            detail = "the finding came back" if t.kind == "reopened" else "new finding"
            events.append(Event("opened", key, finding, detail, identity))
        elif t.kind in ("acceptance_expired", "acceptance_revoked"):
            how = "expired" if t.kind == "acceptance_expired" else "was removed from the config"
            detail = f"exception {t.exception_id} {how}: the finding counts again"
            events.append(Event("opened", key, finding, detail, identity))
        elif t.kind == "severity_changed":
            detail = f"severity raised from {t.from_value} to {t.to_value}"
            events.append(Event("escalated", key, finding, detail, identity))
        elif t.kind == "status_changed":
            detail = f"the key is now blocked (was {t.from_value})"
            events.append(Event("escalated", key, finding, detail, identity))
        else:
            detail = RESOLVED_DETAIL.get(t.reason or "", "resolved")
            events.append(Event("resolved", key, finding, detail, identity))
    return events


def _wanted(t: Any) -> bool:
    if t.kind in ("acceptance_expired", "acceptance_revoked"):
        return True  # the finding is open again: as news as a new one
    if t.exception_id is not None:
        return False  # about a finding an exception accepts: no alert
    if t.kind == "resolved":
        # A rule switched off or evidence not read is no news for an owner.
        return t.reason is None or t.reason in NEWSWORTHY
    if t.kind in ("opened", "reopened"):
        return True
    if t.kind == "severity_changed":
        return bool(Severity(t.to_value).rank > Severity(t.from_value).rank)
    # A new key's findings arrive as "opened"; only a known key turning blocked escalates.
    return bool(
        t.kind == "status_changed"
        and t.to_value == KeyStatus.BLOCKED.value
        and t.from_value is not None
    )


@functools.lru_cache(maxsize=4096)  # deadlines repeat: timeline dates, rotation dates
def reminder_points(
    deadline: date,
    offsets: tuple[int, ...],
    overdue_every: timedelta,
    at: datetime,
    max_overdue: timedelta | None = None,
) -> tuple[str, datetime] | None:
    """The latest reminder point at or before AT: (label, when). Labels are
    "-N" for N days before the deadline and "+N" for N days overdue. Overdue
    points back off: OVERDUE_EVERY after the deadline, then gaps that double
    up to MAX_OVERDUE."""
    midnight = datetime.combine(deadline, time(0), UTC)
    latest: tuple[str, datetime] | None = None
    for offset in sorted(offsets, reverse=True):
        when = midnight - timedelta(days=offset)
        if when <= at:
            latest = (f"-{offset}", when)
    late = _overdue_point(at - midnight, overdue_every, max_overdue or overdue_every)
    if late is not None:
        latest = (f"+{late.days}", midnight + late)
    return latest


def _overdue_point(overdue: timedelta, every: timedelta, cap: timedelta) -> timedelta | None:
    if every.total_seconds() <= 0 or overdue < every:
        return None
    point, gap = every, every
    while True:
        gap = min(gap * 2, max(cap, every))
        if point + gap > overdue:
            return point
        point += gap


def reminder_for(
    key: KeyFacts,
    finding: FindingFacts,
    at: datetime,
    since: datetime | None,
    is_new: bool,
    offsets: list[int],
    overdue_every: timedelta,
    max_overdue: timedelta | None = None,
) -> Event | None:
    """The reminder due for FINDING if its point was crossed since SINCE (the
    previous scan's evaluation), or the latest one if the finding is new."""
    if finding.deadline is None:
        return None
    point = reminder_points(finding.deadline, tuple(offsets), overdue_every, at, max_overdue)
    if point is None:
        return None
    label, when = point
    if since is not None and when <= since and not is_new:
        return None
    left = days_left(finding.deadline, at)
    detail = deadline_phrase(finding.deadline.isoformat(), finding.deadline_kind, left)
    identity = f"r:{finding.fingerprint}:{finding.deadline}:{label}"
    return Event("reminder", key, finding, detail, identity)
