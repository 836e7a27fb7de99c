"""What the engine needs of a usage source (Cloud Monitoring, or a fake)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Protocol

from scanner.core.key_views import KeyIdent
from scanner.core.models import KeyUsage, ProjectRecord


class UsageSource(Protocol):
    errors: dict[str, str]  # project -> why it has no usage data

    def start(self, projects: Iterable[ProjectRecord], at: datetime) -> None: ...

    def for_key(self, key: KeyIdent) -> KeyUsage | None: ...

    def unmatched_series(self) -> int:
        """Series of key credentials that matched no key asked for so far."""
        ...

    def close(self) -> None: ...
