"""What a scan's notes say about its exceptions: those that lapsed and those
that accepted nothing (stale: the key was fixed or deleted, or the selector
is wrong)."""

from __future__ import annotations

from scanner.exceptions.matching import ExceptionsInForce

_SHOWN = 10


def _names(ids: list[str]) -> str:
    more = f" and {len(ids) - _SHOWN} more" if len(ids) > _SHOWN else ""
    return ", ".join(ids[:_SHOWN]) + more


def exception_notes(exceptions: ExceptionsInForce) -> list[str]:
    notes = []
    lapsed = sorted(exceptions.lapsed)
    if lapsed:
        notes.append(
            f"exceptions lapsed (their findings count again): {_names(lapsed)}; "
            "renew or remove them in the configuration"
        )
    stale = exceptions.stale()
    if stale:
        notes.append(f"exceptions that accepted nothing in this scan (stale): {_names(stale)}")
    return notes
