"""What the engine needs of an inventory source."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Protocol

from scanner.core.models import InventoryContext, KeyRecord
from scanner.sources.inventory.listed import ListedKey

Progress = Callable[[int], None]  # called with the number of assets read so far


class InventorySource(Protocol):
    description: str  # recorded on the scan row, e.g. "export:assets.jsonl"
    # Where the key last yielded came from (FILE:LINE), for errors about it;
    # None for a live source.
    position: str | None

    @property
    def assets_read(self) -> int: ...

    def load_context(self) -> InventoryContext:
        """Projects and enabled services: small, read before the keys."""
        ...

    def iter_listed(self, context: InventoryContext) -> Iterator[ListedKey]:
        """The keys as listed, streamed: each decoded when asked for its record
        (which raises on bad input)."""
        ...


def records(source: InventorySource, context: InventoryContext) -> Iterator[KeyRecord]:
    """SOURCE's keys, each decoded: what a comparison of two sources reads."""
    return (listed.record() for listed in source.iter_listed(context))
