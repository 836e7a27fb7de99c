"""Email over SMTP: STARTTLS, implicit TLS or plain, optional login with the
password from an environment variable. One recipient per message, so no
one's mail shows another's keys."""

from __future__ import annotations

import os
import smtplib
import socket
import ssl
from collections.abc import Mapping
from email.message import EmailMessage

from scanner.alerts.delivery.channels.errors import DeliveryError
from scanner.calls.deadline import Deadline
from scanner.config.alerts import SmtpConfig
from scanner.core.addresses import is_address


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

    def _connect(self, deadline: Deadline) -> smtplib.SMTP:
        smtp = self._smtp
        client: _Watched
        # The deadline ends the exchange; each read's timeout is a backstop.
        if smtp.security == "tls":
            context = ssl.create_default_context(cafile=smtp.ca_file)
            client = _WatchedTls(timeout=2 * smtp.timeout, context=context)
        else:
            client = _Watched(timeout=2 * smtp.timeout)
        client.deadline = deadline
        client._host = smtp.host  # type: ignore[attr-defined]  # what TLS checks; set by SMTP(host)
        client.connect(smtp.host, smtp.effective_port)
        if smtp.security == "starttls":
            client.starttls(context=ssl.create_default_context(cafile=smtp.ca_file))
        return client

    def send(self, to: str, message: EmailMessage) -> None:
        """MESSAGE to TO alone: the envelope names one recipient, whatever its
        headers say."""
        if not is_address(to):
            raise DeliveryError.permanent(f"not one email address: {to!r}")
        password = self._password()
        timeout = self._smtp.timeout
        with Deadline(timeout) as deadline:
            try:
                with self._connect(deadline) as client:
                    if self._smtp.username is not None:
                        client.login(self._smtp.username, password or "")
                    client.send_message(message, to_addrs=[to])
            except (smtplib.SMTPException, OSError) as exc:
                if deadline.expired:
                    raise DeliveryError.retry(
                        f"SMTP {self._smtp.host}: no whole exchange within its timeout "
                        f"({timeout:g}s)"
                    ) from None
                raise self._failure(exc) from None

    def _failure(self, exc: smtplib.SMTPException | OSError) -> DeliveryError:
        """What an SMTP error says about trying again."""
        if isinstance(exc, smtplib.SMTPAuthenticationError):
            return DeliveryError.permanent(f"SMTP login refused: {exc.smtp_code}")
        if isinstance(exc, smtplib.SMTPRecipientsRefused):
            codes = [code for code, _ in exc.recipients.values()]
            text = f"recipient refused ({', '.join(map(str, codes))})"
            return DeliveryError(text, retryable=all(400 <= c < 500 for c in codes))
        if isinstance(exc, smtplib.SMTPResponseException):
            text = f"SMTP {exc.smtp_code}: {exc.smtp_error!r}"
            return DeliveryError(text, retryable=400 <= exc.smtp_code < 500)
        if isinstance(exc, smtplib.SMTPServerDisconnected | smtplib.SMTPConnectError):
            return DeliveryError.retry(f"SMTP connection lost: {exc}")
        if isinstance(exc, ssl.SSLError):
            return DeliveryError.permanent(f"SMTP TLS failed: {exc.reason}")
        if isinstance(exc, smtplib.SMTPNotSupportedError):
            return DeliveryError.permanent(f"SMTP server: {exc}")
        return DeliveryError.retry(f"SMTP {self._smtp.host}: {exc}")


class _Watched(smtplib.SMTP):
    """An SMTP client whose socket its deadline shuts down."""

    deadline: Deadline

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        return self.deadline.connect((host, port), timeout, self.source_address)


class _WatchedTls(smtplib.SMTP_SSL, _Watched):
    """Implicit TLS over a watched socket: SMTP_SSL wraps what _Watched opens."""
