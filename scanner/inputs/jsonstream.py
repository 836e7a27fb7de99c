"""Reads a JSON file item by item, whatever its size: a JSON array (gitleaks,
the GitHub API), one JSON value per line (TruffleHog), or the list in one
member of an object or of each object of an array (saved pages of a Google
list call, such as Cloud Monitoring's timeSeries). Each item comes with the
line it starts on, for error messages."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from scanner.core.errors import InputError
from scanner.inputs.jsontext import JsonProblem, check_text
from scanner.inputs.textfiles import MAX_LINE_BYTES, open_text, too_long

CHUNK = 1 << 20
_WHITESPACE = " \t\r\n"
_AFTER_NUMBER = _WHITESPACE + ",]}"


@contextmanager
def _reading(path: Path, chunk: int, checked: bool) -> Iterator[_Reader]:
    try:
        with open_text(path) as handle:
            yield _Reader(path, handle, chunk, checked)
    except (OSError, EOFError) as exc:  # EOFError: a gzip file cut short
        raise InputError(f"{path}: cannot read: {getattr(exc, 'strerror', None) or exc}") from None
    except UnicodeDecodeError:
        raise InputError(f"{path}: not UTF-8 or UTF-16 text") from None


def items(path: Path, chunk: int = CHUNK) -> Iterator[tuple[int, Any]]:
    """(line, value) for each item of PATH. Raises InputError naming the file and
    line for anything that is not a whole JSON array or JSON lines."""
    with _reading(path, chunk, checked=False) as reader:
        first = reader.first_char()
        if first is None:
            return
        if first == "[":
            yield from reader.array()
        else:
            yield from reader.lines()


# Items read from the two kinds below are held to what jsontext.check_text
# refuses (NUL characters, lone surrogates), as a whole document read is.


def array(path: Path, expected: str, chunk: int = CHUNK) -> Iterator[tuple[int, Any]]:
    """(line, item) for each item of PATH's JSON array; InputError "PATH:
    EXPECTED" when PATH holds something else, naming the line when it is
    not whole JSON."""
    with _reading(path, chunk, checked=True) as reader:
        if reader.first_char() != "[":
            raise InputError(f"{path}: {expected}")
        yield from reader.array()


def paged(path: Path, field: str, chunk: int = CHUNK) -> Iterator[tuple[int, Any]]:
    """(line, item) for each item of the list FIELD of PATH's JSON object, or
    of each object of PATH's JSON array (pages saved one after another). Other
    members are read and dropped. Raises InputError naming the file and line."""
    with _reading(path, chunk, checked=True) as reader:
        first = reader.first_char()
        if first == "{":
            yield from reader.members(field)
        elif first == "[":
            yield from reader.pages(field)
        else:
            raise reader.error(f"expected an object with a {field} list, or a list of them")
        if reader.first_char() is not None:
            raise reader.error("text after the document")


class _Reader:
    def __init__(self, path: Path, handle: IO[str], chunk: int, checked: bool = False) -> None:
        self.path = path
        self.handle = handle
        self.chunk = chunk
        self.checked = checked  # each value's text goes through jsontext.check_text
        self.buffer = ""
        self.pos = 0
        self.line = 1  # of self.pos
        self.eof = False

    def _fill(self) -> bool:
        if self.eof:
            return False
        chunk = self.handle.read(self.chunk)
        if not chunk:
            self.eof = True
            return False
        if self.pos > self.chunk:
            self.buffer = self.buffer[self.pos :]
            self.pos = 0
        self.buffer += chunk
        return True

    def _advance(self, to: int) -> None:
        self.line += self.buffer.count("\n", self.pos, to)
        self.pos = to

    def _skip_whitespace(self) -> str | None:
        while True:
            while self.pos < len(self.buffer) and self.buffer[self.pos] in _WHITESPACE:
                self._advance(self.pos + 1)
            if self.pos < len(self.buffer):
                return self.buffer[self.pos]
            if not self._fill():
                return None

    def first_char(self) -> str | None:
        return self._skip_whitespace()

    def _value(self, decoder: json.JSONDecoder) -> Any:
        """The JSON value at pos; reads more until it is whole."""
        while True:
            try:
                value, end = decoder.raw_decode(self.buffer, self.pos)
            except RecursionError:
                raise InputError(
                    f"{self.path}:{self.line}: invalid JSON: nested too deeply"
                ) from None
            except json.JSONDecodeError as exc:
                if len(self.buffer) - self.pos > MAX_LINE_BYTES:
                    raise InputError(
                        f"{self.path}:{self.line}: {too_long('an item', MAX_LINE_BYTES)}"
                    ) from None
                if not self.eof and self._fill():
                    continue
                where = self.line + self.buffer.count("\n", self.pos, exc.pos)
                ends = exc.pos >= len(self.buffer.rstrip()) or exc.msg.startswith("Unterminated")
                reason = "truncated" if ends else exc.msg
                raise InputError(f"{self.path}:{where}: invalid JSON: {reason}") from None
            except ValueError as exc:  # an integer past sys.get_int_max_str_digits()
                reason = str(exc).split(":")[0]
                raise InputError(f"{self.path}:{self.line}: invalid JSON: {reason}") from None
            cut = end >= len(self.buffer) or (
                # A number ends only at a delimiter: "0" of "0.5" split after "0." is not whole.
                isinstance(value, int | float)
                and not isinstance(value, bool)
                and self.buffer[end] not in _AFTER_NUMBER
            )
            if cut and not self.eof and self._fill():
                continue  # a number or literal may go on in the next chunk
            if self.checked:
                try:
                    check_text(self.buffer[self.pos : end])
                except JsonProblem as exc:
                    raise self.error(str(exc)) from None
            self._advance(end)
            return value

    def error(self, message: str) -> InputError:
        return InputError(f"{self.path}:{self.line}: {message}")

    def _char(self) -> str:
        """The next character that is not whitespace; the document must go on."""
        char = self._skip_whitespace()
        if char is None:
            raise self.error("invalid JSON: truncated")
        return char

    def array(self) -> Iterator[tuple[int, Any]]:
        yield from self._items(json.JSONDecoder())
        if self._skip_whitespace() is not None:
            raise InputError(f"{self.path}:{self.line}: invalid JSON: text after the array")

    def members(self, field: str) -> Iterator[tuple[int, Any]]:
        """The items of the list FIELD of the object at pos; the other members dropped."""
        decoder = json.JSONDecoder()
        self._advance(self.pos + 1)  # the {
        if self._char() == "}":
            self._advance(self.pos + 1)
            return
        while True:
            if self._char() != '"':
                raise self.error("invalid JSON: expected a member name")
            name = self._value(decoder)
            if self._char() != ":":
                raise self.error("invalid JSON: expected :")
            self._advance(self.pos + 1)
            char = self._char()
            if name != field:
                self._value(decoder)
            elif char == "[":
                yield from self._items(decoder)
            else:
                raise self.error(f"expected objects with a {field} list")
            char = self._char()
            if char == "}":
                self._advance(self.pos + 1)
                return
            if char != ",":
                raise self.error("invalid JSON: expected , or }")
            self._advance(self.pos + 1)

    def pages(self, field: str) -> Iterator[tuple[int, Any]]:
        """The items of FIELD of each object of the array at pos."""
        self._advance(self.pos + 1)  # the [
        if self._char() == "]":
            self._advance(self.pos + 1)
            return
        while True:
            if self._char() != "{":
                raise self.error(f"expected objects with a {field} list")
            yield from self.members(field)
            char = self._char()
            if char == "]":
                self._advance(self.pos + 1)
                return
            if char != ",":
                raise self.error("invalid JSON: expected , or ]")
            self._advance(self.pos + 1)

    def _items(self, decoder: json.JSONDecoder) -> Iterator[tuple[int, Any]]:
        """Each item of the array at pos, and pos past its ]."""
        self._advance(self.pos + 1)  # the [
        expect_item = True
        first = True
        while True:
            char = self._skip_whitespace()
            if char is None:
                raise InputError(f"{self.path}:{self.line}: invalid JSON: truncated array")
            if char == "]" and (first or not expect_item):
                self._advance(self.pos + 1)
                break
            if not expect_item:
                if char != ",":
                    raise InputError(f"{self.path}:{self.line}: invalid JSON: expected , or ]")
                self._advance(self.pos + 1)
                expect_item = True
                continue
            line = self.line
            yield line, self._value(decoder)
            expect_item = False
            first = False

    def lines(self) -> Iterator[tuple[int, Any]]:
        decoder = json.JSONDecoder()
        while self._skip_whitespace() is not None:
            line = self.line
            value = self._value(decoder)
            rest = self.buffer.find("\n", self.pos)
            tail = self.buffer[self.pos : rest if rest >= 0 else len(self.buffer)]
            if tail.strip():
                raise InputError(f"{self.path}:{line}: invalid JSON: more than one value on a line")
            yield line, value
