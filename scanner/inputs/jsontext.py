"""JSON from input files, refusing what parses but would break later: nesting
deeper than Python can follow, numbers too long to convert, lone surrogates
(which no database or terminal can take) and NUL characters (which
PostgreSQL refuses)."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path
from typing import IO, Any

from scanner.core.errors import InputError
from scanner.inputs.textfiles import MAX_DOCUMENT_CHARS, open_text, too_long

# An escaped UTF-16 surrogate: legal JSON, and legal in pairs (emoji).
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
_NUL_ESCAPE = "\\u0000"


class JsonProblem(ValueError):
    """Why a text is not JSON keysentry can use; LINE when the parser knows it."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.line = line


def loads(text: str) -> Any:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise JsonProblem(f"malformed JSON: {exc.msg}", exc.lineno) from None
    except RecursionError:
        raise JsonProblem("malformed JSON: nested too deeply") from None
    except ValueError as exc:  # int conversion past sys.get_int_max_str_digits()
        raise JsonProblem(f"malformed JSON: {str(exc).split(':')[0]}") from None
    check_text(text)
    return value


def load(handle: IO[str], limit: int = MAX_DOCUMENT_CHARS) -> Any:
    text = handle.read(limit + 1)
    if len(text) > limit:
        raise JsonProblem(too_long("the document", limit))
    return loads(text)


def check_text(text: str) -> None:
    """Raise JsonProblem when the JSON TEXT encodes a NUL or a lone surrogate."""
    if _NUL_ESCAPE in text or "\x00" in text:
        raise JsonProblem("a string holds a NUL character")
    if _SURROGATE_ESCAPE.search(text) is not None:
        try:
            json.dumps(json.loads(text), ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise JsonProblem("a string holds a lone surrogate (not valid Unicode)") from None


def read_document(path: Path, what: str, limit: int = MAX_DOCUMENT_CHARS) -> Any:
    """The JSON document in PATH (gzipped or not, UTF-8 or UTF-16), at most
    LIMIT characters, or one InputError naming the file, and the line where
    the parser knows it; WHAT says what the file should have been."""
    try:
        with open_text(path) as handle:
            return load(handle, limit)
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise InputError(f"{path}: cannot read: {getattr(exc, 'strerror', None) or exc}") from None
    except UnicodeDecodeError:
        raise InputError(f"{path}: not UTF-8 or UTF-16 text") from None
    except JsonProblem as exc:
        where = f"{path}:{exc.line}" if exc.line else str(path)
        raise InputError(f"{where}: {what}{exc}") from None
