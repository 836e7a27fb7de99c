"""Open findings by how soon they are due, as of a scan's day: overdue, within
7 days, within 30 days, later. By rule, and by project for the projects the
per-project metrics name (the rest summed as "(other)")."""

from __future__ import annotations

from collections import Counter
from datetime import date

from sqlalchemy import Connection, func, select

from scanner.store.queries import valid_at
from scanner.store.tables import FindingVersion, KeyVersion

BUCKETS = ("overdue", "7d", "30d", "later")


def bucket(deadline: date, today: date) -> str:
    days = (deadline - today).days
    if days < 0:
        return "overdue"
    if days <= 7:
        return "7d"
    return "30d" if days <= 30 else "later"


def due_by_rule(conn: Connection, scan_id: int, today: date) -> Counter[tuple[str, str]]:
    """(rule, bucket) -> open findings with a deadline, those accepted left out."""
    fv = FindingVersion
    rows = conn.execute(
        select(fv.rule_id, fv.deadline, func.count())
        .where(valid_at(fv, scan_id), fv.deadline.is_not(None), fv.accepted_by.is_(None))
        .group_by(fv.rule_id, fv.deadline)
    )
    found: Counter[tuple[str, str]] = Counter()
    for rule, deadline, n in rows:
        if deadline is not None:
            found[(rule, bucket(deadline, today))] += n
    return found


def due_by_project(
    conn: Connection, scan_id: int, today: date, named: set[str], other: str
) -> Counter[tuple[str, str]]:
    """(project, bucket) -> open findings on keys, NAMED projects apart and the
    rest under OTHER; nothing when no project is named (per-project is off)."""
    if not named:
        return Counter()
    fv, kv = FindingVersion, KeyVersion
    project = func.coalesce(kv.project_id, kv.project_number)
    rows = conn.execute(
        select(project, fv.deadline, func.count())
        .join(kv, kv.key_name == fv.key_name)
        .where(
            valid_at(fv, scan_id),
            valid_at(kv, scan_id),
            fv.deadline.is_not(None),
            fv.accepted_by.is_(None),
        )
        .group_by(project, fv.deadline)
    )
    found: Counter[tuple[str, str]] = Counter()
    for name, deadline, n in rows:
        if deadline is not None:
            found[(name if name in named else other, bucket(deadline, today))] += n
    return found
