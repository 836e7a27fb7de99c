"""What a scan hands back, and the two callbacks it runs in its transaction."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from scanner.core.models import ScanStats

AfterHistory = Callable[[Connection, int, datetime], dict[str, Any]]
# Sees a dry run's scan in its transaction, which is then rolled back.
DryRunView = Callable[[Connection, int], None]


@dataclass(frozen=True, slots=True)
class ScanOutcome:
    scan_id: int
    stats: ScanStats
    chain_head: str | None = None  # None for a dry run
    dry_run: bool = False
