"""Plain text for messages: control characters out, bounded header values,
day counts, checklists by id."""

from __future__ import annotations

import unicodedata
from typing import Any

from scanner.rules.checklists import CHECKLISTS

# The only ASCII characters in categories Cc or Cf: ASCII text, most of what
# a digest shows, is cleaned by one translate instead of a lookup a character.
_ASCII_CONTROLS = {code: " " for code in (*range(32), 127)}


def plain(value: object) -> str:
    """User text for a plain-text body: no control characters, no escapes."""
    text = str(value)
    if text.isascii():
        return text.translate(_ASCII_CONTROLS)
    return "".join(" " if unicodedata.category(ch) in ("Cc", "Cf") else ch for ch in text)


def header_safe(value: str, limit: int = 200) -> str:
    """A mail header value: one line, bounded; CR/LF can never start a header."""
    text = " ".join(plain(value).split())
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def days_phrase(days: int | None) -> str:
    if days is None:
        return "no deadline"
    if days > 0:
        return f"{days} days left"
    if days == 0:
        return "due today"
    return f"{-days} days overdue"


def checklist_for(checklist_id: str) -> dict[str, Any]:
    checklist = CHECKLISTS[checklist_id]
    return {"id": checklist.id, "title": checklist.title, "steps": list(checklist.steps)}
