"""The open keys of some projects, or bound to some service accounts, as
history holds them: what a feed scan judges again when a context change
(an IAM policy, a Gemini service) reaches them (scanner.feed.keys). Their
names first, then their versions a few hundred at a time, so that a change
reaching every key never holds them all. What the other sources add
(usage, leaks, creator) is added again by the enricher, as for a listed key."""

from __future__ import annotations

from collections.abc import Collection, Iterator
from typing import Any

from sqlalchemy import Connection, func, select

from scanner.core.models import AppRestriction, KeyRecord, KeyType
from scanner.store.tables import KeyVersion

_CHUNK = 500


def open_key_names(
    conn: Connection, projects: Collection[str], service_accounts: Collection[str]
) -> list[str]:
    """The keys open in history of PROJECTS (numbers) or bound to
    SERVICE_ACCOUNTS (emails, lowercase), in name order."""
    kv = KeyVersion
    found: set[str] = set()
    for chunk in _chunks(sorted(projects)):
        query = select(kv.key_name).where(
            kv.valid_to_scan_id.is_(None), kv.project_number.in_(chunk)
        )
        found.update(conn.scalars(query))
    for chunk in _chunks(sorted(service_accounts)):
        bound = func.lower(kv.service_account).in_(chunk)
        found.update(conn.scalars(select(kv.key_name).where(kv.valid_to_scan_id.is_(None), bound)))
    return sorted(found)


def open_key_records(conn: Connection, names: Collection[str]) -> list[KeyRecord]:
    """The open version of each of NAMES (at most a few hundred: one query)."""
    kv = KeyVersion
    query = select(kv).where(kv.valid_to_scan_id.is_(None), kv.key_name.in_(sorted(names)))
    return sorted((_record(r) for r in conn.execute(query)), key=lambda r: r.name)


def _chunks(values: list[str]) -> Iterator[list[str]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]


def _record(row: Any) -> KeyRecord:
    """A key version as the key it describes (the inverse of
    scanner.store.history.rows.key_row)."""
    return KeyRecord(
        name=row.key_name,
        uid=row.uid,
        project_number=row.project_number,
        project_id=row.project_id,
        display_name=row.display_name,
        created=row.created_at,
        updated=row.updated_at,
        deleted=row.deleted_at,
        key_type=KeyType(row.key_type),
        service_account=row.service_account,
        api_targets=tuple(row.api_targets),
        application_restriction=AppRestriction(row.application_restriction),
        application_values=tuple(row.application_values),
        annotations=tuple(sorted((str(k), str(v)) for k, v in row.annotations.items())),
        gemini_enabled=row.gemini_enabled,
        owners=tuple(row.owners),
        creator=row.creator,
        key_admins=tuple(row.key_admins),
        etag=row.etag,
        api_methods=tuple((s, tuple(m)) for s, m in sorted((row.api_methods or {}).items())),
    )
