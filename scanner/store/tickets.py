"""The tickets of groups of findings: read, claimed by one worker at a time,
and saved after each remote call that changed something."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from scanner.store.side_tables import TicketRow


@dataclass(frozen=True, slots=True)
class Ticket:
    group_id: str
    receiver: str
    title: str
    state: str  # new | open | resolved
    remote_key: str | None
    remote_id: str | None
    url: str | None
    digest: str | None
    fingerprints: tuple[str, ...]
    key_names: tuple[str, ...]
    create_attempted_at: datetime | None
    declined: str | None


def tickets(conn: Connection) -> dict[str, Ticket]:
    t = TicketRow
    rows = conn.execute(
        select(
            t.group_id, t.receiver, t.title, t.state, t.remote_key, t.remote_id, t.url,
            t.digest, t.fingerprints, t.key_names, t.create_attempted_at, t.declined,
        )
    )  # fmt: skip
    return {
        row[0]: Ticket(*row[:8], tuple(row[8] or ()), tuple(row[9] or ()), row[10], row[11])
        for row in rows
    }


def claim(
    conn: Connection, group_id: str, receiver: str, title: str, owner: str, now: datetime,
    lease: float,
) -> bool:  # fmt: skip
    """Whether OWNER now holds GROUP_ID's lease (a new group is added first)."""
    make = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    conn.execute(
        make(TicketRow)
        .values(
            group_id=group_id,
            receiver=receiver,
            title=title,
            state="new",
            fingerprints=[],
            key_names=[],
            updated_at=now,
        )
        .on_conflict_do_nothing(index_elements=["group_id"])
    )
    t = TicketRow
    taken = conn.execute(
        update(t)
        .where(t.group_id == group_id, or_(t.lease_until.is_(None), t.lease_until < now))
        .values(lease_owner=owner, lease_until=now + timedelta(seconds=lease))
    )
    return taken.rowcount == 1


def save(conn: Connection, group_id: str, owner: str, now: datetime, **values: Any) -> None:
    """VALUES for GROUP_ID, and its lease released (only by its holder)."""
    t = TicketRow
    conn.execute(
        update(t)
        .where(t.group_id == group_id, t.lease_owner == owner)
        .values(**values, lease_owner=None, lease_until=None, updated_at=now)
    )


def save_attempt(conn: Connection, group_id: str, owner: str, now: datetime) -> None:
    """A create is about to be sent for GROUP_ID (the lease is kept)."""
    t = TicketRow
    conn.execute(
        update(t)
        .where(t.group_id == group_id, t.lease_owner == owner)
        .values(create_attempted_at=now)
    )


def mark_declined(conn: Connection, group_id: str, resolution: str) -> None:
    t = TicketRow
    conn.execute(update(t).where(t.group_id == group_id).values(declined=resolution))


TICKET_COLUMNS = ("receiver", "ticket", "url", "state", "declined", "title", "keys")


def ticket_rows(conn: Connection) -> list[dict[str, Any]]:
    """Every ticket as a row of the evidence pack, by receiver and title."""
    found = [
        {
            "receiver": t.receiver,
            "ticket": t.remote_key,
            "url": t.url,
            "state": t.state,
            "declined": t.declined,
            "title": t.title,
            "keys": " ".join(t.key_names),
        }
        for t in tickets(conn).values()
        if t.remote_key
    ]
    return sorted(found, key=lambda row: (row["receiver"], row["title"]))
