"""What the engine needs of an audit-log source (Cloud Logging, or a fake)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Protocol

from scanner.core.models import KeyEvent, ProjectRecord


class AuditSource(Protocol):
    errors: dict[str, str]  # projects -> why their events are missing

    def read(
        self, projects: Iterable[ProjectRecord], since: datetime, until: datetime
    ) -> list[KeyEvent]: ...
