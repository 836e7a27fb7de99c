"""Keeps one ticket per group of open findings (scanner.tickets.groups):
created once, updated when its findings change, resolved when none is left,
reopened when one comes back; and reports tickets closed without a fix.

Created once, whatever happens: a worker claims the group (a lease in the
database) before it looks for the group's ticket by the keysentry id the
ticket carries, and creates one only when none is found; a create whose
answer was lost (a timeout after the remote commit, a crash) is found by the
next sync's search, and for SEARCH_LAG after such an attempt no second one
is made, however the search answers, as search indexes lag."""

from __future__ import annotations

import os
import socket
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine

from scanner.config.tickets import TicketsConfig
from scanner.report.build import build_report
from scanner.store import tickets as store
from scanner.tickets import wording
from scanner.tickets.groups import Group, groups
from scanner.tickets.systems import Remote, Tickets

SEARCH_LAG = timedelta(minutes=10)


@dataclass
class SyncStats:
    scan_id: int = 0
    done: Counter[str] = field(default_factory=Counter)  # created, updated, resolved, ...
    unchanged: int = 0
    waiting: int = 0  # groups another worker holds, or whose create is not searchable yet
    planned: list[tuple[str, Group | store.Ticket]] = field(default_factory=list)
    declined: list[tuple[Group, Remote]] = field(default_factory=list)

    def line(self) -> str:
        done = ", ".join(f"{n} {what}" for what, n in sorted(self.done.items())) or "nothing"
        waiting = f", {self.waiting} waiting" if self.waiting else ""
        return f"tickets: scan {self.scan_id}: {done}; {self.unchanged} unchanged{waiting}"


class TicketSync:
    def __init__(
        self,
        engine: Engine,
        config: TicketsConfig,
        systems: Callable[[str], Tickets],
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._engine = engine
        self._config = config
        self._systems = systems  # receiver name -> its ticket system
        self._made: dict[str, Tickets] = {}
        self._clock = clock
        self._owner = f"{socket.gethostname()}:{os.getpid()}:{id(self)}"[:64]

    def _system(self, receiver: str) -> Tickets:
        found = self._made.get(receiver)
        if found is None:
            found = self._made[receiver] = self._systems(receiver)
        return found

    def run(self, scan_id: int | None = None, dry_run: bool = False) -> SyncStats:
        report = build_report(self._engine, scan_id)
        stats = SyncStats(scan_id=report.scan.id)
        wanted = groups(self._config, report.iter_keys())
        with self._engine.connect() as conn:
            known = store.tickets(conn)
        work: list[tuple[str, Group | store.Ticket]] = []
        for gid, group in wanted.items():
            ticket = known.get(gid)
            if ticket is None or ticket.remote_id is None:
                work.append(("created", group))
            elif ticket.state == "resolved":
                work.append(("reopened", group))
            elif ticket.digest != group.digest:
                work.append(("updated", group))
            else:
                stats.unchanged += 1
        work += [
            ("resolved", t)
            for gid, t in known.items()
            if gid not in wanted and t.state == "open" and t.remote_id is not None
        ]
        if dry_run:
            stats.planned = work
            stats.done.update(what for what, _ in work)
            return stats
        for what, subject in work:
            if self._act(what, subject, known.get(_gid(subject)), stats):
                stats.done[what] += 1
        self._read_back(wanted, stats)
        return stats

    def _act(
        self,
        what: str,
        subject: Group | store.Ticket,
        ticket: store.Ticket | None,
        stats: SyncStats,
    ) -> bool:
        now = self._clock()
        gid, receiver, title = _gid(subject), subject.receiver, subject.title
        with self._engine.begin() as conn:
            if not store.claim(conn, gid, receiver, title, self._owner, now, self._config.lease):
                stats.waiting += 1
                return False
        saved: dict[str, object] = {}
        try:
            system = self._system(receiver)
            if isinstance(subject, store.Ticket):
                assert subject.remote_id is not None
                remote = Remote(subject.remote_key or "", subject.remote_id, subject.url or "")
                system.resolve(remote, wording.resolved())
                saved = {"state": "resolved", "digest": None, "fingerprints": []}
                return True
            saved = self._open(system, what, subject, ticket, now, stats)
            return bool(saved.get("state") == "open")
        finally:
            with self._engine.begin() as conn:
                store.save(conn, gid, self._owner, self._clock(), **saved)

    def _open(
        self,
        system: Tickets,
        what: str,
        group: Group,
        ticket: store.Ticket | None,
        now: datetime,
        stats: SyncStats,
    ) -> dict[str, object]:
        """The group's ticket made to say what the group is; the values to save."""
        state: dict[str, object] = {
            "state": "open",
            "digest": group.digest,
            "fingerprints": sorted(i.fingerprint for i in group.items),
            "key_names": sorted({i.key_name for i in group.items}),
            "declined": None,
        }
        if what == "created":
            remote = system.find(group.id)
            if remote is None:
                attempted = ticket.create_attempted_at if ticket else None
                if attempted is not None and now - attempted < SEARCH_LAG:
                    stats.waiting += 1  # an earlier create may yet show up in the search
                    return {}
                with self._engine.begin() as conn:  # before the call: its answer may be lost
                    store.save_attempt(conn, group.id, self._owner, now)
                remote = system.create(group, wording.description(group))
            elif remote.done:
                system.reopen(remote, wording.reopened(group))
            else:
                system.comment(remote, wording.changes(group, ()))
                system.update(remote, group)
        else:
            assert ticket is not None and ticket.remote_id is not None
            remote = Remote(ticket.remote_key or "", ticket.remote_id, ticket.url or "")
            if what == "reopened":
                system.reopen(remote, wording.reopened(group))
            else:
                system.comment(remote, wording.changes(group, ticket.fingerprints))
            system.update(remote, group)
        return state | {
            "remote_key": remote.key,
            "remote_id": remote.id,
            "url": remote.url,
            "create_attempted_at": None,
        }

    def _read_back(self, wanted: dict[str, Group], stats: SyncStats) -> None:
        """Tickets people closed as declined while their findings are open."""
        with self._engine.connect() as conn:
            known = store.tickets(conn)
        receivers = {g.receiver for g in wanted.values()}
        for receiver in sorted(receivers):
            for gid, remote in self._system(receiver).declined().items():
                if gid in known and gid in wanted:
                    stats.declined.append((wanted[gid], remote))
                    with self._engine.begin() as conn:
                        store.mark_declined(conn, gid, remote.resolution or "declined")


def _gid(subject: Group | store.Ticket) -> str:
    return subject.id if isinstance(subject, Group) else subject.group_id
