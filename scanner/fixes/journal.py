"""The rollback file of `fix apply`, kept as a journal: written before the
first change (a run that cannot write it changes nothing), each key entered
as `intended` with its restrictions and etag before its UpdateKey, and marked
`applied` with the etag the change left once the API confirms it. Each write
replaces the file whole and reaches the disk before the call it precedes, so
a run killed at any point leaves a file that names every key that may have
changed: `fix rollback` restores an `applied` key while it keeps its etag,
and an `intended` one if it holds what the change would have set."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import orjson

from scanner.core.errors import InputError
from scanner.core.models import KeyState

ROLLBACK_SCHEMA = "keysentry.fix.rollback/v1"


class JournalError(InputError):
    """The rollback file could not be written: no further key is changed."""


class RollbackJournal:
    def __init__(self, path: Path, by: str, plan: str) -> None:
        self.path = path
        self._document: dict[str, Any] = {
            "schema": ROLLBACK_SCHEMA,
            "plan": plan,
            "by": by,
            "keys": [],
        }

    def start(self) -> None:
        """Write the empty journal; refuse to start if it cannot be written."""
        if self.path.exists():
            raise InputError(f"--rollback {self.path}: exists; keep it, and name another file")
        self._write()

    def intend(self, before: KeyState, wanted: dict[str, Any]) -> None:
        self._document["keys"].append(
            {
                "key": before.name,
                "state": "intended",
                "etag": before.etag,
                "before": before.restrictions,
                "intended": wanted,
            }
        )
        self._write()

    def applied(self, before: KeyState, after: KeyState) -> None:
        entry = self._entry(before.name)
        entry.update(
            state="applied", etag=after.etag, before=before.restrictions, after=after.restrictions
        )
        entry.pop("intended", None)
        self._write()

    def not_changed(self, name: str) -> None:
        """The API refused NAME's change: it needs no rollback."""
        keys = self._document["keys"]
        if keys and keys[-1]["key"] == name and keys[-1]["state"] == "intended":
            keys.pop()
            self._write()

    def finish(self) -> bool:
        """At the end of a run: remove a journal that holds nothing (no key
        was changed, nothing to undo); whether it is kept."""
        if self._document["keys"]:
            return True
        self.path.unlink(missing_ok=True)
        return False

    def _entry(self, name: str) -> dict[str, Any]:
        entry: dict[str, Any] = self._document["keys"][-1]
        assert entry["key"] == name and entry["state"] == "intended"
        return entry

    def _write(self) -> None:
        data = orjson.dumps(self._document, option=orjson.OPT_INDENT_2) + b"\n"
        folder = self.path.parent
        try:
            # Mode 0600 (mkstemp's): the operator who ran the fix is who undoes it.
            fd, temporary = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=folder)
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(data)
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(temporary, self.path)
            except BaseException:
                Path(temporary).unlink(missing_ok=True)
                raise
            directory = os.open(folder, os.O_RDONLY)
            try:
                os.fsync(directory)  # the rename itself survives a crash
            finally:
                os.close(directory)
        except OSError as exc:
            raise JournalError(f"--rollback {self.path}: cannot write: {exc.strerror}") from None
