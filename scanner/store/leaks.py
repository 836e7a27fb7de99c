"""Leak reports and LookupKey answers: written once per import, in one
transaction; read back by the scan (evidence per key) and by `leaks list`."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, insert, select
from sqlalchemy.dialects import postgresql, sqlite

from scanner.core.errors import StoreError
from scanner.core.models import LeakEvidence
from scanner.store.tables import KeyVersion, LeakImportRow, LeakLookupRow, LeakReportRow

CHUNK = 500


def check_fingerprint_key(conn: Connection, key_id: str) -> None:
    """Refuse to mix fingerprints made under two secrets: they would never match."""
    other = conn.scalar(
        select(func.count())
        .select_from(LeakImportRow)
        .where(LeakImportRow.fingerprint_key_id != key_id)
    )
    if other:
        raise StoreError(
            f"KEYSENTRY_FINGERPRINT_KEY is not the secret this database's {other} earlier "
            "leak import(s) used: their fingerprints would never match; set the same secret"
        )


def cached_lookups(conn: Connection) -> dict[str, tuple[str, str | None, str | None]]:
    """secret fingerprint -> (outcome, key name, parent)."""
    rows = conn.execute(
        select(
            LeakLookupRow.secret_fingerprint,
            LeakLookupRow.outcome,
            LeakLookupRow.key_name,
            LeakLookupRow.parent,
        )
    )
    return {fp: (outcome, name, parent) for fp, outcome, name, parent in rows}


def stored_sources(conn: Connection, fingerprints: Iterable[str]) -> set[str]:
    """Those of FINGERPRINTS (source fingerprints) already recorded."""
    wanted = list(fingerprints)
    found: set[str] = set()
    for start in range(0, len(wanted), CHUNK):
        found.update(
            conn.scalars(
                select(LeakReportRow.source_fingerprint).where(
                    LeakReportRow.source_fingerprint.in_(wanted[start : start + CHUNK])
                )
            )
        )
    return found


def numbered_key_name(name: str, numbers: Mapping[str, str]) -> str:
    """NAME with its project as a number, as the inventory names keys (LookupKey
    and audit entries may name the project by id)."""
    parts = name.split("/")
    if len(parts) == 6 and parts[0] == "projects" and not parts[1].isdigit():
        parts[1] = numbers.get(parts[1], parts[1])
    return "/".join(parts)


def leaked_key_names(conn: Connection, numbers: Mapping[str, str]) -> set[str]:
    names = conn.scalars(
        select(LeakReportRow.key_name).where(LeakReportRow.key_name.is_not(None)).distinct()
    )
    return {numbered_key_name(name, numbers) for name in names if name}


def project_numbers(conn: Connection, scan_id: int | None = None) -> dict[str, str]:
    """project id -> number, as the latest inventory (or scan SCAN_ID's) knows them."""
    kv = KeyVersion
    current = (
        kv.valid_to_scan_id.is_(None)
        if scan_id is None
        else (kv.valid_from_scan_id + 0 <= scan_id)
        & (kv.valid_to_scan_id.is_(None) | (kv.valid_to_scan_id > scan_id))
    )
    rows = conn.execute(
        select(kv.project_id, kv.project_number)
        .where(current, kv.project_id.is_not(None))
        .distinct()
    )
    return {pid: number for pid, number in rows if pid}


def record_import(
    conn: Connection,
    at: datetime,
    source: str,
    key_id: str,
    counts: dict[str, Any],
    reports: Sequence[dict[str, Any]],
    lookups: dict[str, tuple[str, str | None, str | None]],
) -> int:
    """The import row, its new reports and the lookups to cache; returns its id."""
    inserted = conn.execute(
        insert(LeakImportRow).values(at=at, source=source, fingerprint_key_id=key_id, counts=counts)
    ).inserted_primary_key
    assert inserted is not None
    import_id = inserted[0]
    make = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    for start in range(0, len(reports), CHUNK):
        rows = [{**r, "import_id": import_id} for r in reports[start : start + CHUNK]]
        conn.execute(
            make(LeakReportRow).on_conflict_do_nothing(index_elements=["source_fingerprint"]),
            rows,
        )
    rows = [
        {
            "secret_fingerprint": fp,
            "outcome": outcome,
            "key_name": name,
            "parent": parent,
            "looked_up_at": at,
        }
        for fp, (outcome, name, parent) in lookups.items()
    ]
    for start in range(0, len(rows), CHUNK):
        statement = make(LeakLookupRow)
        conn.execute(
            statement.on_conflict_do_update(
                index_elements=["secret_fingerprint"],
                set_={
                    "outcome": statement.excluded.outcome,
                    "key_name": statement.excluded.key_name,
                    "parent": statement.excluded.parent,
                    "looked_up_at": statement.excluded.looked_up_at,
                },
            ),
            rows[start : start + CHUNK],
        )
    return int(import_id)


def evidence(row: Any) -> LeakEvidence:
    return LeakEvidence(**{f: getattr(row, f) for f in LeakEvidence.__dataclass_fields__})


def last_leak_report(conn: Connection) -> int | None:
    """The newest report's id: reports are never changed, so a scan that read
    reports up to it can be shown later with exactly those."""
    return conn.scalar(select(func.max(LeakReportRow.id)))


def leaks_by_key_name(
    conn: Connection, numbers: Mapping[str, str], through: int | None = None
) -> dict[str, tuple[LeakEvidence, ...]]:
    """Matched reports per full key name, earliest first; only reports up to
    id THROUGH when given. A key's id may be chosen by its creator and its
    uid is another value, so only the whole name (with NUMBERS turning
    project ids into numbers) identifies it."""
    found: dict[str, list[LeakEvidence]] = {}
    query = select(LeakReportRow).where(LeakReportRow.key_name.is_not(None))
    if through is not None:
        query = query.where(LeakReportRow.id <= through)
    rows = conn.execute(
        query.order_by(
            LeakReportRow.first_reported.is_(None), LeakReportRow.first_reported, LeakReportRow.id
        )
    )
    for row in rows:
        found.setdefault(numbered_key_name(row.key_name, numbers), []).append(evidence(row))
    return {name: tuple(items) for name, items in found.items()}


def report_rows(conn: Connection, unmatched_only: bool = False) -> list[Any]:
    query = select(LeakReportRow).order_by(LeakReportRow.id)
    if unmatched_only:
        query = query.where(LeakReportRow.key_name.is_(None))
    return list(conn.execute(query))


def outcome_counts(conn: Connection) -> Counter[str]:
    rows = conn.execute(select(LeakReportRow.outcome, func.count()).group_by(LeakReportRow.outcome))
    return Counter({outcome: int(n) for outcome, n in rows})
