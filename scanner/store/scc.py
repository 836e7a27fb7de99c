"""What was last published to Security Command Center, by finding."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, select
from sqlalchemy.dialects import postgresql, sqlite

from scanner.store.side_tables import SccFindingRow


@dataclass(frozen=True, slots=True)
class Published:
    fingerprint: str
    key_name: str
    digest: str
    state: str  # ACTIVE | INACTIVE
    muted: bool


def published(conn: Connection) -> dict[str, Published]:
    rows = conn.execute(
        select(
            SccFindingRow.fingerprint,
            SccFindingRow.key_name,
            SccFindingRow.digest,
            SccFindingRow.state,
            SccFindingRow.muted,
        )
    )
    return {row[0]: Published(*row) for row in rows}


def record(conn: Connection, done: Sequence[Published], at: datetime) -> None:
    """DONE as published at AT: each row replaced by its newest state."""
    if not done:
        return
    make = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    rows = [
        {
            "fingerprint": p.fingerprint,
            "key_name": p.key_name,
            "digest": p.digest,
            "state": p.state,
            "muted": p.muted,
            "synced_at": at,
        }
        for p in done
    ]
    statement = make(SccFindingRow)
    conn.execute(
        statement.on_conflict_do_update(
            index_elements=["fingerprint"],
            set_={
                c: statement.excluded[c]
                for c in ("key_name", "digest", "state", "muted", "synced_at")
            },
        ),
        rows,
    )
