"""What a window of scans wrote, scan by scan: the transitions, the versions
that changed a key, the audit events and who made them. Rows stream, for a
first scan writes hundreds of thousands."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from sqlalchemy import Connection, and_, select
from sqlalchemy.orm import aliased

from scanner.store.tables import KeyEventRow, KeyVersion, Transition

_STREAM = 2000


def scan_actors(conn: Connection, scan_id: int) -> dict[str, str]:
    """Per key, who made the last change the scan's audit events show."""
    e = KeyEventRow
    rows = conn.execute(
        select(e.key_name, e.principal)
        .where(e.scan_id == scan_id, e.principal.is_not(None))
        .order_by(e.at, e.id)
    )
    return {name: principal for name, principal in rows if principal}


def transition_rows(conn: Connection, scan_id: int) -> Iterator[tuple[Any, ...]]:
    """(kind, key, rule, from, to, reason, exception) of each transition, in order."""
    t = Transition
    query = (
        select(t.kind, t.key_name, t.rule_id, t.from_value, t.to_value, t.reason, t.exception_id)
        .where(t.scan_id == scan_id)
        .order_by(t.id)
    )
    yield from conn.execute(query.execution_options(yield_per=_STREAM))


def version_pairs(
    conn: Connection, scan_id: int, fields: Iterable[str]
) -> Iterator[tuple[str, str | None, dict[str, Any], dict[str, Any]]]:
    """(key, project, old, new) for each version SCAN_ID opened over one it
    closed, OLD and NEW being FIELDS of each."""
    names = list(fields)
    new, old = aliased(KeyVersion), aliased(KeyVersion)
    columns = [
        new.key_name,
        new.project_id,
        new.project_number,
        *(getattr(new, f).label(f"new_{f}") for f in names),
        *(getattr(old, f).label(f"old_{f}") for f in names),
    ]
    query = (
        select(*columns)
        # "+ 0": by the closing scan alone SQLite would pair every version this
        # scan opened with every one it closed; by name it is one lookup each.
        .join(old, and_(old.key_name == new.key_name, old.valid_to_scan_id + 0 == scan_id))
        .where(new.valid_from_scan_id == scan_id)
        .order_by(new.id)
    )
    for row in conn.execute(query.execution_options(yield_per=_STREAM)):
        values = row._mapping
        yield (
            row.key_name,
            row.project_id or row.project_number,
            {f: values[f"old_{f}"] for f in names},
            {f: values[f"new_{f}"] for f in names},
        )


def event_rows(conn: Connection, scan_id: int) -> Iterator[Any]:
    """The audit events SCAN_ID recorded, in the order they happened."""
    e = KeyEventRow
    yield from conn.execute(select(e).where(e.scan_id == scan_id).order_by(e.at, e.id))
