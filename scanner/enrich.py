"""What the other sources add to each listed key: owners and key admins from
IAM, the creator from the audit log, usage from Cloud Monitoring, and leak
reports matched to it."""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from dataclasses import fields

from sqlalchemy import Engine

from scanner.config import Config
from scanner.models import InventoryContext, KeyEvent, KeyRecord
from scanner.ownership import OwnerDirectory, with_creator
from scanner.store.audit import creators
from scanner.store.leaks import last_leak_report, leaks_by_key_name
from scanner.usage.source import UsageSource

Enrich = Callable[[KeyRecord], KeyRecord]

_FIELDS = tuple(f.name for f in fields(KeyRecord))
_values_of = operator.attrgetter(*_FIELDS)
_ADDED_FIELDS = ("owners", "usage", "creator", "key_admins", "leaks")
_ADDED = tuple(_FIELDS.index(name) for name in _ADDED_FIELDS)
_added_of = operator.attrgetter(*_ADDED_FIELDS)


def completed(listed: KeyRecord, added: tuple[object, ...]) -> KeyRecord:
    """LISTED with ADDED as its owners, usage, creator, key admins and leaks;
    every other field as listed. dataclasses.replace does the same, three
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


def enricher(
    engine: Engine,
    context: InventoryContext,
    config: Config,
    usage: UsageSource | None,
    events: Sequence[KeyEvent],
    audit_read: bool,
) -> tuple[Enrich, int | None]:
    """The function that completes each key; and the last leak report it
    knows (what a report of this scan may show)."""
    created_by = _creators(engine, events) if audit_read else {}
    with engine.connect() as conn:
        numbers = {p.project_id: p.number for p in context.projects.values() if p.project_id}
        through = last_leak_report(conn)
        leaks = leaks_by_key_name(conn, numbers, through)
    owners = OwnerDirectory(context.projects, context.iam, config.ownership)

    def enrich(listed: KeyRecord) -> KeyRecord:
        creator = created_by.get(listed.name)
        number = listed.project_number
        return completed(
            listed,
            (
                with_creator(owners.owners(number), creator),
                usage.for_key(listed) if usage is not None else None,
                creator,
                owners.key_admins(number),
                leaks.get(listed.name, ()),
            ),
        )

    return enrich, through
