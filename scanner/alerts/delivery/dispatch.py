"""Delivers the outbox: claims due notifications, renders and sends each
through its channel, records every attempt, retries with exponential backoff
and jitter, and gives up (`dead`) after dispatch.max_attempts."""

from __future__ import annotations

import logging
import random
import time
from collections import Counter
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import Engine

from scanner.alerts.content.message import build_message
from scanner.alerts.content.render import EmailRenderer
from scanner.alerts.content.webhook_formats import webhook_body
from scanner.alerts.delivery.channels.email import EmailChannel
from scanner.alerts.delivery.channels.errors import DeliveryError
from scanner.alerts.delivery.channels.webhook import WebhookChannel
from scanner.alerts.store import outbox
from scanner.config.alerts import AlertsConfig

log = logging.getLogger("keysentry.alerts")


class Transport(Protocol):
    """Where rendered notifications go: the network, or a directory."""

    def email(self, to: str, message: EmailMessage) -> None: ...

    def webhook(self, receiver: str, name: str, body: bytes, idempotency_key: str) -> None: ...


class NetworkTransport:
    def __init__(self, config: AlertsConfig, environ: Mapping[str, str] | None = None) -> None:
        self._email = EmailChannel(config.smtp, environ)
        self._webhooks = {
            (r.name, w.name): WebhookChannel(w, environ)
            for r in config.receivers
            for w in r.webhooks
        }

    def email(self, to: str, message: EmailMessage) -> None:
        self._email.send(to, message)

    def webhook(self, receiver: str, name: str, body: bytes, idempotency_key: str) -> None:
        channel = self._webhooks.get((receiver, name))
        if channel is None:
            raise DeliveryError.permanent(f"receiver {receiver} has no webhook {name} any more")
        channel.send(body, idempotency_key)


class DirectoryTransport:
    """Writes each message to a file instead of sending it: the demo's outbox."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.written: list[Path] = []
        self._first = len(list(directory.iterdir())) + 1

    def _path(self, stem: str, suffix: str) -> Path:
        safe = "".join(c if c.isalnum() or c in "-_.@" else "_" for c in stem)[:120]
        path = self.directory / f"{self._first + len(self.written):04d}-{safe}{suffix}"
        self.written.append(path)
        return path

    def email(self, to: str, message: EmailMessage) -> None:
        self._path(f"email-{to}", ".eml").write_bytes(bytes(message))

    def webhook(self, receiver: str, name: str, body: bytes, idempotency_key: str) -> None:
        self._path(f"webhook-{receiver}-{name}", ".json").write_bytes(body)


def _now() -> datetime:
    return datetime.now(UTC)


class Dispatcher:
    def __init__(
        self,
        engine: Engine,
        config: AlertsConfig,
        transport: Transport,
        clock: Callable[[], datetime] = _now,
        rng: random.Random | None = None,
        completed: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    ) -> None:
        self._engine = engine
        self._config = config
        # What a payload gains when it is sent (scanner.tickets.links: the tickets).
        self._completed = completed
        self._transport = transport
        self._clock = clock
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not secrecy
        self._renderer = EmailRenderer()

    def run_once(self) -> Counter[str]:
        """Deliver everything due now; returns counts by resulting status."""
        settings = self._config.dispatch
        lease = timedelta(seconds=settings.lease)
        results: Counter[str] = Counter()
        tried: set[int] = set()  # each notification once a run, whatever another dispatcher did
        while True:
            due = outbox.due_ids(self._engine, self._clock(), settings.batch)
            due = [n for n in due if n not in tried]
            if not due:
                return results
            tried.update(due)
            for notification_id in due:
                # Claimed one at a time, right before its send: another dispatcher
                # may have taken it meanwhile, and then this one skips it.
                claimed = outbox.claim(self._engine, notification_id, self._clock(), lease)
                if claimed is not None:
                    results[self._deliver(claimed)] += 1

    def _deliver(self, claimed: outbox.Claimed) -> str:
        started = time.perf_counter()
        error: DeliveryError | None = None
        try:
            self._send(claimed)
        except DeliveryError as exc:
            error = exc
        except Exception as exc:
            # A bug in rendering or a channel: recorded against this notification
            # (and logged with its trace) rather than retried forever under a lease.
            log.exception("notification %d: unexpected error", claimed.id)
            error = DeliveryError.permanent(f"internal error: {type(exc).__name__}: {exc}")
        seconds = time.perf_counter() - started
        now = self._clock()
        if error is None:
            status = outbox.record_attempt(self._engine, claimed, now, "sent", None, seconds, None)
            return self._lost(claimed) if status == "lost" else "sent"
        retry_at = self._retry_at(claimed.attempts + 1, now) if error.retryable else None
        outcome = "retryable" if error.retryable else "permanent"
        status = outbox.record_attempt(
            self._engine, claimed, now, outcome, str(error), seconds, retry_at
        )
        if status == "lost":
            return self._lost(claimed)
        level = logging.ERROR if status == "dead" else logging.WARNING
        log.log(
            level,
            "notification %d to %s %s: %s (%s)",
            claimed.id,
            claimed.channel,
            claimed.receiver,
            error,
            "given up" if status == "dead" else "will retry",
            extra={"notification_id": claimed.id, "attempts": claimed.attempts + 1},
        )
        return "dead" if status == "dead" else "retrying"

    @staticmethod
    def _lost(claimed: outbox.Claimed) -> str:
        log.error(
            "notification %d: its claim lapsed during the send (dispatch.lease is shorter than "
            "the send took); another dispatcher owns it now, so this attempt is not recorded",
            claimed.id,
            extra={"notification_id": claimed.id},
        )
        return "lost"

    def _retry_at(self, attempts: int, now: datetime) -> datetime | None:
        settings = self._config.dispatch
        if attempts >= settings.max_attempts:
            return None
        delay = min(settings.backoff_max, settings.backoff_initial * 2 ** (attempts - 1))
        return now + timedelta(seconds=delay * (0.5 + self._rng.random() / 2))

    def _send(self, claimed: outbox.Claimed) -> None:
        receiver = next((r for r in self._config.receivers if r.name == claimed.receiver), None)
        if receiver is None:
            raise DeliveryError.permanent(f"receiver {claimed.receiver} is no longer configured")
        payload = claimed.payload
        if self._completed is not None:
            payload = self._completed(payload)
        if claimed.channel == "email":
            rendered = self._renderer.render(claimed.subject, payload)
            digest = claimed.kind == "digest"
            message = build_message(
                self._config.smtp, claimed.target, rendered, claimed.dedupe_key, digest
            )
            self._transport.email(claimed.target, message)
            return
        webhook = next((w for w in receiver.webhooks if w.name == claimed.target), None)
        if webhook is None:
            raise DeliveryError.permanent(
                f"receiver {receiver.name} has no webhook {claimed.target}"
            )
        body = webhook_body(webhook.format, payload, claimed.subject, claimed.dedupe_key)
        self._transport.webhook(receiver.name, webhook.name, body, claimed.dedupe_key)
