"""Usage for a feed scan: the figures the last full scan read from Cloud
Monitoring, as history holds them. A feed scan judges a key with what that
scan knew of its traffic; a key new since then has none until the next."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import Connection

from scanner.core.key_views import KeyIdent
from scanner.core.models import KeyUsage, ProjectRecord
from scanner.store.usage_rows import open_usage


class StoredUsage:
    """A usage source (scanner.sources.usage.source.UsageSource) over the open
    usage intervals of NAMES."""

    def __init__(self, conn: Connection, names: Sequence[str]) -> None:
        self.errors: dict[str, str] = {}
        self._by_name = open_usage(conn, names)

    def start(self, projects: Iterable[ProjectRecord], at: datetime) -> None:
        pass

    def for_key(self, key: KeyIdent) -> KeyUsage | None:
        return self._by_name.get(key.name)

    def unmatched_series(self) -> int:
        return 0

    def close(self) -> None:
        pass
