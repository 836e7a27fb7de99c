"""Every key a scan saw that is not deleted, with its usage and its open
findings, read a key at a time in name order: what digest lines, reminders
and previews are made of. Three streamed queries merged in Python (scanner.store.ordered), so
that planning holds one key's findings at a time, not every finding."""

from __future__ import annotations

import sys
from collections.abc import Collection, Iterator, Sequence
from datetime import date
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, Select, String, select, type_coerce
from sqlalchemy.orm import InstrumentedAttribute

from scanner.alerts.facts import FindingFacts, KeyFacts
from scanner.core.models import KeyStatus
from scanner.store.ordered import by_name, grouped, matched
from scanner.store.queries import valid_at
from scanner.store.tables import FindingVersion, KeyVersion, UsageVersion

# Names per read: three queries each, and PostgreSQL's server-side cursors
# cost round trips; the keys of a day's reminders are thousands.
NAMES = 5000


def open_keys(
    conn: Connection,
    scan_id: int,
    names: Collection[str] | None = None,
    *,
    routing_only: bool = False,
) -> Iterator[tuple[KeyFacts, list[FindingFacts], list[FindingFacts]]]:
    """Each key at SCAN_ID that is not deleted and has open findings (of
    NAMES only, when given), with the findings no exception accepts and those
    one does: accepted findings bring no reminders and no digest lines, but a
    digest counts their keys. ROUTING_ONLY reads only what routes and orders
    keys (no summaries, checklists or restrictions): facts never rendered."""
    if names is None:
        yield from _merged(conn, scan_id, None, routing_only)
        return
    ordered = sorted(set(names))
    for start in range(0, len(ordered), NAMES):
        yield from _merged(conn, scan_id, ordered[start : start + NAMES], routing_only)


def _merged(
    conn: Connection, scan_id: int, names: list[str] | None, routing_only: bool
) -> Iterator[tuple[KeyFacts, list[FindingFacts], list[FindingFacts]]]:
    kv, fv, uv = KeyVersion, FindingVersion, UsageVersion
    shown = () if routing_only else (kv.api_targets, kv.application_restriction, kv.gemini_enabled)
    keys = by_name(
        conn,
        _among(
            select(
                kv.key_name,
                kv.uid,
                kv.display_name,
                kv.project_id,
                kv.project_number,
                kv.key_type,
                kv.status,
                kv.score,
                kv.owners,
                kv.creator,
                *shown,
            ).where(valid_at(kv, scan_id), kv.status != KeyStatus.DELETED.value),
            kv.key_name,
            names,
        ),
        kv.key_name,
    )
    usage = by_name(
        conn,
        _among(
            select(uv.key_name, uv.last_used, uv.requests_7d).where(valid_at(uv, scan_id)),
            uv.key_name,
            names,
        ),
        uv.key_name,
    )
    deadline = type_coerce(fv.deadline, String)  # parsed below: SQLAlchemy's parser is slower
    columns = (
        (fv.fingerprint, fv.rule_id, fv.severity, deadline)
        if routing_only
        else (
            fv.fingerprint,
            fv.rule_id,
            fv.severity,
            fv.summary,
            fv.checklist,
            deadline,
            fv.deadline_kind,
            fv.timeline_entry,
        )
    )
    findings = by_name(
        conn,
        _among(
            select(fv.key_name, *columns, fv.accepted_by).where(valid_at(fv, scan_id)),
            fv.key_name,
            names,
        ),
        fv.key_name,
    )
    facts = _routing_facts if routing_only else _facts
    with_usage = matched(keys, usage)
    current = next(with_usage, None)
    for name, rows in grouped(findings):
        while current is not None and current[0][0] < name:
            current = next(with_usage, None)
        if current is None:
            return
        if current[0][0] == name:  # else the key is deleted: its findings are no news
            open_: list[FindingFacts] = []
            accepted: list[FindingFacts] = []
            for row in rows:
                (open_ if row[-1] is None else accepted).append(facts(row))
            yield _key(*current), open_, accepted


def _among(
    query: Select[*tuple[Any, ...]], name: InstrumentedAttribute[str], names: list[str] | None
) -> Select[*tuple[Any, ...]]:
    return query if names is None else query.where(name.in_(names))


def _key(row: Sequence[Any], usage: Sequence[Any] | None) -> KeyFacts:
    (name, uid, display_name, project_id, number, key_type, status, score) = row[:8]
    owners, creator = row[8:10]
    api_targets, restriction, gemini = row[10:] if len(row) > 10 else ((), "none", None)
    return KeyFacts(
        name=name,
        uid=uid,
        display_name=display_name,
        project=sys.intern(project_id or number),
        project_number=sys.intern(number),
        key_type=sys.intern(key_type),
        status=sys.intern(status),
        score=score,
        owners=tuple(owners or ()),
        creator=creator,
        api_targets=tuple(api_targets or ()),
        application_restriction=sys.intern(restriction),
        gemini_enabled=gemini,
        last_used=usage[1] if usage is not None else None,
        requests_7d=int(usage[2]) if usage is not None else None,
    )


@lru_cache(maxsize=4096)
def _day(value: str | date | None) -> date | None:
    # Text on SQLite; PostgreSQL's driver gives a date. Deadlines repeat.
    return date.fromisoformat(value) if isinstance(value, str) else value


def _facts(row: Sequence[Any]) -> FindingFacts:
    # Rules, severities, checklists and timeline entries repeat across findings
    # (and projects, types and states across keys): one string each, as
    # store.history_state keeps them.
    _, fingerprint, rule, severity, summary, checklist, deadline, kind, entry, _ = row
    return FindingFacts(
        fingerprint,
        sys.intern(rule),
        sys.intern(severity),
        summary,
        sys.intern(checklist),
        _day(deadline),
        kind,
        entry if entry is None else sys.intern(entry),
    )


def _routing_facts(row: Sequence[Any]) -> FindingFacts:
    _, fingerprint, rule, severity, deadline, _ = row  # passing through: not interned
    return FindingFacts(fingerprint, rule, severity, "", "", _day(deadline), None, None)
