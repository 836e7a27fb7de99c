"""What parts of the pipeline read of a key without needing all of it: a
KeyRecord is each of these, and so is what a scan knows of a key it kept
without decoding (scanner.scan.reuse)."""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple, Protocol

from scanner.core.models import KeyUsage


class KeyIdent(Protocol):
    """What names a key to the usage sources (a KeyRecord, or what a scan
    knows of a key it did not decode)."""

    @property
    def name(self) -> str: ...
    @property
    def uid(self) -> str: ...
    @property
    def project_number(self) -> str: ...
    @property
    def project_id(self) -> str | None: ...


class ListedIdent(NamedTuple):
    name: str
    uid: str
    project_number: str
    project_id: str | None


class KeyClock(Protocol):
    """What the rules that read the clock read of a key (scanner.rules.clock)."""

    @property
    def created(self) -> datetime | None: ...
    @property
    def usage(self) -> KeyUsage | None: ...


class ClockFacts(NamedTuple):
    created: datetime | None
    usage: KeyUsage | None
