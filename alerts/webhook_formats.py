"""Webhook bodies: `generic` (the notification document), `slack` (Block
Kit), `google_chat` (cards v2) and `msteams` (an Adaptive Card). User text
goes where each service shows it as text, or is escaped for its markup."""

from __future__ import annotations

import html
import json
import re
from typing import Any

from alerts.render import days_phrase, plain
from scanner.rules.checklists import CHECKLISTS

MAX_KEYS = 20  # chat messages stay readable; the digest email has the rest


def _slack_escape(text: str) -> str:
    """Slack's control characters; with them escaped, <!channel> is just text."""
    return plain(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# The characters that start formatting or links in Teams' markdown.
_MARKDOWN = re.compile(r"([\\`*_\[\]()#|>~<])")


def _markdown_escape(text: str) -> str:
    return _MARKDOWN.sub(r"\\\1", plain(text))


def _finding_line(f: dict[str, Any]) -> str:
    deadline = f" due {f['deadline']}, {days_phrase(f['days_left'])}" if f["deadline"] else ""
    return f"[{f['severity']}] {f['rule']}{deadline}"


def _accepted_line(document: dict[str, Any]) -> str | None:
    """A digest's word on accepted findings: a count, never the keys."""
    n = int(document.get("accepted_keys") or 0)
    if not n:
        return None
    has = "key has" if n == 1 else "keys have"
    return f"{n} more {has} findings an exception accepts; they are not listed."


def generic(document: dict[str, Any], notification_id: str) -> dict[str, Any]:
    return {"id": notification_id, **document}


def slack(document: dict[str, Any], subject: str) -> dict[str, Any]:
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": plain(subject)[:150]}}
    ]
    for key in document["keys"][:MAX_KEYS]:
        lines = [_slack_escape(_finding_line(f)) for f in key["findings"]]
        steps = CHECKLISTS[key["findings"][0]["checklist"]] if key["findings"] else None
        fields = [
            {"type": "plain_text", "text": f"Key: {plain(key['display_name'] or key['uid'])}"},
            {"type": "plain_text", "text": f"Project: {plain(key['project'])}"},
            {"type": "plain_text", "text": f"Status: {key['status']} (score {key['score']})"},
            {"type": "plain_text", "text": f"Type: {key['key_type']} key"},
        ]
        blocks.append({"type": "section", "fields": fields})
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(lines)}})
        if steps is not None:
            text = f"*{steps.title}*\n" + "\n".join(
                f"{n}. {_slack_escape(s)}" for n, s in enumerate(steps.steps, 1)
            )
            blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": text[:3000]}})
        blocks.append(
            {
                "type": "actions",
                "elements": [
                    _slack_button("Cloud Console", key["links"]["console"]),
                    _slack_button("AI Studio", key["links"]["aistudio"]),
                ],
            }
        )
    omitted = len(document["keys"][MAX_KEYS:]) + document.get("omitted_keys", 0)
    if omitted:
        more = f"... and {omitted} more keys"
        blocks.append({"type": "context", "elements": [{"type": "plain_text", "text": more}]})
    accepted = _accepted_line(document)
    if accepted:
        blocks.append({"type": "context", "elements": [{"type": "plain_text", "text": accepted}]})
    # The top-level text is the notification's fallback, and Slack parses it.
    return {"text": _slack_escape(subject), "blocks": blocks}


def _slack_button(text: str, url: str) -> dict[str, Any]:
    return {"type": "button", "text": {"type": "plain_text", "text": text}, "url": url}


def google_chat(document: dict[str, Any], subject: str) -> dict[str, Any]:
    sections = []
    for key in document["keys"][:MAX_KEYS]:
        widgets: list[dict[str, Any]] = [
            {"decoratedText": {"topLabel": "Project", "text": html.escape(plain(key["project"]))}},
            {
                "decoratedText": {
                    "topLabel": "Status",
                    "text": html.escape(f"{key['status']} (score {key['score']})"),
                }
            },
        ]
        for f in key["findings"]:
            checklist = CHECKLISTS[f["checklist"]]
            steps = "<br>".join(f"{n}. {html.escape(s)}" for n, s in enumerate(checklist.steps, 1))
            widgets.append(
                {
                    "textParagraph": {
                        "text": f"<b>{html.escape(_finding_line(f))}</b><br>"
                        f"{html.escape(plain(f['summary']))}<br><i>{html.escape(checklist.title)}"
                        f"</i><br>{steps}"
                    }
                }
            )
        widgets.append(
            {
                "buttonList": {
                    "buttons": [
                        {
                            "text": "Cloud Console",
                            "onClick": {"openLink": {"url": key["links"]["console"]}},
                        },
                        {
                            "text": "AI Studio",
                            "onClick": {"openLink": {"url": key["links"]["aistudio"]}},
                        },
                    ]
                }
            }
        )
        header = html.escape(plain(key["display_name"] or key["uid"]))
        sections.append({"header": header, "widgets": widgets})
    accepted = _accepted_line(document)
    if accepted:
        sections.append({"widgets": [{"textParagraph": {"text": html.escape(accepted)}}]})
    # The card header is plain text; message text would parse <users/all>, so
    # the card carries everything.
    card = {"header": {"title": plain(subject)[:200]}, "sections": sections}
    return {"cardsV2": [{"cardId": "keysentry", "card": card}]}


def msteams(document: dict[str, Any], subject: str) -> dict[str, Any]:
    body: list[dict[str, Any]] = [
        {"type": "TextBlock", "text": _markdown_escape(subject), "weight": "Bolder", "wrap": True}
    ]
    for key in document["keys"][:MAX_KEYS]:
        facts = [
            {"title": "Key", "value": _markdown_escape(key["display_name"] or key["uid"])},
            {"title": "Project", "value": _markdown_escape(key["project"])},
            {"title": "Status", "value": f"{key['status']} (score {key['score']})"},
        ]
        body.append({"type": "FactSet", "facts": facts})
        for f in key["findings"]:
            body.append(
                {"type": "TextBlock", "text": _markdown_escape(_finding_line(f)), "wrap": True}
            )
    accepted = _accepted_line(document)
    if accepted:
        body.append({"type": "TextBlock", "text": accepted, "wrap": True, "isSubtle": True})
    card = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": body,
    }
    attachment = {"contentType": "application/vnd.microsoft.card.adaptive", "content": card}
    return {"type": "message", "attachments": [attachment]}


def webhook_body(fmt: str, document: dict[str, Any], subject: str, notification_id: str) -> bytes:
    if fmt == "slack":
        body = slack(document, subject)
    elif fmt == "google_chat":
        body = google_chat(document, subject)
    elif fmt == "msteams":
        body = msteams(document, subject)
    else:
        body = generic(document, notification_id)
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
