"""An email as it is sent: one message per recipient, multipart text and
HTML, with a Message-ID stable per notification (a resend after a crash
carries the same one) and List-Unsubscribe on digests."""

from __future__ import annotations

import hashlib
from email import policy
from email.message import EmailMessage
from email.utils import formatdate

from scanner.alerts.content.render import RenderedEmail, header_safe
from scanner.config.alerts import SmtpConfig

# Headers on one line up to RFC 5322's limit, rather than folded at 78.
POLICY = policy.default.clone(max_line_length=998)


def message_id(dedupe_key: str, sender: str) -> str:
    """Stable per notification: a resend after a crash carries the same id."""
    domain = sender.rsplit("@", 1)[-1]
    return f"<{hashlib.sha256(dedupe_key.encode()).hexdigest()[:32]}@{domain}>"


def build_message(
    smtp: SmtpConfig, to: str, rendered: RenderedEmail, dedupe_key: str, digest: bool
) -> EmailMessage:
    message = EmailMessage(policy=POLICY)
    message["From"] = smtp.sender
    message["To"] = header_safe(to, 320)
    message["Subject"] = header_safe(rendered.subject)
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = message_id(dedupe_key, smtp.sender)
    message["Auto-Submitted"] = "auto-generated"
    if digest and smtp.list_unsubscribe:
        message["List-Unsubscribe"] = f"<{header_safe(smtp.list_unsubscribe, 500)}>"
    message.set_content(rendered.text)
    message.add_alternative(rendered.html, subtype="html")
    return message
