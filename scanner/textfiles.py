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
            yield from enumerate(io.TextIOWrapper(binary, encoding=encoding), start=1)
            return
        for lineno, raw in enumerate(binary, start=1):
            try:
                yield lineno, raw.decode(encoding if lineno == 1 else "utf-8")
            except UnicodeDecodeError:
                raise InputError(f"{path}:{lineno}: not UTF-8 or UTF-16 text") from None
