"""Open findings by how soon they are due, as of a scan's day: overdue,
within 7 days, within 30 days, later. By rule, and by project for the
projects the per-project metrics name (the rest summed as "(other)")."""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta
from typing import Any

from sqlalchemy import Connection, case, func, select

from scanner.store.queries import valid_at
from scanner.store.tables import FindingVersion, KeyVersion

# A date Google announced and has not confirmed is overdue once it has passed,
# as every message says it ("past the announced date, not confirmed by Google").
BUCKETS = ("overdue", "7d", "30d", "later")


def _project_number(conn: Connection) -> Any:
    """The N of a finding's "projects/N/locations/..." subject, in SQL: grouping
    by it needs no join with the keys (findings have no index by key)."""
    name = FindingVersion.key_name
    if conn.dialect.name == "postgresql":
        return func.split_part(name, "/", 2)
    rest = func.substr(name, 10)  # after "projects/"
    # A project's own findings are about "projects/N", with no "/" after N.
    end = case((func.instr(rest, "/") == 0, func.length(rest)), else_=func.instr(rest, "/") - 1)
    return func.substr(rest, 1, end)


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
    due = _bucket_sql(today)
    grouped = (fv.rule_id, number, due) if named else (fv.rule_id, due)
    rows = conn.execute(
        select(*grouped, func.count())
        .where(valid_at(fv, scan_id), fv.deadline.is_not(None), fv.accepted_by.is_(None))
        .group_by(*grouped)
    )
    by_rule: Counter[tuple[str, str]] = Counter()
    by_project: Counter[tuple[str, str]] = Counter()
    for row in rows:
        rule, bucket_name, n = row[0], row[-2], row[-1]
        by_rule[(str(rule), str(bucket_name))] += n
        if named and row[1]:
            name = shown.get(str(row[1]), str(row[1]))
            by_project[(name if name in named else other, str(bucket_name))] += n
    return by_rule, by_project


def _bucket_sql(today: date) -> Any:
    """The bucket of a deadline as of TODAY: overdue (before it), within 7
    days, within 30, later. Grouping by it in SQL leaves a few rows per rule
    and project instead of one per distinct deadline."""
    deadline = FindingVersion.deadline
    return case(
        (deadline < today, BUCKETS[0]),
        (deadline <= today + timedelta(days=7), BUCKETS[1]),
        (deadline <= today + timedelta(days=30), BUCKETS[2]),
        else_=BUCKETS[3],
    )
