"""Email over SMTP: STARTTLS, implicit TLS or plain, optional login with the
password from an environment variable. One recipient per message, so no
one's mail shows another's keys."""

from __future__ import annotations

import hashlib
import os
import smtplib
import ssl
from collections.abc import Mapping
from email import policy
from email.message import EmailMessage
from email.utils import formatdate

from alerts.channels.errors import DeliveryError
from alerts.config import SmtpConfig
from alerts.render import RenderedEmail, header_safe

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


class EmailChannel:
    def __init__(self, smtp: SmtpConfig, environ: Mapping[str, str] | None = None) -> None:
        self._smtp = smtp
        self._environ = os.environ if environ is None else environ

    def _password(self) -> str | None:
        name = self._smtp.password_env
        if name is None:
            return None
        value = self._environ.get(name)
        if not value:
            raise DeliveryError.permanent(f"SMTP password variable {name} is not set")
        return value

    def _connect(self) -> smtplib.SMTP:
        smtp = self._smtp
        context = ssl.create_default_context(cafile=smtp.ca_file)
        if smtp.security == "tls":
            return smtplib.SMTP_SSL(
                smtp.host, smtp.effective_port, timeout=smtp.timeout, context=context
            )
        client = smtplib.SMTP(smtp.host, smtp.effective_port, timeout=smtp.timeout)
        if smtp.security == "starttls":
            client.starttls(context=context)
        return client

    def send(self, message: EmailMessage) -> None:
        password = self._password()
        try:
            with self._connect() as client:
                if self._smtp.username is not None:
                    client.login(self._smtp.username, password or "")
                client.send_message(message)
        except smtplib.SMTPAuthenticationError as exc:
            raise DeliveryError.permanent(f"SMTP login refused: {exc.smtp_code}") from None
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            text = f"recipient refused ({', '.join(map(str, codes))})"
            raise DeliveryError(text, retryable=all(400 <= c < 500 for c in codes)) from None
        except smtplib.SMTPResponseException as exc:
            text = f"SMTP {exc.smtp_code}: {exc.smtp_error!r}"
            raise DeliveryError(text, retryable=400 <= exc.smtp_code < 500) from None
        except (smtplib.SMTPServerDisconnected, smtplib.SMTPConnectError) as exc:
            raise DeliveryError.retry(f"SMTP connection lost: {exc}") from None
        except ssl.SSLError as exc:
            raise DeliveryError.permanent(f"SMTP TLS failed: {exc.reason}") from None
        except smtplib.SMTPNotSupportedError as exc:
            raise DeliveryError.permanent(f"SMTP server: {exc}") from None
        except (TimeoutError, OSError) as exc:
            raise DeliveryError.retry(f"SMTP {self._smtp.host}: {exc}") from None
