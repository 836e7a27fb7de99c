"""What history holds about one key, row by row: its versions, transitions,
audit events, leak reports and usage, each in the order it was written.
The report (report.key_history) makes a story of them."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, Select, func, or_, select

from scanner.store.tables import (
    FindingVersion,
    KeyEventRow,
    KeyVersion,
    LeakReportRow,
    Scan,
    Transition,
    UsageVersion,
)


def key_names(conn: Connection, wanted: str) -> list[str]:
    """The full names of the keys named WANTED, with the uid WANTED or the key
    id WANTED (the last part of the name: projects/P/locations/global/keys/ID)."""
    kv = KeyVersion
    matches = [kv.key_name == wanted, kv.uid == wanted]
    if "/" not in wanted:
        matches.append(kv.key_name.endswith(f"/keys/{wanted}"))
    query = select(kv.key_name).where(or_(*matches)).distinct()
    return sorted(set(conn.scalars(query)))


def _latest_versions(keys: ColumnElement[bool]) -> Select[Any]:
    """The id of the latest version of each key KEYS selects."""
    kv = KeyVersion
    return select(func.max(kv.id)).where(keys).group_by(kv.key_name)


def keys_displayed_as(conn: Connection, wanted: str) -> list[tuple[str, str, str, str]]:
    """(name, uid, project, display name) of each key whose latest version is
    displayed as WANTED, whatever the case (a key renamed since is not)."""
    kv = KeyVersion
    named = func.lower(kv.display_name) == wanted.lower()
    latest = _latest_versions(kv.key_name.in_(select(kv.key_name).where(named)))
    rows = conn.execute(
        select(kv.key_name, kv.uid, kv.project_id, kv.project_number, kv.display_name)
        .where(kv.id.in_(latest), named)
        .order_by(kv.project_id, kv.key_name)
    )
    return [(r.key_name, r.uid, r.project_id or r.project_number, r.display_name) for r in rows]


def display_names(conn: Connection) -> list[str]:
    """Every display name history holds, once."""
    return sorted(n for n in conn.scalars(select(KeyVersion.display_name).distinct()) if n)


def key_labels(conn: Connection, names: Iterable[str]) -> dict[str, tuple[str, str, list[str]]]:
    """Name -> (project id, display name, owners) of each of NAMES, from its
    latest version."""
    kv = KeyVersion
    wanted = list(set(names))
    labels: dict[str, tuple[str, str, list[str]]] = {}
    for start in range(0, len(wanted), 500):
        latest = _latest_versions(kv.key_name.in_(wanted[start : start + 500]))
        rows = conn.execute(
            select(kv.key_name, kv.project_id, kv.project_number, kv.display_name, kv.owners).where(
                kv.id.in_(latest)
            )
        )
        for r in rows:
            project = r.project_id or r.project_number
            labels[r.key_name] = (project, r.display_name, list(r.owners or []))
    return labels


def key_uid(conn: Connection, name: str) -> str:
    return str(conn.scalar(select(KeyVersion.uid).where(KeyVersion.key_name == name).limit(1)))


def scan_times(conn: Connection) -> dict[int, datetime]:
    """When each successful scan was evaluated, by id."""
    rows = conn.execute(select(Scan.id, Scan.evaluated_at).where(Scan.status == "succeeded"))
    return {row.id: row.evaluated_at for row in rows}


def key_versions(conn: Connection, name: str) -> list[Any]:
    kv = KeyVersion
    return list(conn.execute(select(kv).where(kv.key_name == name).order_by(kv.valid_from_scan_id)))


def last_finding_versions(conn: Connection, fingerprints: Iterable[str]) -> dict[str, Any]:
    """Rule id -> the latest version of each finding of FINGERPRINTS."""
    fv = FindingVersion
    query = select(fv).where(fv.fingerprint.in_(list(fingerprints)))
    latest: dict[str, Any] = {}
    for row in conn.execute(query.order_by(fv.valid_from_scan_id)):
        latest[row.rule_id] = row
    return latest


def key_transitions(conn: Connection, name: str) -> list[dict[str, Any]]:
    t = Transition
    rows = conn.execute(select(t).where(t.key_name == name).order_by(t.scan_id, t.id))
    return [
        {
            "scan": row.scan_id,
            "at": row.at,
            "kind": row.kind,
            "rule": row.rule_id,
            "from": row.from_value,
            "to": row.to_value,
            "reason": row.reason,
            "exception": row.exception_id,
        }
        for row in rows
    ]


def key_events(conn: Connection, name: str) -> list[dict[str, Any]]:
    e = KeyEventRow
    rows = conn.execute(select(e).where(e.key_name == name).order_by(e.at, e.id))
    return [
        {
            "at": row.at,
            "method": row.method,
            "by": row.principal,
            "restrictions_removed": row.restrictions_removed,
            "caller_ip": row.caller_ip,
            "scan": row.scan_id,
        }
        for row in rows
    ]


def key_leak_reports(conn: Connection, names: set[str]) -> list[dict[str, Any]]:
    """The leak reports filed against any of NAMES (a key by number and by id)."""
    r = LeakReportRow
    rows = conn.execute(select(r).where(r.key_name.in_(names)).order_by(r.id))
    return [
        {
            "tool": row.tool,
            "redacted": row.redacted,
            "repository": row.repository,
            "file": row.file,
            "line": row.line,
            "link": row.link,
            "first_reported": row.first_reported,
            "verified": row.verified,
            "scanner_status": row.scanner_status,
        }
        for row in rows
    ]


def key_usage_versions(conn: Connection, name: str, fields: Iterable[str]) -> list[dict[str, Any]]:
    uv = UsageVersion
    rows = conn.execute(select(uv).where(uv.key_name == name).order_by(uv.valid_from_scan_id))
    return [
        {"from_scan": row.valid_from_scan_id, "to_scan": row.valid_to_scan_id}
        | {f: getattr(row, f) for f in fields}
        | {"services": row.services or [], "covered_days": row.covered_days}
        for row in rows
    ]
