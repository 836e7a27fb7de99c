"""Open findings by how soon they are due, as of a scan's day: overdue, within
7 days, within 30 days, later. By rule, and by project for the projects the
per-project metrics name (the rest summed as "(other)")."""

from __future__ import annotations

from collections import Counter
from datetime import date
from typing import Any

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


def _project_number(conn: Connection) -> Any:
    """The N of a finding's "projects/N/locations/..." subject, in SQL: grouping
    by it needs no join with the keys (findings have no index by key)."""
    name = FindingVersion.key_name
    if conn.dialect.name == "postgresql":
        return func.split_part(name, "/", 2)
    rest = func.substr(name, 10)  # after "projects/"
    return func.substr(rest, 1, func.instr(rest, "/") - 1)


def due_counts(
    conn: Connection, scan_id: int, today: date, named: set[str], other: str
) -> tuple[Counter[tuple[str, str]], Counter[tuple[str, str]]]:
    """(by rule, by project): open findings with a deadline, those accepted
    left out, as (rule, bucket) and (project, bucket) -> findings. Projects are
    the NAMED ones (ids, or numbers when the id is unknown) and OTHER for the
    rest; none when nothing is named (per-project metrics are off). One pass
    over the open findings serves both."""
    fv, kv = FindingVersion, KeyVersion
    shown: dict[str, str] = {}
    if named:
        shown = {
            str(number): str(project_id or number)
            for number, project_id in conn.execute(
                select(kv.project_number, kv.project_id)
                .where(valid_at(kv, scan_id))
                .group_by(kv.project_number, kv.project_id)
            )
        }
    number = _project_number(conn)
    rows = conn.execute(
        select(fv.rule_id, number, fv.deadline, func.count())
        .where(valid_at(fv, scan_id), fv.deadline.is_not(None), fv.accepted_by.is_(None))
        .group_by(fv.rule_id, number, fv.deadline)
    )
    by_rule: Counter[tuple[str, str]] = Counter()
    by_project: Counter[tuple[str, str]] = Counter()
    for rule, project_number, deadline, n in rows:
        if deadline is None:
            continue
        due = bucket(deadline, today)
        by_rule[(str(rule), due)] += n
        if named and project_number:
            name = shown.get(str(project_number), str(project_number))
            by_project[(name if name in named else other, due)] += n
    return by_rule, by_project
