"""`fix apply` and `fix rollback`: change keys' API restrictions one at a
time, each only while the key still has the etag it was planned (or fixed)
against, at a bounded rate; stop at the first refusal. Every change is written
to the rollback file (rewritten whole after each one, so that it covers what
was applied even if the run stops) and to history before the next begins."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from scanner.errors import InputError, SourceError
from scanner.jsontext import read_document
from scanner.models import KeyState

PLAN_SCHEMA = "keysentry.fix.plan/v1"
KEY_NAME = re.compile(r"projects/[0-9]+/locations/global/keys/[A-Za-z0-9_-]+")
ROLLBACK_SCHEMA = "keysentry.fix.rollback/v1"


class KeyChanged(Exception):
    """The key's etag is not the one the change was planned against."""


class FixRefused(Exception):
    """The API refused the caller: every further change would be refused too."""


class Updater(Protocol):
    """What changes keys (fixes.apikeys over the API Keys API): raises
    KeyChanged for a key that moved or went, FixRefused for a refusal, and a
    SourceError for anything else the API still answers after its retries."""

    def get(self, name: str) -> KeyState: ...

    def set_restrictions(self, name: str, restrictions: dict[str, Any], etag: str) -> KeyState: ...


@dataclass(frozen=True)
class Change:
    """One key to change: to RESTRICTIONS (whole), or to its current ones
    with API_TARGETS instead; only while it has ETAG."""

    key: str
    etag: str
    api_targets: tuple[str, ...] | None = None
    restrictions: dict[str, Any] | None = None

    def target(self, current: dict[str, Any]) -> dict[str, Any]:
        if self.restrictions is not None:
            return self.restrictions
        kept = {k: v for k, v in current.items() if k != "apiTargets"}
        return kept | {"apiTargets": [{"service": s} for s in self.api_targets or ()]}


@dataclass
class Outcome:
    applied: list[tuple[KeyState, KeyState]] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # key, why
    stopped: str | None = None  # why the run stopped early


def _entries(path: Path, schema: str) -> tuple[dict[str, Any], list[Any]]:
    document = read_document(path, "not a keysentry plan: ")
    if not isinstance(document, dict) or document.get("schema") != schema:
        raise InputError(f"{path}: not a {schema} document")
    keys = document.get("keys")
    if not isinstance(keys, list):
        raise InputError(f"{path}: keys: expected a list")
    return document, keys


def _text(entry: Any, name: str, where: str) -> str:
    value = entry.get(name) if isinstance(entry, dict) else None
    if not isinstance(value, str) or not value:
        raise InputError(f"{where}.{name}: expected a non-empty string")
    if name == "key" and not KEY_NAME.fullmatch(value):
        raise InputError(f"{where}.key: expected projects/<number>/locations/global/keys/<id>")
    return value


def read_plan(path: Path) -> tuple[int | None, list[Change]]:
    """The plan's scan and its `restrict` entries as changes."""
    document, keys = _entries(path, PLAN_SCHEMA)
    changes = []
    for index, entry in enumerate(keys):
        where = f"{path}: keys[{index}]"
        if not isinstance(entry, dict):
            raise InputError(f"{where}: expected an object")
        if entry.get("action") != "restrict":
            continue
        targets = entry.get("proposed_api_targets")
        if (
            not isinstance(targets, list)
            or not targets
            or not all(isinstance(t, str) and t for t in targets)
        ):
            raise InputError(f"{where}.proposed_api_targets: expected a list of service names")
        name, etag = _text(entry, "key", where), _text(entry, "etag", where)
        changes.append(Change(name, etag, api_targets=tuple(targets)))
    scan = document.get("scan")
    return (scan if isinstance(scan, int) else None), changes


def read_rollback(path: Path) -> list[Change]:
    """A rollback file's keys, each back to its restrictions before the fix."""
    _, keys = _entries(path, ROLLBACK_SCHEMA)
    changes = []
    for index, entry in enumerate(keys):
        where = f"{path}: keys[{index}]"
        before = entry.get("before") if isinstance(entry, dict) else None
        if not isinstance(before, dict):
            raise InputError(f"{where}.before: expected the restrictions object")
        changes.append(
            Change(_text(entry, "key", where), _text(entry, "etag", where), None, before)
        )
    return changes


def rollback_document(outcome: Outcome, by: str, plan: str) -> dict[str, Any]:
    """What `fix rollback` needs to undo OUTCOME: each key's restrictions
    before, and the etag the fix left it with."""
    return {
        "schema": ROLLBACK_SCHEMA,
        "plan": plan,
        "by": by,
        "keys": [
            {
                "key": after.name,
                "etag": after.etag,
                "before": before.restrictions,
                "after": after.restrictions,
            }
            for before, after in outcome.applied
        ],
    }


def apply_changes(
    changes: Iterable[Change],
    updater: Updater,
    wait: Callable[[], None],
    done: Callable[[Outcome], None],
) -> Outcome:
    """Each change in turn: read the key, skip it if its etag moved, else
    update it and call DONE with the outcome so far before the next change.
    Stops at the first refusal, or error the API still gives after retries."""
    outcome = Outcome()
    for change in changes:
        wait()
        try:
            before = updater.get(change.key)
            if before.etag != change.etag:
                why = f"the key changed since the plan (etag {before.etag}, planned {change.etag})"
                outcome.skipped.append((change.key, why))
                continue
            wanted = change.target(before.restrictions)
            after = updater.set_restrictions(change.key, wanted, before.etag)
        except KeyChanged as exc:
            outcome.skipped.append((change.key, str(exc)))
            continue
        except (FixRefused, SourceError) as exc:
            outcome.stopped = str(exc)
            break
        outcome.applied.append((before, after))
        done(outcome)
    return outcome
