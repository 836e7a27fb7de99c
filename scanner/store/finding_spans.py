"""The rows a finding's open spans are made of: every transition that opens
or closes one, in order, and each key's owners as last recorded."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from scanner.store.tables import KeyVersion, Scan, Transition


def scans_through(conn: Connection, until: datetime) -> list[Any]:
    """Successful scans (id, evaluated_at) evaluated up to UNTIL, oldest first."""
    return list(
        conn.execute(
            select(Scan.id, Scan.evaluated_at)
            .where(Scan.status == "succeeded", Scan.evaluated_at <= until)
            .order_by(Scan.id)
        )
    )


def finding_transitions(conn: Connection, until_scan: int, kinds: tuple[str, ...]) -> Iterator[Any]:
    """The transitions of KINDS of every finding up to UNTIL_SCAN, in the
    order they were written."""
    t = Transition
    query = (
        select(t.kind, t.fingerprint, t.rule_id, t.key_name, t.scan_id, t.at, t.reason)
        .add_columns(t.exception_id)
        .where(t.fingerprint.is_not(None), t.scan_id <= until_scan)
        .where(t.kind.in_(kinds))
        .order_by(t.scan_id, t.id)
    )
    yield from conn.execute(query.execution_options(yield_per=5000))


def last_owners(conn: Connection, until_scan: int) -> dict[str, list[str]]:
    """Each key's owners in its last version up to UNTIL_SCAN."""
    kv = KeyVersion
    query = select(kv.key_name, kv.owners).where(kv.valid_from_scan_id + 0 <= until_scan)
    found: dict[str, list[str]] = {}
    for name, owners in conn.execute(query.order_by(kv.valid_from_scan_id)):
        found[name] = list(owners or [])
    return found
