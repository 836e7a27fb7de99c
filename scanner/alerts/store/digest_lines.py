"""The digest-line tables behind scanner.alerts.plan.lines: the lines of each
target, the targets with their figures, the keys routed to owners nobody
knows, and the scan and routing the lines stand for."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Table, delete, func, insert, select, true, update

from scanner.alerts.store.facts import CHUNK
from scanner.store.bulk import BulkTable
from scanner.store.tables import DigestLine, DigestLineState, DigestTarget, UnownedKey


class DigestLines:
    """The digest-line tables as CONN sees them."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self._lines = BulkTable(DigestLine.__table__, conn.dialect.name)  # type: ignore[arg-type]
        self._unowned = BulkTable(UnownedKey.__table__, conn.dialect.name)  # type: ignore[arg-type]

    def state(self) -> tuple[int, str] | None:
        """The scan the lines stand for and the routing they were made under."""
        row = self.conn.execute(
            select(DigestLineState.scan_id, DigestLineState.routing).where(DigestLineState.id == 1)
        ).first()
        return None if row is None else (row.scan_id, row.routing)

    def stand_for(self, scan_id: int, routing: str) -> None:
        self.conn.execute(delete(DigestLineState))
        self.conn.execute(insert(DigestLineState).values(id=1, scan_id=scan_id, routing=routing))

    def clear(self) -> None:
        for model in (DigestLine, DigestTarget, UnownedKey):
            self.conn.execute(delete(model))

    @contextmanager
    def loading(self) -> Iterator[None]:
        """Around a load of every line: the indexes are built once after it,
        cheaper than kept up a line at a time."""
        table: Table = DigestLine.__table__  # type: ignore[assignment]
        indexes = sorted(table.indexes, key=lambda index: str(index.name))
        for index in indexes:
            index.drop(self.conn)
        yield
        for index in indexes:
            index.create(self.conn)
        if self.conn.dialect.name == "postgresql":
            # Its planner would read a digest's top keys by sorting them all
            # until autovacuum learns how many lines the table now has.
            self.conn.exec_driver_sql("ANALYZE digest_lines")

    def targets(self) -> Iterator[tuple[int, str, str, str, Any]]:
        """(id, receiver, channel, address, figures) of each target with lines."""
        t = DigestTarget
        yield from self.conn.execute(select(t.id, t.receiver, t.channel, t.address, t.figures))

    def add_target(self, receiver: str, channel: str, address: str, figures: Any) -> int:
        t = DigestTarget
        values = {"receiver": receiver, "channel": channel, "address": address, "figures": figures}
        new_id = self.conn.execute(insert(t).values(values)).inserted_primary_key
        assert new_id is not None
        return int(new_id[0])

    def set_figures(self, target_id: int, figures: Any) -> None:
        t = DigestTarget
        self.conn.execute(update(t).where(t.id == target_id).values(figures=figures))

    def drop_target(self, target_id: int) -> None:
        self.conn.execute(delete(DigestTarget).where(DigestTarget.id == target_id))

    def take(self, names: Sequence[str]) -> Iterator[tuple[Any, ...]]:
        """Remove the lines (and unowned marks) of the keys NAMES, yielding
        each line first as (target id, listed, accepted, urgency, status,
        project, named, owned, created)."""
        line = DigestLine
        columns = (line.listed, line.accepted, line.urgency, line.status, line.project)
        for start in range(0, len(names), CHUNK):
            chunk = names[start : start + CHUNK]
            yield from self.conn.execute(
                select(line.target_id, *columns, line.named, line.owned, line.created).where(
                    line.key_name.in_(chunk)
                )
            )
            self.conn.execute(delete(line).where(line.key_name.in_(chunk)))
            self.conn.execute(delete(UnownedKey).where(UnownedKey.key_name.in_(chunk)))

    def add_lines(self, rows: list[tuple[Any, ...]]) -> None:
        """Lines as (key name, target id, *line), in the columns' order."""
        self._lines.insert_values(self.conn, rows)

    def add_unowned(self, names: list[tuple[str]]) -> None:
        self._unowned.insert_values(self.conn, names)

    def unowned_count(self, also: set[str]) -> int:
        """Keys marked unowned, and those of ALSO that are not among them."""
        count = func.count()
        found = self.conn.scalar(select(count).select_from(UnownedKey)) or 0
        ordered = sorted(also)
        for start in range(0, len(ordered), CHUNK):
            chunk = ordered[start : start + CHUNK]
            known = self.conn.scalar(
                select(count).select_from(UnownedKey).where(UnownedKey.key_name.in_(chunk))
            )
            found += len(chunk) - (known or 0)
        return int(found)

    def most_urgent(self, target_id: int, wanted: int, skip: set[str]) -> list[str]:
        """The names of the WANTED most urgent keys listed for the target but those of SKIP."""
        if wanted <= 0:
            return []
        line = DigestLine
        rows = self.conn.scalars(
            select(line.key_name)  # byte order on either database (DigestLine.key_name)
            .where(line.target_id == target_id, line.listed == true())  # "IS" reads no index
            .order_by(line.urgency, line.key_name)
            .limit(wanted + len(skip))
        )
        return [n for n in rows if n not in skip][:wanted]
