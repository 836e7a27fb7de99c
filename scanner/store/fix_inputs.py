"""What a fix plan reads of one scan: the open findings a restriction would
resolve, and the keys that have them with the usage that says which APIs
they call."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from typing import Any

from sqlalchemy import Connection, select

from scanner.store.queries import valid_at
from scanner.store.tables import FindingVersion, KeyVersion, UsageVersion

_BATCH = 500


def unaccepted_findings(
    conn: Connection, scan_id: int, rules: tuple[str, ...]
) -> dict[str, list[str]]:
    """Key name -> the open, unaccepted findings of RULES, by rule id."""
    fv = FindingVersion
    query = select(fv.key_name, fv.rule_id).where(
        valid_at(fv, scan_id), fv.accepted_by.is_(None), fv.rule_id.in_(rules)
    )
    found: dict[str, list[str]] = defaultdict(list)
    for name, rule in conn.execute(query):
        found[name].append(rule)
    return found


def keys_with_usage(conn: Connection, scan_id: int, names: list[str]) -> Iterator[tuple[Any, Any]]:
    """Each key version valid at SCAN_ID among NAMES, with its usage row or None."""
    kv, uv = KeyVersion, UsageVersion
    for start in range(0, len(names), _BATCH):
        batch = names[start : start + _BATCH]
        usage = {
            row.key_name: row
            for row in conn.execute(
                select(uv.key_name, uv.lookback_days, uv.services, uv.covered_days).where(
                    uv.key_name.in_(batch), valid_at(uv, scan_id)
                )
            )
        }
        query = select(
            kv.key_name,
            kv.uid,
            kv.project_id,
            kv.project_number,
            kv.display_name,
            kv.api_targets,
            kv.etag,
            kv.deleted_at,
        ).where(kv.key_name.in_(batch), valid_at(kv, scan_id))
        for key in conn.execute(query.order_by(kv.key_name)):
            yield key, usage.get(key.key_name)
