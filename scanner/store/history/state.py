"""What is current in history: the open key, usage and finding intervals a
scan diffs against, as small tuples. Keys are read all at once; findings
only for the keys whose findings digest moved (store.history_findings), and,
when the scan kept keys' judgements, streamed once for the figures."""

from __future__ import annotations

import gc
import sys
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import Connection, Select, and_, exists, select

from scanner.store.driver import converted_rows, raw_batches
from scanner.store.tables import FindingVersion, KeyVersion, UsageVersion

_STREAM = 20_000
_KEY_BATCH = 2_000


class OpenKey(NamedTuple):
    # The digests as bytes (packed): half the memory of their text, at a
    # million keys a hundred megabytes.
    id: int
    content_hash: bytes
    status: str
    score: int
    usage_id: int | None
    usage_hash: bytes | None
    findings_hash: bytes | None
    source_hash: bytes | None
    # What a scan that keeps the version's judgement without the key's record
    # reads of it: the clock's input, and what the figures count it by.
    created: datetime | None
    deleted: bool
    key_type: str
    project_number: str
    project_id: str | None


def packed(digest: str | None) -> bytes | None:
    """A digest as OpenKey holds it."""
    return None if digest is None else bytes.fromhex(digest)


class OpenFinding(NamedTuple):
    id: int
    state_hash: str
    severity: str
    rule_id: str
    key_name: str
    accepted_by: str | None


def open_keys(
    conn: Connection, names: Sequence[str] | None = None
) -> tuple[dict[str, OpenKey], list[int]]:
    """Current keys by name, each with its current usage interval; and the
    ids of usage intervals whose key is no longer current (the schema before
    0010 kept figures of keys that left), which the scan closes. With NAMES,
    only those keys, and no such intervals (a scan of a few keys)."""
    kv, uv = KeyVersion, UsageVersion
    open_usage = and_(uv.key_name == kv.key_name, uv.valid_to_scan_id.is_(None))
    query = (
        select(
            kv.id,
            kv.key_name,
            kv.content_hash,
            kv.status,
            kv.score,
            kv.findings_hash,
            uv.id.label("usage_id"),
            uv.content_hash.label("usage_hash"),
            kv.source_hash,
            kv.created_at,
            kv.deleted_at.is_not(None),
            kv.key_type,
            kv.project_number,
            kv.project_id,
        )
        .outerjoin(uv, open_usage)
        .where(kv.valid_to_scan_id.is_(None))
    )
    keys: dict[str, OpenKey] = {}
    # A million tuples that hold no cycles: with the collector on, each of its
    # passes while they are built walks all those built before (a quarter of
    # the read's time at 300k keys).
    if names is not None:
        for start in range(0, len(names), 500):
            chunk = names[start : start + 500]
            _read_open_keys(conn, query.where(kv.key_name.in_(chunk)), keys)
        return keys, []
    collecting = gc.isenabled()
    gc.disable()
    try:
        _read_open_keys(conn, query, keys)
    finally:
        if collecting:
            gc.enable()
    current = select(kv.id).where(kv.key_name == uv.key_name, kv.valid_to_scan_id.is_(None))
    orphans = list(
        conn.scalars(select(uv.id).where(uv.valid_to_scan_id.is_(None), ~exists(current)))
    )
    return keys, orphans


def _read_open_keys(
    conn: Connection, query: Select[*tuple[Any, ...]], keys: dict[str, OpenKey]
) -> None:
    intern, fromhex = sys.intern, bytes.fromhex
    # Interned: a finding's key name and rule id share one string with the
    # key's entry, and a project's keys share its number and id, which keeps
    # these maps small at a million keys.
    for (
        key_id,
        name,
        content_hash,
        status,
        score,
        findings_hash,
        usage_id,
        usage_hash,
        source_hash,
        created,
        deleted,
        key_type,
        number,
        project_id,
    ) in converted_rows(conn, query, _KEY_BATCH):
        keys[intern(name)] = OpenKey(
            key_id,
            fromhex(content_hash),
            intern(status),
            score,
            usage_id,
            usage_hash and fromhex(usage_hash),
            findings_hash and fromhex(findings_hash),
            source_hash and fromhex(source_hash),
            created,
            bool(deleted),
            intern(key_type),
            intern(number),
            project_id and intern(project_id),
        )


def resolved_before(conn: Connection) -> bool:
    """Whether any finding was ever resolved: only then can a new fingerprint
    be a reopening."""
    fv = FindingVersion
    found = conn.scalar(select(fv.id).where(fv.valid_to_scan_id.is_not(None)).limit(1))
    return found is not None


def subjects_with_findings(conn: Connection) -> Iterator[str]:
    """Every key or project that has an open finding, once each."""
    fv = FindingVersion
    query = select(fv.key_name).where(fv.valid_to_scan_id.is_(None)).distinct()
    for batch in raw_batches(conn, query, _STREAM):
        for (subject,) in batch:
            yield subject


def open_findings_of(conn: Connection, subjects: list[str]) -> dict[str, OpenFinding]:
    """The open findings of SUBJECTS (a few hundred at a time) by fingerprint."""
    fv = FindingVersion
    query = select(
        fv.id,
        fv.fingerprint,
        fv.state_hash,
        fv.severity,
        fv.rule_id,
        fv.key_name,
        fv.accepted_by,
    ).where(fv.valid_to_scan_id.is_(None), fv.key_name.in_(subjects))
    found: dict[str, OpenFinding] = {}
    for f in conn.execute(query):
        found[f.fingerprint] = OpenFinding(
            f.id,
            f.state_hash,
            sys.intern(f.severity),
            sys.intern(f.rule_id),
            sys.intern(f.key_name),
            f.accepted_by and sys.intern(f.accepted_by),
        )
    return found


def open_finding_facts(conn: Connection) -> Iterator[Sequence[Any]]:
    """Every open finding as (subject, rule id, severity, deadline, timeline
    entry, accepted by, deadline kind), a subject's together: what the
    figures count of it.
    The deadline is as the database returns it (on SQLite, the ISO text it
    keeps: a repeat scan reads every open finding, and converting each row
    costs more than reading it); FiguresTally reads either."""
    fv = FindingVersion
    query = (
        select(fv.key_name, fv.rule_id, fv.severity, fv.deadline, fv.timeline_entry, fv.accepted_by)
        .add_columns(fv.deadline_kind)
        .where(fv.valid_to_scan_id.is_(None))
        .order_by(fv.key_name)
    )
    for batch in raw_batches(conn, query, _STREAM):
        yield from batch


def display_names(conn: Connection, names: list[str]) -> dict[str, str]:
    """The display names of NAMES' open versions (a few hundred keys)."""
    kv = KeyVersion
    query = select(kv.key_name, kv.display_name).where(
        kv.valid_to_scan_id.is_(None), kv.key_name.in_(names)
    )
    return {name: display for name, display in conn.execute(query)}
