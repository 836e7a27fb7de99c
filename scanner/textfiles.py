"""Opens an input file as text, whatever wrote it: gzipped or not, UTF-8 with
or without a byte-order mark, or UTF-16 with one (what PowerShell's `>` and
Out-File write on Windows PowerShell 5)."""

from __future__ import annotations

import codecs
import gzip
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from scanner.errors import InputError

_GZIP_MAGIC = b"\x1f\x8b"
# The most one line (one asset, one finding) or one whole JSON document may
# hold: a file that never ends a line (/dev/zero) is an error, not a 4 GB read.
MAX_LINE_BYTES = 16 << 20
MAX_DOCUMENT_CHARS = 512 << 20


def too_long(what: str, limit: int) -> str:
    return f"{what} is longer than {limit >> 20} MiB: not a file keysentry reads"


def _encoding(head: bytes) -> str:
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"  # reads the mark and drops it
    return "utf-8-sig"  # drops a UTF-8 mark when there is one


def _binary(path: Path) -> Any:
    """PATH's bytes, decompressed when gzipped: a reader that owns its file and
    can peek."""
    with open(path, "rb") as probe:
        compressed = probe.read(2) == _GZIP_MAGIC
    return gzip.GzipFile(path, "rb") if compressed else open(path, "rb")


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
