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


_COLUMNS = (
    TicketRow.group_id, TicketRow.receiver, TicketRow.title, TicketRow.state,
    TicketRow.remote_key, TicketRow.remote_id, TicketRow.url, TicketRow.digest,
    TicketRow.fingerprints, TicketRow.key_names, TicketRow.create_attempted_at,
    TicketRow.declined,
)  # fmt: skip


def _ticket(row: Any) -> Ticket:
    values = list(row)
    values[8], values[9] = tuple(values[8] or ()), tuple(values[9] or ())
    return Ticket(*values)


def tickets(conn: Connection) -> dict[str, Ticket]:
    return {row[0]: _ticket(row) for row in conn.execute(select(*_COLUMNS))}


def by_group(conn: Connection, group_ids: list[str]) -> dict[str, Ticket]:
    """The tickets made for GROUP_IDS (a group without one yet is left out)."""
    found: dict[str, Ticket] = {}
    for start in range(0, len(group_ids), 500):
        chunk = group_ids[start : start + 500]
        rows = conn.execute(
            select(*_COLUMNS).where(
                TicketRow.group_id.in_(chunk), TicketRow.remote_key.is_not(None)
            )
        )
        found |= {row[0]: _ticket(row) for row in rows}
    return found


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
