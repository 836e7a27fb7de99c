"""Webhook bodies: `generic` (the notification document), `slack` (Block
Kit), `google_chat` (cards v2), `msteams` (an Adaptive Card) and `ocsf`
(OCSF Compliance Finding events, scanner.alerts.content.ocsf_events). Each opens
with the summary (key, project, worst problem, due, in use), then each key's
events and merged checklist, then why the recipient gets it and the links.
User text goes where each service shows it as text, or is escaped for its
markup. Sizes are kept by scanner.alerts.content.limits, which splits a message that would
exceed its channel's limits."""

from __future__ import annotations

import html
import json
from typing import Any

from scanner.alerts.content import ocsf_events
from scanner.alerts.content.rows import (
    accepted_line,
    checklists_of,
    finding_line,
    links_of,
    summary_line,
)
from scanner.alerts.content.text import plain

SLACK_TEXT = 3000  # characters per section text


def _slack_escape(text: str) -> str:
    """Slack's control characters; with them escaped, <!channel> is just text."""
    return plain(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def generic(document: dict[str, Any], notification_id: str) -> dict[str, Any]:
    return {"id": notification_id, **document}


def _footer_lines(document: dict[str, Any]) -> list[str]:
    lines = [line for line in (accepted_line(document), _omitted_line(document)) if line]
    if document.get("why"):
        lines.append(str(document["why"]))
    if document.get("contact"):
        lines.append(f"Questions: {document['contact']}")
    return lines


def _omitted_line(document: dict[str, Any]) -> str | None:
    n = int(document.get("omitted_keys") or 0)
    if not n:
        return None
    where = (document.get("links") or {}).get("report")
    return f"... and {n:,} more keys" + (f": {where}" if where else "")


def slack(document: dict[str, Any], subject: str) -> dict[str, Any]:
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": _clip(plain(subject), 150)}},
        _slack_plain(_lead(document)),
    ]
    keys = document["keys"]
    if len(keys) > 1:  # user text: plain_text, so that * or <!channel> are shown as typed
        blocks.append(_slack_plain("\n".join(f"\u2022 {summary_line(k)}" for k in keys)))
    for key in keys:
        fields = [
            {
                "type": "plain_text",
                "text": _clip(f"Key: {plain(key['display_name'] or key['uid'])}", 2000),
            },
            {"type": "plain_text", "text": _clip(f"Project: {plain(key['project'])}", 2000)},
            {"type": "plain_text", "text": _status(key)},
        ]
        blocks.append({"type": "section", "fields": fields})
        lines = [_slack_escape(finding_line(f)) for f in key["findings"]]
        blocks.append(_slack_section("\n".join(lines)))
        for checklist in checklists_of(key):
            steps = "\n".join(
                f"{n}. {_slack_escape(s)}" for n, s in enumerate(checklist["steps"], 1)
            )
            blocks.append(_slack_section(f"*{_slack_escape(checklist['title'])}*\n{steps}"))
        buttons = [_slack_button(text, url) for text, url in links_of(key, {})]
        blocks.append({"type": "actions", "elements": buttons})
    footer = _footer_lines(document)
    page_links = links_of(None, document.get("links") or {})
    if page_links:
        blocks.append({"type": "actions", "elements": [_slack_button(t, u) for t, u in page_links]})
    if footer:
        text = _clip(" ".join(_slack_escape(line) for line in footer), SLACK_TEXT)
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": text}]})
    # The top-level text is the notification's fallback, and Slack parses it.
    return {"text": _slack_escape(subject), "blocks": blocks}


def _lead(document: dict[str, Any]) -> str:
    as_of = document.get("as_of") or document.get("evaluated_at")
    return f"{plain(document['detail'])}, as of {as_of}."


def _slack_plain(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "plain_text", "text": _clip(text, SLACK_TEXT)}}


def _slack_section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": _clip(text, SLACK_TEXT)}}


def _slack_button(text: str, url: str) -> dict[str, Any]:
    return {"type": "button", "text": {"type": "plain_text", "text": text}, "url": url}


def google_chat(document: dict[str, Any], subject: str) -> dict[str, Any]:
    sections: list[dict[str, Any]] = [
        {"widgets": [{"textParagraph": {"text": html.escape(_lead(document))}}]}
    ]
    keys = document["keys"]
    if len(keys) > 1:
        summary = "<br>".join(html.escape(summary_line(k)) for k in keys)
        sections.append({"header": "Summary", "widgets": [{"textParagraph": {"text": summary}}]})
    for key in keys:
        widgets: list[dict[str, Any]] = [
            {"decoratedText": {"topLabel": "Project", "text": html.escape(plain(key["project"]))}},
            {"decoratedText": {"topLabel": "Status", "text": html.escape(_status(key))}},
        ]
        for f in key["findings"]:
            text = f"<b>{html.escape(finding_line(f))}</b><br>{html.escape(plain(f['summary']))}"
            widgets.append({"textParagraph": {"text": text}})
        for checklist in checklists_of(key):
            steps = "<br>".join(
                f"{n}. {html.escape(s)}" for n, s in enumerate(checklist["steps"], 1)
            )
            widgets.append(
                {"textParagraph": {"text": f"<i>{html.escape(checklist['title'])}</i><br>{steps}"}}
            )
        widgets.append({"buttonList": {"buttons": _chat_buttons(links_of(key, {}))}})
        header = html.escape(plain(key["display_name"] or key["uid"]))
        sections.append({"header": header, "widgets": widgets})
    footer = _footer_lines(document)
    tail: list[dict[str, Any]] = []
    if footer:
        tail.append({"textParagraph": {"text": "<br>".join(html.escape(x) for x in footer)}})
    page_links = links_of(None, document.get("links") or {})
    if page_links:
        tail.append({"buttonList": {"buttons": _chat_buttons(page_links)}})
    if tail:
        sections.append({"widgets": tail})
    # The card header is plain text; message text would parse <users/all>, so
    # the card carries everything.
    card = {"header": {"title": _clip(plain(subject), 200)}, "sections": sections}
    return {"cardsV2": [{"cardId": "keysentry", "card": card}]}


def _chat_buttons(links: list[tuple[str, str]]) -> list[dict[str, Any]]:
    return [{"text": text, "onClick": {"openLink": {"url": url}}} for text, url in links]


def _status(key: dict[str, Any]) -> str:
    usage = (key.get("usage") or {}).get("text")
    return f"{key['status']} (score {key['score']})" + (f", {usage}" if usage else "")


def _runs(text: str, weight: str | None = None) -> dict[str, Any]:
    """User text as a RichTextBlock: TextRun is never parsed as markdown, so
    nothing needs a backslash escape that a client might show."""
    run: dict[str, Any] = {"type": "TextRun", "text": plain(text)}
    if weight:
        run["weight"] = weight
    return {"type": "RichTextBlock", "inlines": [run]}


def msteams(document: dict[str, Any], subject: str) -> dict[str, Any]:
    body: list[dict[str, Any]] = [_runs(subject, "Bolder"), _runs(_lead(document))]
    keys = document["keys"]
    if len(keys) > 1:
        body += [_runs("\u2022 " + summary_line(k)) for k in keys]
    for key in keys:
        body.append(_runs(f"{key['display_name'] or key['uid']} ({key['project']})", "Bolder"))
        body.append(_runs(_status(key)))
        body += [_runs(finding_line(f)) for f in key["findings"]]
        for checklist in checklists_of(key):
            body.append(_runs(checklist["title"], "Bolder"))
            body += [_runs(f"{n}. {s}") for n, s in enumerate(checklist["steps"], 1)]
        body.append({"type": "ActionSet", "actions": _teams_actions(links_of(key, {}))})
    body += [_runs(line) for line in _footer_lines(document)]
    card: dict[str, Any] = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": body,
    }
    page_links = links_of(None, document.get("links") or {})
    if page_links:
        card["actions"] = _teams_actions(page_links)
    attachment = {"contentType": "application/vnd.microsoft.card.adaptive", "content": card}
    return {"type": "message", "attachments": [attachment]}


def _teams_actions(links: list[tuple[str, str]]) -> list[dict[str, Any]]:
    return [{"type": "Action.OpenUrl", "title": text, "url": url} for text, url in links]


def webhook_body(fmt: str, document: dict[str, Any], subject: str, notification_id: str) -> bytes:
    body: Any
    if fmt == "ocsf":
        body = ocsf_events.events(document)
    elif fmt == "slack":
        body = slack(document, subject)
    elif fmt == "google_chat":
        body = google_chat(document, subject)
    elif fmt == "msteams":
        body = msteams(document, subject)
    else:
        body = generic(document, notification_id)
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
