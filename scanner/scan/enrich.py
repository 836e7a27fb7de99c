"""What the other sources add to each listed key: owners and key admins from
IAM, the creator from the audit log, usage from Cloud Monitoring, leak
reports matched to it, and who read a leaked key's string before it leaked."""

from __future__ import annotations

import operator
from collections.abc import Sequence
from dataclasses import fields
from datetime import timedelta

from sqlalchemy import Engine

from scanner.config import Config
from scanner.core.key_views import KeyIdent
from scanner.core.models import (
    InventoryContext,
    KeyEvent,
    KeyRecord,
    KeyUsage,
    LeakEvidence,
    StringRead,
)
from scanner.sources.inventory.ownership import OwnerDirectory, with_creator
from scanner.sources.usage.source import UsageSource
from scanner.store.audit import creators, string_reads
from scanner.store.leaks import last_leak_report, leaks_by_key_name

_FIELDS = tuple(f.name for f in fields(KeyRecord))
_values_of = operator.attrgetter(*_FIELDS)
_ADDED_FIELDS = ("owners", "usage", "creator", "key_admins", "leaks", "string_read")
# How long before a key's first leak report a read of its string is worth
# naming: a developer who copied it into a file that was then committed.
READ_BEFORE_LEAK = timedelta(days=30)
_ADDED = tuple(_FIELDS.index(name) for name in _ADDED_FIELDS)
_added_of = operator.attrgetter(*_ADDED_FIELDS)


def completed(listed: KeyRecord, added: tuple[object, ...]) -> KeyRecord:
    """LISTED with ADDED as its owners, usage, creator, key admins, leaks and
    string read; every other field as listed. dataclasses.replace does the same, three
    times slower: this runs once for every key of every scan."""
    if _added_of(listed) == added:  # nothing to add (no IAM, usage, audit or leaks read)
        return listed
    values = list(_values_of(listed))
    for index, value in zip(_ADDED, added, strict=True):
        values[index] = value
    return KeyRecord(*values)


def _creators(engine: Engine, events: Sequence[KeyEvent]) -> dict[str, str]:
    with engine.connect() as conn:
        found = creators(conn)
    for event in events:
        if event.method == "CreateKey" and event.principal and event.key_name not in found:
            found[event.key_name] = event.principal
    return found


def read_before_leak(
    reads: Sequence[StringRead], leaks: Sequence[LeakEvidence]
) -> StringRead | None:
    """The last read of the string within READ_BEFORE_LEAK before the
    earliest leak report that says when it was made."""
    dated = [leak.first_reported for leak in leaks if leak.first_reported is not None]
    if not dated:
        return None
    first = min(dated)
    before = [r for r in reads if first - READ_BEFORE_LEAK <= r.at <= first]
    return max(before, key=lambda r: r.at) if before else None


def _string_reads(
    engine: Engine, events: Sequence[KeyEvent], leaks: dict[str, tuple[LeakEvidence, ...]]
) -> dict[str, StringRead]:
    with engine.connect() as conn:
        reads = string_reads(conn, leaks)
    for event in events:  # this scan's, not stored yet
        if event.method == "GetKeyString" and event.key_name in leaks:
            read = StringRead(event.at, event.principal, event.caller_ip)
            if read not in reads.get(event.key_name, ()):
                reads.setdefault(event.key_name, []).append(read)
    found = {name: read_before_leak(reads.get(name, ()), found) for name, found in leaks.items()}
    return {name: read for name, read in found.items() if read is not None}


class Enricher:
    """Completes each listed key with what the other sources add."""

    def __init__(
        self,
        created_by: dict[str, str],
        leaks: dict[str, tuple[LeakEvidence, ...]],
        owners: OwnerDirectory,
        usage: UsageSource | None,
        string_read: dict[str, StringRead] | None = None,
    ) -> None:
        self._created_by = created_by
        self._leaks = leaks
        self._string_read = string_read or {}
        self._owners = owners
        self._usage = usage

    def __call__(self, key: KeyRecord) -> KeyRecord:
        creator = self._created_by.get(key.name)
        number = key.project_number
        return completed(
            key,
            (
                with_creator(self._owners.owners(number), creator),
                self.usage_of(key),
                creator,
                self._owners.key_admins(number),
                self._leaks.get(key.name, ()),
                self._string_read.get(key.name),
            ),
        )

    def with_usage(self, usage: UsageSource | None) -> Enricher:
        """The same completion, with USAGE for the usage."""
        return Enricher(self._created_by, self._leaks, self._owners, usage, self._string_read)

    @property
    def reads_usage(self) -> bool:
        return self._usage is not None

    def usage_of(self, key: KeyIdent) -> KeyUsage | None:
        return self._usage.for_key(key) if self._usage is not None else None

    def added_by_name(
        self, name: str
    ) -> tuple[str | None, tuple[LeakEvidence, ...] | None, StringRead | None]:
        """What is added to the key NAME by its name: its creator, leaks and
        the read of its string before it leaked."""
        return self._created_by.get(name), self._leaks.get(name), self._string_read.get(name)


def enricher(
    engine: Engine,
    context: InventoryContext,
    config: Config,
    usage: UsageSource | None,
    events: Sequence[KeyEvent],
    audit_read: bool,
) -> tuple[Enricher, int | None]:
    """What completes each key; and the last leak report it knows (what a
    report of this scan may show)."""
    created_by = _creators(engine, events) if audit_read else {}
    with engine.connect() as conn:
        numbers = {p.project_id: p.number for p in context.projects.values() if p.project_id}
        through = last_leak_report(conn)
        leaks = leaks_by_key_name(conn, numbers, through)
    owners = OwnerDirectory(context.projects, context.iam, config.ownership)
    reads = _string_reads(engine, events, leaks) if audit_read and leaks else {}
    return Enricher(created_by, leaks, owners, usage, reads), through
