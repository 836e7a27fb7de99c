"""A peer that drips its answer a byte at a time, each byte within the read
timeout, cannot hold a send past its claim: the channel's timeout bounds the
whole exchange, the send counts as one retryable attempt with backoff, and
three dispatchers send the notification once between them and then stop."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from scanner.alerts.content.message import build_message
from scanner.alerts.content.render import RenderedEmail
from scanner.alerts.delivery.channels.email import EmailChannel
from scanner.alerts.delivery.channels.errors import DeliveryError
from scanner.alerts.delivery.dispatch import Dispatcher, NetworkTransport
from scanner.configfile import parse_config
from scanner.store import db
from scanner.store.tables import DeliveryAttempt, Notification
from tests.peers import DripServer
from tests.test_delivery_exactly_once import queue

# The status line and headers take 60 bytes: a minute at one byte a second.
SLOW_OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}"


def test_a_dripping_receiver_gets_one_send_from_three_dispatchers(db_url: str) -> None:
    queue(db_url, 1)
    with DripServer(SLOW_OK, interval=0.8, request=True) as peer:
        config = parse_config(
            "alerts:\n  route: {receiver: feed}\n  receivers:\n    - name: feed\n"
            f'      webhooks: [{{name: siem, url: "{peer.url}", timeout: 1s}}]\n'
            "  dispatch: {lease: 4s, backoff_initial: 1h}\n",
            "c",
        )
        engines = [db.open_engine(db_url) for _ in range(3)]
        start = threading.Barrier(3)
        failures: list[BaseException] = []

        def dispatch(index: int) -> None:
            try:
                dispatcher = Dispatcher(
                    engines[index], config.alerts, NetworkTransport(config.alerts, {})
                )
                start.wait()
                dispatcher.run_once()
            except BaseException as exc:  # reported by the test thread
                failures.append(exc)

        threads = [threading.Thread(target=dispatch, args=(i,)) for i in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert not any(thread.is_alive() for thread in threads)  # every dispatcher ended
        assert not failures
        assert len(peer.requests) == 1
    with engines[0].connect() as conn:
        attempts = conn.execute(select(DeliveryAttempt.outcome, DeliveryAttempt.error)).all()
        row = conn.execute(select(Notification)).one()
    assert [a.outcome for a in attempts] == ["retryable"]
    assert "no whole answer within its timeout (1s)" in str(attempts[0].error)
    assert (row.status, row.attempts) == ("pending", 1)
    assert row.next_attempt_at > datetime.now(UTC)  # backed off, not taken again at once
    for engine in engines:
        engine.dispose()


def test_a_dripping_smtp_server_fails_the_send_at_its_timeout() -> None:
    with DripServer(b"220 drip.example.com ESMTP ready\r\n", interval=0.3, request=False) as peer:
        config = parse_config(
            "alerts:\n  route: {receiver: owners}\n  receivers:\n"
            "    - name: owners\n      email: {to: [a@example.com]}\n"
            f"  smtp: {{host: 127.0.0.1, port: {peer.port}, security: none,"
            " sender: k@example.com, timeout: 1s}\n",
            "c",
        )
        message = build_message(
            config.alerts.smtp, "a@example.com", RenderedEmail("s", "t", "<p>t</p>"), "k", False
        )
        with pytest.raises(DeliveryError) as failed:
            EmailChannel(config.alerts.smtp, {}).send("a@example.com", message)
        assert failed.value.retryable
        assert "no whole exchange within its timeout (1s)" in str(failed.value)
        assert peer.connections == 1
