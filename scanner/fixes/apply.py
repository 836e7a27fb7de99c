"""`fix apply` and `fix rollback`: change keys' API restrictions one at a
time, each only while the key still has the etag it was planned (or fixed)
against, at a bounded rate; stop at the first refusal. Each change is entered
in the rollback journal before it is made (fixes.journal) and recorded there
and in history once made, before the next begins."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

from scanner.core import restrictions
from scanner.core.errors import InputError, SourceError
from scanner.core.models import KeyState
from scanner.fixes.journal import ROLLBACK_SCHEMA, JournalError
from scanner.inputs.jsontext import read_document

PLAN_SCHEMA = "keysentry.fix.plan/v1"
KEY_NAME = re.compile(r"projects/[0-9]+/locations/global/keys/[A-Za-z0-9_-]+")


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
    with API_TARGETS instead; only while it has ETAG. A rollback of a change
    that may not have been made (EXPECTED: what it would have set) goes by
    the key's restrictions instead of its etag."""

    key: str
    etag: str
    api_targets: tuple[str, ...] | None = None
    restrictions: dict[str, Any] | None = None
    expected: dict[str, Any] | None = None

    def target(self, current: dict[str, Any]) -> dict[str, Any]:
        if self.restrictions is not None:
            return self.restrictions
        kept = {k: v for k, v in current.items() if k != "apiTargets"}
        # A target limited to some methods stays limited: restricting never widens.
        methods = {
            str(t.get("service", "")).strip().lower(): t["methods"]
            for t in current.get("apiTargets") or ()
            if isinstance(t, dict) and t.get("methods")
        }
        targets = [
            {"service": s} | ({"methods": methods[s.lower()]} if s.lower() in methods else {})
            for s in self.api_targets or ()
        ]
        return kept | {"apiTargets": targets}

    def refusal(self, current: KeyState) -> str | None:
        """Why the key as it is now must be left alone, or None."""
        if self.expected is None:
            if current.etag != self.etag:
                return f"the key changed since the plan (etag {current.etag}, planned {self.etag})"
            return None
        if restrictions.same(current.restrictions, self.restrictions):
            return "the fix was never made: the key has the restrictions it had before"
        if not restrictions.same(current.restrictions, self.expected):
            return "the key changed since the fix was attempted"
        return None


class Recorder(Protocol):
    """Where each change is entered before it is made and recorded after."""

    def intend(self, before: KeyState, wanted: dict[str, Any]) -> None: ...

    def not_changed(self, name: str) -> None: ...

    def done(self, before: KeyState, after: KeyState) -> None: ...


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


CONFIDENCE = ("none", "low", "high")  # worst first


@dataclass(frozen=True)
class Plan:
    scan: int | None  # the scan the plan was made from
    changes: list[Change]  # its `restrict` entries
    projects: frozenset[str]  # the projects it was limited to (ids or numbers); empty: all
    entries: list[dict[str, Any]] = field(default_factory=list)  # as written, for the table

    def confident(self, least: str, named: frozenset[str]) -> tuple[Plan, list[dict[str, Any]]]:
        """(this plan with only the entries at least LEAST sure, or NAMED by
        full name, uid or key id; the entries left out for their confidence)."""
        changes, entries, left = [], [], []
        for change, entry in zip(self.changes, self.entries, strict=True):
            ids = {entry.get("key"), entry.get("uid"), str(entry.get("key")).rsplit("/", 1)[-1]}
            sure = CONFIDENCE.index(entry.get("confidence", "none")) >= CONFIDENCE.index(least)
            if sure or ids & named:
                changes.append(change)
                entries.append(entry)
            else:
                left.append(entry)
        return replace(self, changes=changes, entries=entries), left


def read_plan(path: Path) -> Plan:
    """The plan's scan, its `restrict` entries as changes, and its scope."""
    document, keys = _entries(path, PLAN_SCHEMA)
    changes, entries = [], []
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
        if entry.get("confidence", "none") not in CONFIDENCE:
            raise InputError(f"{where}.confidence: expected one of {', '.join(CONFIDENCE)}")
        changes.append(Change(name, etag, api_targets=tuple(targets)))
        entries.append(entry)
    scan = document.get("scan")
    projects = (document.get("scope") or {}).get("projects") or []
    if not isinstance(projects, list) or not all(isinstance(p, str) for p in projects):
        raise InputError(f"{path}: scope.projects: expected a list of project ids")
    return Plan(scan if isinstance(scan, int) else None, changes, frozenset(projects), entries)


def check_plan_keys(path: Path, plan: Plan, held: dict[str, tuple[str | None, str]] | None) -> None:
    """Refuse a plan with an entry for a key its own scan did not hold live
    (HELD: those it held, with their project id and number; None: no such
    scan), or outside the projects it was limited to: a plan file can be
    edited by hand, and `fix apply` changes only what the plan was made from."""
    if plan.scan is None:
        raise InputError(f"{path}: scan: expected the id of the scan the plan was made from")
    if held is None:
        raise InputError(f"{path}: scan {plan.scan}: no such successful scan in this history")
    for change in plan.changes:
        name = change.key
        if name not in held:
            raise InputError(
                f"{path}: {name}: not a live key of scan {plan.scan}, the plan's scan; "
                "a plan changes only keys it was made from"
            )
        project_id, number = held[name]
        if plan.projects and not {project_id, number} & plan.projects:
            raise InputError(
                f"{path}: {name}: in project {project_id or number}, outside the plan's "
                f"projects ({', '.join(sorted(plan.projects))})"
            )


def read_rollback(path: Path) -> list[Change]:
    """A rollback file's keys, each back to its restrictions before the fix:
    an `applied` one while it has the etag the fix left, an `intended` one
    (the run stopped before the API confirmed it) if it holds what the fix
    would have set."""
    _, keys = _entries(path, ROLLBACK_SCHEMA)
    changes = []
    for index, entry in enumerate(keys):
        where = f"{path}: keys[{index}]"
        before = entry.get("before") if isinstance(entry, dict) else None
        if not isinstance(before, dict):
            raise InputError(f"{where}.before: expected the restrictions object")
        name, etag = _text(entry, "key", where), _text(entry, "etag", where)
        state = entry.get("state", "applied")
        if state == "applied":
            changes.append(Change(name, etag, None, before))
            continue
        intended = entry.get("intended")
        if state != "intended" or not isinstance(intended, dict):
            raise InputError(f"{where}: expected state applied, or intended with `intended`")
        changes.append(Change(name, etag, None, before, expected=intended))
    return changes


def apply_changes(
    changes: Iterable[Change],
    updater: Updater,
    wait: Callable[[], None],
    record: Recorder,
) -> Outcome:
    """Each change in turn: read the key, skip it if it moved, else enter it
    with RECORD, update it and record it done before the next change. Stops
    at the first refusal, error the API still gives after retries, or record
    that cannot be written."""
    outcome = Outcome()
    for change in changes:
        wait()
        entered = False
        try:
            before = updater.get(change.key)
            why = change.refusal(before)
            if why is not None:
                outcome.skipped.append((change.key, why))
                continue
            wanted = change.target(before.restrictions)
            record.intend(before, wanted)
            entered = True
            after = updater.set_restrictions(change.key, wanted, before.etag)
        except KeyChanged as exc:
            if entered:
                record.not_changed(change.key)
            outcome.skipped.append((change.key, str(exc)))
            continue
        except FixRefused as exc:
            if entered:
                record.not_changed(change.key)
            outcome.stopped = str(exc)
            break
        except (SourceError, JournalError) as exc:  # the key may have changed: it stays entered
            outcome.stopped = str(exc)
            break
        outcome.applied.append((before, after))
        try:
            record.done(before, after)
        except JournalError as exc:
            outcome.stopped = str(exc)
            break
    return outcome
