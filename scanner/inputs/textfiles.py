"""Opens an input file as text, whatever wrote it: gzipped or not, UTF-8 with
or without a byte-order mark, or UTF-16 with one (what PowerShell's `>` and
Out-File write on Windows PowerShell 5). Every read is bounded: a line, a
document, a small file such as a configuration, and what a gzipped file may
inflate to (a few kilobytes of compressed blanks would otherwise keep a scan
busy for minutes)."""

from __future__ import annotations

import codecs
import gzip
import io
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from scanner.core.errors import InputError

_GZIP_MAGIC = b"\x1f\x8b"
# The most one line (one asset, one finding) or one whole JSON document may
# hold: a file that never ends a line (/dev/zero) is an error, not a 4 GB read.
MAX_LINE_BYTES = 16 << 20
MAX_DOCUMENT_CHARS = 512 << 20
# A configuration or exceptions file: small, written by people.
MAX_SMALL_FILE_BYTES = 16 << 20
# What a gzipped file may inflate to: exports compress about ten to one; a
# hundred to one, past the first 16 MiB, is a bomb, not an export.
MAX_INFLATION = 100
INFLATION_FLOOR = 16 << 20


def too_long(what: str, limit: int) -> str:
    return f"{what} is longer than {limit >> 20} MiB: not a file keysentry reads"


def _encoding(head: bytes) -> str:
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"  # reads the mark and drops it
    return "utf-8-sig"  # drops a UTF-8 mark when there is one


class _Inflated(io.RawIOBase):
    """A gzip stream that stops with an error past LIMIT bytes inflated."""

    def __init__(self, path: Path, limit: int) -> None:
        self._path = path
        self._limit = limit
        self._inflated = 0
        self._gzip = gzip.GzipFile(path, "rb")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        count = self._gzip.readinto(buffer)
        self._inflated += count
        if self._inflated > self._limit:
            raise InputError(
                f"{self._path}: inflates to more than {self._limit >> 20} MiB, over "
                f"{MAX_INFLATION} times its size: not a file keysentry reads"
            )
        return count

    def close(self) -> None:
        self._gzip.close()
        super().close()


def _binary(path: Path) -> Any:
    """PATH's bytes, decompressed when gzipped: a reader that owns its file and
    can peek."""
    with open(path, "rb") as probe:
        compressed = probe.read(2) == _GZIP_MAGIC
        size = os.fstat(probe.fileno()).st_size
    if not compressed:
        return open(path, "rb")
    limit = max(INFLATION_FLOOR, MAX_INFLATION * size)
    return io.BufferedReader(_Inflated(path, limit), buffer_size=1 << 16)


def read_small_text(path: Path, what: str) -> str:
    """The whole of PATH, a file people write (UTF-8, with or without a
    byte-order mark), at most MAX_SMALL_FILE_BYTES. Raises OSError as open()
    does, InputError for anything else."""
    with open(path, "rb") as handle:
        data = handle.read(MAX_SMALL_FILE_BYTES + 1)
    if len(data) > MAX_SMALL_FILE_BYTES:
        raise InputError(f"{path}: {too_long(what, MAX_SMALL_FILE_BYTES)}")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InputError(f"{path}: {what} is not UTF-8 text") from None


def open_text(path: Path) -> io.TextIOWrapper:
    """PATH as a text stream, read lazily. Raises OSError as open() does; a
    decoding error surfaces as UnicodeDecodeError while reading."""
    binary = _binary(path)
    try:
        return io.TextIOWrapper(binary, encoding=_encoding(binary.peek(4)[:4]))
    except BaseException:
        binary.close()
        raise


def text_lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, line) for each line of PATH, naming the line that is not
    text. UTF-8 is decoded line by line, so the number is exact."""
    with _binary(path) as binary:
        encoding = _encoding(binary.peek(4)[:4])
        if encoding != "utf-8-sig":
            handle = io.TextIOWrapper(binary, encoding=encoding)
            lines = iter(lambda: handle.readline(MAX_LINE_BYTES + 1), "")
        else:
            lines = iter(lambda: binary.readline(MAX_LINE_BYTES + 1), b"")
        for lineno, raw in enumerate(lines, start=1):
            if len(raw) > MAX_LINE_BYTES:
                raise InputError(f"{path}:{lineno}: {too_long('the line', MAX_LINE_BYTES)}")
            if isinstance(raw, str):
                yield lineno, raw
                continue
            try:
                yield lineno, raw.decode(encoding if lineno == 1 else "utf-8")
            except UnicodeDecodeError:
                raise InputError(f"{path}:{lineno}: not UTF-8 or UTF-16 text") from None
