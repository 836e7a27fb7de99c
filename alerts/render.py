"""Renders a notification document as an email (text and HTML, from Jinja2
templates with autoescape) with each key's checklist filled in."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from scanner.rules.checklists import CHECKLISTS


@dataclass(frozen=True, slots=True)
class RenderedEmail:
    subject: str
    text: str
    html: str


def plain(value: object) -> str:
    """User text for a plain-text body: no control characters, no escapes."""
    return "".join(" " if unicodedata.category(ch) in ("Cc", "Cf") else ch for ch in str(value))


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


def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("alerts", "templates"),
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["plain"] = plain
    env.filters["days"] = days_phrase
    env.globals["checklist"] = checklist_for
    return env


class EmailRenderer:
    def __init__(self) -> None:
        env = environment()
        self._text = env.get_template("notification.txt")
        self._html = env.get_template("notification.html")

    def render(self, subject: str, document: dict[str, Any]) -> RenderedEmail:
        context = {"doc": document, "subject": subject}
        return RenderedEmail(
            subject=header_safe(subject),
            text=self._text.render(context),
            html=self._html.render(context),
        )
