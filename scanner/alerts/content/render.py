"""Renders a notification document as an email (text and HTML, from Jinja2
templates with autoescape) with each key's checklist filled in."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from scanner.alerts.content.rows import (
    accepted_line,
    checklists_of,
    finding_line,
    links_of,
    summary_line,
)
from scanner.alerts.content.text import checklist_for, days_phrase, header_safe, plain
from scanner.alerts.content.wording import human_date

__all__ = ["EmailRenderer", "RenderedEmail", "days_phrase", "header_safe", "plain"]


@dataclass(frozen=True, slots=True)
class RenderedEmail:
    subject: str
    text: str
    html: str


def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("scanner.alerts.content", "templates"),
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["plain"] = plain
    env.filters["days"] = days_phrase
    env.filters["day"] = human_date
    env.filters["count"] = "{:,}".format  # 1,102 as the subject writes it
    env.globals["checklist"] = checklist_for
    env.globals.update(
        accepted_line=accepted_line,
        checklists_of=checklists_of,
        finding_line=finding_line,
        links_of=links_of,
        summary_line=summary_line,
    )
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
