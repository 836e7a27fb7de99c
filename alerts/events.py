"""What alerts are about, read from history inside the scan's transaction:
transitions (opened, escalated, resolved), deadline reminders, and the open
findings a digest lists."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Connection, or_, select

from scanner.models import KeyStatus, Severity
from scanner.reasons import NEWSWORTHY, RESOLVED_DETAIL
from scanner.store.queries import valid_at
from scanner.store.tables import FindingVersion, KeyVersion, Transition

CHUNK = 500  # names per IN (...) query


@dataclass(frozen=True, slots=True)
class KeyFacts:
    name: str
    uid: str
    display_name: str
    project: str  # project id, or number when the id is unknown
    project_number: str
    key_type: str
    status: str
    score: int
    owners: tuple[str, ...] = ()  # as the scan resolved them (scanner.ownership)
    creator: str | None = None
    # (by whom, when) the key's API restrictions were last removed, from the audit log
    restrictions_removed: tuple[str | None, datetime] | None = None


@dataclass(frozen=True, slots=True)
class FindingFacts:
    fingerprint: str
    rule: str
    severity: str
    summary: str
    checklist: str
    deadline: date | None
    deadline_kind: str | None
    timeline_entry: str | None


@dataclass(frozen=True, slots=True)
class Event:
    kind: str  # opened | escalated | resolved | reminder
    key: KeyFacts
    finding: FindingFacts
    detail: str
    identity: str  # unique per event; part of each notification's dedupe key


def days_left(deadline: date | None, at: datetime) -> int | None:
    return None if deadline is None else (deadline - at.date()).days


_KEY_COLUMNS = (
    KeyVersion.key_name,
    KeyVersion.uid,
    KeyVersion.display_name,
    KeyVersion.project_id,
    KeyVersion.project_number,
    KeyVersion.key_type,
    KeyVersion.status,
    KeyVersion.score,
    KeyVersion.owners,
    KeyVersion.creator,
)
_FINDING_COLUMNS = (
    FindingVersion.fingerprint,
    FindingVersion.rule_id,
    FindingVersion.severity,
    FindingVersion.summary,
    FindingVersion.checklist,
    FindingVersion.deadline,
    FindingVersion.deadline_kind,
    FindingVersion.timeline_entry,
)


def _key_facts(row: Any) -> KeyFacts:
    return KeyFacts(
        name=row.key_name,
        uid=row.uid,
        display_name=row.display_name,
        project=row.project_id or row.project_number,
        project_number=row.project_number,
        key_type=row.key_type,
        status=row.status,
        score=row.score,
        owners=tuple(row.owners or ()),
        creator=row.creator,
    )


def _finding_facts(row: Any) -> FindingFacts:
    return FindingFacts(
        fingerprint=row.fingerprint,
        rule=row.rule_id,
        severity=row.severity,
        summary=row.summary,
        checklist=row.checklist,
        deadline=row.deadline,
        deadline_kind=row.deadline_kind,
        timeline_entry=row.timeline_entry,
    )


def _chunks(values: list[str]) -> Iterator[list[str]]:
    for start in range(0, len(values), CHUNK):
        yield values[start : start + CHUNK]


def _latest_keys(conn: Connection, scan_id: int, names: Iterable[str]) -> dict[str, KeyFacts]:
    """Each key as this scan saw it, or as it last was if this scan closed it."""
    found: dict[str, KeyFacts] = {}
    for chunk in _chunks(sorted(set(names))):
        rows = conn.execute(
            select(KeyVersion)
            .where(KeyVersion.key_name.in_(chunk), KeyVersion.valid_from_scan_id <= scan_id)
            .order_by(KeyVersion.valid_from_scan_id.desc())
        )
        for row in rows:
            found.setdefault(row.key_name, _key_facts(row))
    return found


def _latest_findings(
    conn: Connection, scan_id: int, fingerprints: Iterable[str]
) -> dict[str, FindingFacts]:
    found: dict[str, FindingFacts] = {}
    for chunk in _chunks(sorted(set(fingerprints))):
        rows = conn.execute(
            select(FindingVersion)
            .where(
                FindingVersion.fingerprint.in_(chunk),
                FindingVersion.valid_from_scan_id <= scan_id,
                or_(
                    FindingVersion.valid_to_scan_id.is_(None),
                    FindingVersion.valid_to_scan_id >= scan_id,
                ),
            )
            .order_by(FindingVersion.valid_from_scan_id.desc())
        )
        for row in rows:
            found.setdefault(row.fingerprint, _finding_facts(row))
    return found


def open_findings(conn: Connection, scan_id: int) -> Iterator[tuple[KeyFacts, FindingFacts]]:
    """Every open finding at SCAN_ID on a key that is not deleted."""
    rows = conn.execute(
        select(*_KEY_COLUMNS, *_FINDING_COLUMNS)
        .join(FindingVersion, FindingVersion.key_name == KeyVersion.key_name)
        .where(
            valid_at(KeyVersion, scan_id),
            valid_at(FindingVersion, scan_id),
            KeyVersion.status != KeyStatus.DELETED.value,
        )
        .order_by(KeyVersion.key_name)  # a key's findings together: one KeyFacts each
    )
    key: KeyFacts | None = None
    for row in rows:
        if key is None or key.name != row.key_name:
            key = _key_facts(row)
        yield key, _finding_facts(row)


def transition_events(conn: Connection, scan_id: int) -> list[Event]:
    """opened (or reopened), escalated (severity up, or the key became
    blocked) and resolved, from the scan's transitions."""
    transitions = conn.execute(select(Transition).where(Transition.scan_id == scan_id)).all()
    wanted = [t for t in transitions if _wanted(t)]
    keys = _latest_keys(conn, scan_id, (t.key_name for t in wanted))
    findings = _latest_findings(conn, scan_id, (t.fingerprint for t in wanted if t.fingerprint))
    worst = _worst_open_findings(conn, scan_id, {t.key_name for t in wanted if not t.fingerprint})
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
        elif t.kind == "severity_changed":
            detail = f"severity {t.from_value} -> {t.to_value}"
            events.append(Event("escalated", key, finding, detail, identity))
        elif t.kind == "status_changed":
            detail = f"the key is now blocked (was {t.from_value})"
            events.append(Event("escalated", key, finding, detail, identity))
        else:
            detail = RESOLVED_DETAIL.get(t.reason or "", "resolved")
            events.append(Event("resolved", key, finding, detail, identity))
    return events


def _wanted(t: Any) -> bool:
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


def _worst_open_findings(
    conn: Connection, scan_id: int, names: set[str]
) -> dict[str, FindingFacts]:
    worst: dict[str, FindingFacts] = {}
    for chunk in _chunks(sorted(names)):
        rows = conn.execute(
            select(FindingVersion).where(
                FindingVersion.key_name.in_(chunk), valid_at(FindingVersion, scan_id)
            )
        )
        for row in rows:
            facts = _finding_facts(row)
            best = worst.get(row.key_name)
            if best is None or Severity(facts.severity).rank > Severity(best.severity).rank:
                worst[row.key_name] = facts
    return worst


@functools.lru_cache(maxsize=4096)  # deadlines repeat: timeline dates, rotation dates
def reminder_points(
    deadline: date, offsets: tuple[int, ...], overdue_every: timedelta, at: datetime
) -> tuple[str, datetime] | None:
    """The latest reminder point at or before AT: (label, when). Labels are
    "-N" for N days before the deadline and "+N" for N days overdue."""
    midnight = datetime.combine(deadline, time(0), UTC)
    latest: tuple[str, datetime] | None = None
    for offset in sorted(offsets, reverse=True):
        when = midnight - timedelta(days=offset)
        if when <= at:
            latest = (f"-{offset}", when)
    if at > midnight and overdue_every.total_seconds() > 0:
        steps = int((at - midnight) / overdue_every)
        if steps >= 1:
            when = midnight + steps * overdue_every
            latest = (f"+{(when - midnight).days}", when)
    return latest


def new_fingerprints(conn: Connection, scan_id: int) -> set[str]:
    """Findings that opened (or came back) in this scan."""
    return {
        fp
        for fp in conn.scalars(
            select(Transition.fingerprint).where(
                Transition.scan_id == scan_id, Transition.kind.in_(("opened", "reopened"))
            )
        )
        if fp is not None
    }


def reminder_for(
    key: KeyFacts,
    finding: FindingFacts,
    at: datetime,
    since: datetime | None,
    is_new: bool,
    offsets: list[int],
    overdue_every: timedelta,
) -> Event | None:
    """The reminder due for FINDING if its point was crossed since SINCE (the
    previous scan's evaluation), or the latest one if the finding is new."""
    if finding.deadline is None:
        return None
    point = reminder_points(finding.deadline, tuple(offsets), overdue_every, at)
    if point is None:
        return None
    label, when = point
    if since is not None and when <= since and not is_new:
        return None
    left = days_left(finding.deadline, at) or 0
    detail = f"{left} days left" if left >= 0 else f"{-left} days overdue"
    identity = f"r:{finding.fingerprint}:{finding.deadline}:{label}"
    return Event("reminder", key, finding, detail, identity)
