"""Key events from the audit log: stored once each, read back as creators,
as the last time a key's restrictions were removed, and as who read the
strings of leaked keys."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime

from sqlalchemy import Connection, func, select
from sqlalchemy.dialects import postgresql, sqlite

from scanner.core.models import KeyEvent, StringRead
from scanner.store.tables import KeyEventRow

CHUNK = 1000


def record_events(conn: Connection, scan_id: int, events: Sequence[KeyEvent]) -> None:
    make = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    for start in range(0, len(events), CHUNK):
        rows = [
            {
                "insert_id": e.insert_id,
                "key_name": e.key_name,
                "at": e.at,
                "method": e.method,
                "principal": e.principal,
                "restrictions_removed": e.restrictions_removed,
                "caller_ip": e.caller_ip,
                "scan_id": scan_id,
            }
            for e in events[start : start + CHUNK]
        ]
        conn.execute(make(KeyEventRow).on_conflict_do_nothing(index_elements=["insert_id"]), rows)


def creators(conn: Connection) -> dict[str, str]:
    """Each key's creator: the principal of its (first) CreateKey."""
    first = (
        select(KeyEventRow.key_name, func.min(KeyEventRow.at).label("at"))
        .where(KeyEventRow.method == "CreateKey", KeyEventRow.principal.is_not(None))
        .group_by(KeyEventRow.key_name)
        .subquery()
    )
    rows = conn.execute(
        select(KeyEventRow.key_name, KeyEventRow.principal).join(
            first, (first.c.key_name == KeyEventRow.key_name) & (first.c.at == KeyEventRow.at)
        )
    )
    return {name: principal for name, principal in rows if principal}


def last_restrictions_removed(
    conn: Connection, through_scan: int | None = None
) -> dict[str, tuple[str | None, datetime]]:
    """key name -> (who, when) of the latest UpdateKey that left it
    unrestricted; only events read by scans up to THROUGH_SCAN when given."""
    found: dict[str, tuple[str | None, datetime]] = {}
    query = select(KeyEventRow.key_name, KeyEventRow.principal, KeyEventRow.at).where(
        KeyEventRow.restrictions_removed.is_(True)
    )
    if through_scan is not None:
        query = query.where(KeyEventRow.scan_id <= through_scan)
    rows = conn.execute(query.order_by(KeyEventRow.at, KeyEventRow.id))
    for name, principal, at in rows:
        found[name] = (principal, at)
    return found


def string_reads(conn: Connection, names: Collection[str]) -> dict[str, list[StringRead]]:
    """The GetKeyString reads of the keys NAMES, earliest first."""
    e = KeyEventRow
    found: dict[str, list[StringRead]] = {}
    wanted = sorted(names)
    for start in range(0, len(wanted), CHUNK):
        query = (
            select(e.key_name, e.at, e.principal, e.caller_ip)
            .where(e.method == "GetKeyString", e.key_name.in_(wanted[start : start + CHUNK]))
            .order_by(e.at, e.id)
        )
        for name, at, principal, caller_ip in conn.execute(query):
            found.setdefault(name, []).append(StringRead(at, principal, caller_ip))
    return found
