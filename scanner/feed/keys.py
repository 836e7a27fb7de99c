"""The keys a feed scan judges: those its messages changed, as the messages
show them, and the open keys its context changes reach, as history holds
them with their project as the edited context has it; each completed as a
full scan completes a listed key (owners, key admins, creator, leaks, the
usage history holds). The reached keys are read a chunk at a time: an
organization's IAM policy reaches every key."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

from sqlalchemy import Connection, Engine

from scanner.config import Config
from scanner.core.errors import InputError
from scanner.core.models import InventoryContext, KeyRecord
from scanner.feed.context_edit import Reach
from scanner.feed.messages import Change
from scanner.feed.stored_usage import StoredUsage
from scanner.inputs.fields import AssetDataError
from scanner.scan.enrich import enricher
from scanner.sources.inventory.normalize import gemini_of, normalize_key
from scanner.store.contexts import Judged
from scanner.store.open_records import open_key_names, open_key_records

CHUNK = 500  # reached keys read, completed and judged at a time


class FeedKeys:
    def __init__(
        self, engine: Engine, config: Config, judged: Judged, changes: list[Change], reach: Reach
    ) -> None:
        """CHANGES: the messages that apply, one per key; REACH: what the
        context changes reach."""
        self._judged = judged
        self._reach = reach
        context = judged.context
        self.changed = sorted(c.name for c in changes)
        self.deleted = sorted(c.name for c in changes if c.data is None)
        self._listed: list[KeyRecord] = []
        for change in changes:
            if change.data is None:
                continue  # deleted: the key leaves history, as when a full scan no longer lists it
            try:
                record = normalize_key(
                    change.data, context.projects, context.gemini_projects, context.services_known
                )
            except AssetDataError as exc:
                raise InputError(f"key {change.name}: {exc}") from None
            self._listed.append(record)
        self._enrich, _ = enricher(engine, context, config, None, [], judged.audit_read)
        self.reached: list[str] = []

    def names(self, conn: Connection) -> list[str]:
        """Every key the scan judges, gone or not (read once, before the
        records)."""
        if self._reach:
            named = set(self.changed)
            reach = self._reach
            found = open_key_names(conn, reach.projects, reach.service_accounts)
            self.reached = [name for name in found if name not in named]
        return sorted({*self.changed, *self.reached})

    def records(self, conn: Connection) -> Iterator[KeyRecord]:
        """The keys still present, completed, a chunk at a time."""
        context = self._judged.context
        yield from self._completed(conn, self._listed)
        for start in range(0, len(self.reached), CHUNK):
            held = open_key_records(conn, self.reached[start : start + CHUNK])
            yield from self._completed(conn, [_as_now(r, context) for r in held])

    def _completed(self, conn: Connection, records: list[KeyRecord]) -> Iterator[KeyRecord]:
        names = [r.name for r in records]
        usage = StoredUsage(conn, names) if self._judged.usage_read else None
        enrich = self._enrich.with_usage(usage)
        for record in records:
            yield enrich(record)


def _as_now(record: KeyRecord, context: InventoryContext) -> KeyRecord:
    """A key as history holds it, with its project as CONTEXT now has it."""
    number = record.project_number
    project = context.projects.get(number)
    return replace(
        record,
        project_id=project.project_id if project else record.project_id,
        gemini_enabled=gemini_of(
            number, context.projects, context.gemini_projects, context.services_known
        ),
    )
