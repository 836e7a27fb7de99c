"""History over a window of scans, counted: the scans in it and before it,
and what each opened, resolved and held open."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, case, func, select

from scanner.core.models import KeyStatus
from scanner.store.queries import valid_at
from scanner.store.tables import FindingVersion, KeyVersion, Scan, Transition, UsageVersion


def window_scans(conn: Connection, since: datetime, until: datetime) -> list[Any]:
    return list(
        conn.execute(
            select(Scan)
            .where(Scan.status == "succeeded", Scan.evaluated_at >= since)
            .where(Scan.evaluated_at <= until)
            .order_by(Scan.id)
        )
    )


def scan_before(conn: Connection, since: datetime) -> Any | None:
    """The last successful scan before the window: the state at its start."""
    return conn.execute(
        select(Scan)
        .where(Scan.status == "succeeded", Scan.evaluated_at < since)
        .order_by(Scan.evaluated_at.desc(), Scan.id.desc())
        .limit(1)
    ).first()


def first_scan_id(conn: Connection) -> int | None:
    return conn.scalar(select(func.min(Scan.id)).where(Scan.status == "succeeded"))


def finding_moves(conn: Connection, scan_ids: list[int]) -> Iterator[tuple[int, str, int]]:
    """(scan, kind, count) of the findings each of SCAN_IDS opened,
    reopened or resolved."""
    t = Transition
    rows = conn.execute(
        select(t.scan_id, t.kind, func.count())
        .where(t.scan_id.in_(scan_ids), t.kind.in_(("opened", "reopened", "resolved")))
        .group_by(t.scan_id, t.kind)
    )
    for scan_id, kind, count in rows:
        yield int(scan_id), str(kind), int(count)


def open_findings_by_rule(conn: Connection, scan_id: int, rules: set[str]) -> dict[str, int]:
    """Rule -> findings of RULES open at SCAN_ID."""
    fv = FindingVersion
    rows = conn.execute(
        select(fv.rule_id, func.count())
        .where(valid_at(fv, scan_id), fv.rule_id.in_(sorted(rules)))
        .group_by(fv.rule_id)
    )
    return {rule: int(n) for rule, n in rows}


def keys_without_requests(conn: Connection, scan_id: int) -> tuple[int, int]:
    """(keys not deleted at SCAN_ID whose usage was read, of them those that
    served no request in the 30 days before it)."""
    u, kv = UsageVersion, KeyVersion
    read, idle = conn.execute(
        select(func.count(), func.coalesce(func.sum(case((u.requests_30d == 0, 1), else_=0)), 0))
        .join(kv, kv.key_name == u.key_name)
        .where(valid_at(u, scan_id), valid_at(kv, scan_id), kv.status != KeyStatus.DELETED.value)
    ).one()
    return int(read), int(idle)


def keys_failing(conn: Connection, scan_id: int, rules: tuple[str, ...]) -> tuple[int, int]:
    """(keys with an open finding of RULES at SCAN_ID that no exception
    accepts, keys whose only such findings an exception accepts)."""
    fv = FindingVersion
    rows = conn.execute(
        select(fv.key_name, func.min(case((fv.accepted_by.is_(None), 0), else_=1)))
        .where(valid_at(fv, scan_id), fv.rule_id.in_(sorted(rules)))
        .group_by(fv.key_name)
    )
    failing = accepted = 0
    for _, all_accepted in rows:
        if all_accepted:
            accepted += 1
        else:
            failing += 1
    return failing, accepted
