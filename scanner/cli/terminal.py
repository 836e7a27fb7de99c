"""What reaches a terminal: text only. A report, change list or exception list
printed on a terminal may carry display names, labels and messages from the
organization; whatever the format (a table, CSV or JSON, which escapes only
the C0 controls), no escape sequence, hyperlink, title change or line
separator of theirs reaches it."""

from __future__ import annotations

import io
from typing import TextIO, cast

from scanner.report.formats import terminal_text


class _TerminalSafe(io.TextIOBase):
    def __init__(self, terminal: TextIO) -> None:
        self._terminal = terminal

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        # A CSV row's CRLF looks as LF does on a terminal; a lone CR may overwrite.
        self._terminal.write(terminal_text(text.replace("\r\n", "\n")))
        return len(text)

    def flush(self) -> None:
        self._terminal.flush()


def for_terminal(stream: TextIO) -> TextIO:
    """STREAM, neutralized when it is a terminal."""
    is_terminal = getattr(stream, "isatty", None)
    if is_terminal is None or not is_terminal():
        return stream
    return cast(TextIO, _TerminalSafe(stream))
