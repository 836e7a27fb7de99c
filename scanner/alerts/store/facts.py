"""The facts alerts carry about a key and a finding, read from history as a
scan saw them: the keys and findings of its transitions, the worst open
finding of a key, usage and accepted findings. Every open key with its
findings, for reminders and digests, is read by scanner.alerts.store.open_keys."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Connection, or_, select

from scanner.alerts.facts import FindingFacts, KeyFacts
from scanner.core.models import Severity
from scanner.store.queries import valid_at
from scanner.store.tables import FindingVersion, KeyVersion, UsageVersion

CHUNK = 500  # names per IN (...) query


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
    KeyVersion.api_targets,
    KeyVersion.application_restriction,
    KeyVersion.gemini_enabled,
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


def key_facts(row: Any) -> KeyFacts:
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
        api_targets=tuple(row.api_targets or ()),
        application_restriction=row.application_restriction,
        gemini_enabled=row.gemini_enabled,
    )


def finding_facts(row: Any) -> FindingFacts:
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


def chunks(values: list[str]) -> Iterator[list[str]]:
    for start in range(0, len(values), CHUNK):
        yield values[start : start + CHUNK]


def latest_keys(conn: Connection, scan_id: int, names: Iterable[str]) -> dict[str, KeyFacts]:
    """Each key as this scan saw it, or as it last was if this scan closed it."""
    found: dict[str, KeyFacts] = {}
    for chunk in chunks(sorted(set(names))):
        rows = conn.execute(
            select(KeyVersion)
            .where(KeyVersion.key_name.in_(chunk), KeyVersion.valid_from_scan_id <= scan_id)
            .order_by(KeyVersion.valid_from_scan_id.desc())
        )
        for row in rows:
            if row.key_name not in found:
                closed = row.valid_to_scan_id is not None and row.valid_to_scan_id <= scan_id
                found[row.key_name] = key_facts(row)._replace(gone=closed)
    return found


def usage_of(
    conn: Connection, scan_id: int, names: Iterable[str]
) -> dict[str, tuple[datetime | None, int]]:
    """Key name -> (last used, requests in 7 days) as the scan knew them; keys
    whose usage was not read are absent."""
    uv = UsageVersion
    found: dict[str, tuple[datetime | None, int]] = {}
    for chunk in chunks(sorted(set(names))):
        rows = conn.execute(
            select(uv.key_name, uv.last_used, uv.requests_7d).where(
                uv.key_name.in_(chunk), valid_at(uv, scan_id)
            )
        )
        for name, last_used, requests in rows:
            found[name] = (last_used, int(requests))
    return found


def latest_findings(
    conn: Connection, scan_id: int, fingerprints: Iterable[str]
) -> dict[str, FindingFacts]:
    found: dict[str, FindingFacts] = {}
    for chunk in chunks(sorted(set(fingerprints))):
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
            found.setdefault(row.fingerprint, finding_facts(row))
    return found


def worst_open_findings(conn: Connection, scan_id: int, names: set[str]) -> dict[str, FindingFacts]:
    worst: dict[str, FindingFacts] = {}
    for chunk in chunks(sorted(names)):
        rows = conn.execute(
            select(FindingVersion).where(
                FindingVersion.key_name.in_(chunk),
                valid_at(FindingVersion, scan_id),
                FindingVersion.accepted_by.is_(None),
            )
        )
        for row in rows:
            facts = finding_facts(row)
            best = worst.get(row.key_name)
            if best is None or Severity(facts.severity).rank > Severity(best.severity).rank:
                worst[row.key_name] = facts
    return worst


def accepted_findings(
    conn: Connection, scan_id: int, exceptions: set[str] | None = None
) -> Iterator[tuple[KeyFacts, FindingFacts, str]]:
    """The findings EXCEPTIONS (None: any exception) accept at SCAN_ID, with
    the exception's id."""
    fv = FindingVersion
    which = (
        fv.accepted_by.is_not(None)
        if exceptions is None
        else fv.accepted_by.in_(sorted(exceptions))
    )
    rows = conn.execute(
        select(*_KEY_COLUMNS, *_FINDING_COLUMNS, fv.accepted_by)
        .join(fv, fv.key_name == KeyVersion.key_name)
        .where(valid_at(KeyVersion, scan_id), valid_at(fv, scan_id), which)
        .order_by(KeyVersion.key_name, fv.rule_id)
    )
    for row in rows:
        yield key_facts(row), finding_facts(row), row.accepted_by


def keys_with_findings(
    conn: Connection, scan_id: int, by: Literal["fingerprint", "deadline"], values: Iterable[Any]
) -> set[str]:
    """Names of the keys with a finding open at SCAN_ID, that no exception
    accepts, whose fingerprint or deadline (BY) is one of VALUES."""
    fv = FindingVersion
    column = fv.fingerprint if by == "fingerprint" else fv.deadline
    found: set[str] = set()
    ordered = sorted(set(values))
    for start in range(0, len(ordered), CHUNK):
        chunk = ordered[start : start + CHUNK]
        query = select(fv.key_name).where(
            column.in_(chunk), valid_at(fv, scan_id), fv.accepted_by.is_(None)
        )
        found.update(conn.scalars(query))
    return found
