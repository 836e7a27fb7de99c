"""A pipe (`<(gunzip -c ...)`, /dev/stdin, a named FIFO) can be read only
once, and a scan reads its export twice (context first, then keys): such an
export is copied to a temporary file first, once, leaving room on the disk
(a pipe that never ends stops there). A FIFO nobody writes to is waited on
for a bounded time; a terminal and a directory are refused, each in one
line. A regular file or a device is read where it is, as often as needed."""

from __future__ import annotations

import os
import select
import shutil
import stat
import tempfile
import weakref
from pathlib import Path
from typing import BinaryIO

from scanner.core.errors import InputError

WRITER_WAIT_SECONDS = 60.0


class Spool:
    """Where exports that must be read once are copied; the folder goes when
    the spool does (the source that holds it, at the end of its scan)."""

    def __init__(self) -> None:
        self._folder: Path | None = None

    def readable(self, path: Path) -> Path:
        """PATH itself when a scan can read it twice, else a copy of it."""
        try:
            mode = os.stat(path).st_mode
        except OSError as exc:
            raise InputError(f"{path}: cannot read: {exc.strerror}") from None
        if stat.S_ISDIR(mode):
            raise InputError(f"{path}: is a directory: give the export files in it")
        if not (stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode) or stat.S_ISCHR(mode)):
            return path
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # a FIFO's open waits for a writer
        with os.fdopen(fd, "rb") as source:
            if os.isatty(fd):
                raise InputError(f"{path}: is a terminal: pipe the export in, or name its file")
            if stat.S_ISCHR(mode):  # /dev/null, /dev/zero: read again on every open
                return path
            if stat.S_ISFIFO(mode) and not _written_to(fd):
                raise InputError(
                    f"{path}: nothing came within {WRITER_WAIT_SECONDS:g}s: a pipe nobody writes to"
                )
            os.set_blocking(fd, True)
            copy = self._folder_path() / (path.name or "export")
            with copy.open("wb") as target:
                _copy(source, target, path)
        return copy

    def _folder_path(self) -> Path:
        if self._folder is None:
            self._folder = Path(tempfile.mkdtemp(prefix="keysentry-export-"))
            weakref.finalize(self, shutil.rmtree, self._folder, ignore_errors=True)
        return self._folder


def _written_to(fd: int) -> bool:
    """Whether a writer came to the FIFO FD (data, or a writer come and gone)."""
    ready = select.poll()
    ready.register(fd, select.POLLIN | select.POLLHUP)
    return bool(ready.poll(int(WRITER_WAIT_SECONDS * 1000)))


# Free space a copy leaves on the disk it is written to.
KEEP_FREE_BYTES = 1 << 30
_CHUNK = 1 << 20


def _copy(source: BinaryIO, target: BinaryIO, path: Path) -> None:
    folder = os.path.dirname(target.name)
    while chunk := source.read(_CHUNK):
        if shutil.disk_usage(folder).free - len(chunk) < KEEP_FREE_BYTES:
            raise InputError(
                f"{path}: no room to copy it (a pipe is copied before a scan reads it; "
                f"{KEEP_FREE_BYTES >> 30} GiB are kept free): set TMPDIR to a larger disk"
            )
        target.write(chunk)
