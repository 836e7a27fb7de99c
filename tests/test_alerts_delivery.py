"""Delivery through real peers: aiosmtpd (plain, STARTTLS, implicit TLS, AUTH)
and an HTTP receiver that checks signatures and fails as told. Outages are
injected at the protocol level: a closed port, 500, 429, 400, a hang."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from scanner.alerts.delivery.dispatch import Dispatcher, NetworkTransport
from scanner.config import Config
from scanner.configfile import parse_config
from scanner.store.tables import DeliveryAttempt, Notification
from tests.conftest import NOW
from tests.peers import HttpReceiver, certificates, free_port, smtp_server
from tests.test_alerts_planner import org, scan


def email_config(port: int, extra: str = "") -> Config:
    return parse_config(
        f"""
alerts:
  route: {{receiver: owners}}
  receivers:
    - name: owners
      email: {{to_owners: true}}
      digest: {{every: 1d}}
  owners: {{"alpha": [alice@example.com], "beta": [bob@example.com]}}
  smtp:
    host: 127.0.0.1
    port: {port}
    sender: keysentry@example.com
    list_unsubscribe: "mailto:unsubscribe@example.com"
    timeout: 5s
{extra}
  dispatch: {{backoff_initial: 60s, backoff_max: 10m, max_attempts: 5}}
""",
        "alerts.yaml",
    )


def webhook_config(
    url: str, fmt: str = "generic", secret_env: str | None = "HOOK_SECRET"
) -> Config:
    secret = f", secret_env: {secret_env}" if secret_env else ""
    return parse_config(
        f"""
alerts:
  route: {{receiver: feed}}
  receivers:
    - name: feed
      webhooks: [{{name: siem, url: "{url}", format: {fmt}, timeout: 2s{secret}}}]
  dispatch: {{backoff_initial: 60s, backoff_max: 10m, max_attempts: 3}}
""",
        "alerts.yaml",
    )


class Clock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, by: timedelta) -> None:
        self.now += by


def dispatcher(engine: Engine, config: Config, clock: Callable[[], datetime]) -> Dispatcher:
    return Dispatcher(
        engine, config.alerts, NetworkTransport(config.alerts), clock, random.Random(1)
    )


def statuses(engine: Engine) -> Counter[str]:
    with engine.connect() as conn:
        return Counter(conn.scalars(select(Notification.status)))


def attempts(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(DeliveryAttempt)) or 0)


def beta_org() -> list[dict[str, Any]]:
    from tests import assets

    return [*org(), assets.key("200", uid="k-beta", display_name="beta open")]


@pytest.mark.parametrize("security", ["none", "starttls", "tls"])
def test_email_digests_one_recipient_each(
    engine: Engine, tmp_path: Path, security: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    certs = certificates(tmp_path)
    port = free_port()
    extra = f"    security: {security}\n    ca_file: {certs.ca_file}\n"
    if security != "none":
        extra += "    username: keysentry\n    password_env: SMTP_PASSWORD\n"
        monkeypatch.setenv("SMTP_PASSWORD", "s3cret")
    config = email_config(port, extra)
    scan(engine, tmp_path, beta_org(), NOW, config)
    auth = ("keysentry", "s3cret") if security != "none" else None
    with smtp_server(port, security, certs, auth) as smtp:
        results = dispatcher(engine, config, lambda: NOW).run_once()
    assert results == Counter({"sent": 2})
    by_recipient = {r.recipients[0]: r for r in smtp.received}
    assert set(by_recipient) == {"alice@example.com", "bob@example.com"}
    for address, received in by_recipient.items():
        message = received.message
        assert received.recipients == [address] and message["To"] == address
        assert message["From"] == "keysentry@example.com" and message["Date"]
        assert message["Message-ID"].endswith("@example.com>")
        assert message["List-Unsubscribe"] == "<mailto:unsubscribe@example.com>"
        assert message.get_content_type() == "multipart/alternative"
        text = message.get_body(("plain",)).get_content()
        html = message.get_body(("html",)).get_content()
        assert "Restrict the key" in text or "Move Gemini callers" in text
        assert "<ol" in html and 'id="summary"' in html
    # One recipient's mail never shows another's keys.
    alice = by_recipient["alice@example.com"].message.get_body(("plain",)).get_content()
    bob = by_recipient["bob@example.com"].message.get_body(("plain",)).get_content()
    assert "k-open" in alice and "k-beta" not in alice
    assert "k-beta" in bob and "k-open" not in bob


def test_wrong_smtp_password_is_permanent(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    certs = certificates(tmp_path)
    port = free_port()
    extra = (
        f"    security: starttls\n    ca_file: {certs.ca_file}\n"
        "    username: keysentry\n    password_env: SMTP_PASSWORD\n"
    )
    monkeypatch.setenv("SMTP_PASSWORD", "wrong")
    config = email_config(port, extra)
    scan(engine, tmp_path, org(), NOW, config)
    with smtp_server(port, "starttls", certs, ("keysentry", "s3cret")) as smtp:
        results = dispatcher(engine, config, lambda: NOW).run_once()
    assert results == Counter({"dead": 1}) and smtp.received == []


def test_smtp_down_for_three_attempts_then_up_delivers_exactly_once(
    engine: Engine, tmp_path: Path
) -> None:
    port = free_port()  # nothing listens there yet: connection refused
    config = email_config(port, "    security: none\n")
    scan(engine, tmp_path, org(), NOW, config)
    clock = Clock(NOW)
    send = dispatcher(engine, config, clock)
    for _ in range(3):
        assert send.run_once() == Counter({"retrying": 1})
        assert send.run_once() == Counter()  # not due again before its backoff
        clock.advance(timedelta(minutes=11))
    with smtp_server(port) as smtp:
        assert send.run_once() == Counter({"sent": 1})
        clock.advance(timedelta(hours=1))
        assert send.run_once() == Counter()
    assert len(smtp.received) == 1
    assert attempts(engine) == 4 and statuses(engine) == Counter({"sent": 1})


def test_webhook_signed_with_idempotency_key_500_then_200(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOOK_SECRET", "hook-secret")
    with HttpReceiver(script=[500], secret="hook-secret") as hook:
        config = webhook_config(hook.url)
        queued = scan(engine, tmp_path, org(), NOW, config)
        clock = Clock(NOW)
        send = dispatcher(engine, config, clock)
        first = send.run_once()
        clock.advance(timedelta(minutes=11))
        second = send.run_once()
    assert first["retrying"] == 1 and first["sent"] == len(queued) - 1
    assert second == Counter({"sent": 1})
    keys = Counter(r.headers["Idempotency-Key"] for r in hook.requests)
    assert sorted(keys.values(), reverse=True)[0] == 2  # the retried one, same key
    assert set(keys) == {n.dedupe_key for n in queued}
    assert all(r.signature_ok for r in hook.requests)
    body = hook.requests[0].json()
    assert body["schema"] == "keysentry.notification/v2" and body["id"] in keys
    assert {"kind", "event", "keys", "receiver", "evaluated_at"} <= set(body)


@pytest.mark.parametrize(
    ("answer", "outcome", "status"),
    [
        (429, "retryable", "pending"),
        (503, "retryable", "pending"),
        (400, "permanent", "dead"),
        (404, "permanent", "dead"),
        ("hang", "retryable", "pending"),
    ],
)
def test_webhook_answers(
    engine: Engine, tmp_path: Path, answer: int | str, outcome: str, status: str
) -> None:
    with HttpReceiver(script=[answer] * 20) as hook:
        config = webhook_config(hook.url, secret_env=None)
        scan(engine, tmp_path, org()[:4], NOW, config)
        dispatcher(engine, config, lambda: NOW).run_once()
    with engine.connect() as conn:
        recorded = conn.execute(select(DeliveryAttempt.outcome, DeliveryAttempt.error)).all()
    assert {r.outcome for r in recorded} == {outcome}
    assert set(statuses(engine)) == {status}
    if answer == "hang":
        assert all("no whole answer within its timeout (2s)" in (r.error or "") for r in recorded)
        assert all(r.headers.get("X-Keysentry-Signature") is None for r in hook.requests)


def test_gives_up_after_max_attempts(engine: Engine, tmp_path: Path) -> None:
    with HttpReceiver(script=[500] * 20) as hook:
        config = webhook_config(hook.url, secret_env=None)
        scan(engine, tmp_path, org()[:4], NOW, config)
        clock = Clock(NOW)
        send = dispatcher(engine, config, clock)
        for _ in range(5):
            send.run_once()
            clock.advance(timedelta(hours=1))
    assert statuses(engine) == Counter({"dead": 1})
    assert len(hook.requests) == 3 == attempts(engine)


def test_a_missing_secret_is_a_permanent_error(engine: Engine, tmp_path: Path) -> None:
    with HttpReceiver() as hook:
        config = webhook_config(hook.url, secret_env="KEYSENTRY_TEST_UNSET_SECRET")
        scan(engine, tmp_path, org()[:4], NOW, config)
        assert dispatcher(engine, config, lambda: NOW).run_once() == Counter({"dead": 1})
    assert hook.requests == []


def test_a_notification_that_cannot_be_rendered_is_recorded_dead(
    engine: Engine, tmp_path: Path
) -> None:
    with HttpReceiver() as hook:
        config = webhook_config(hook.url, fmt="slack", secret_env=None)
        queued = scan(engine, tmp_path, org()[:4], NOW, config)
        broken = dict(queued[0].payload)
        broken["keys"] = [{**broken["keys"][0], "findings": [{"checklist": "no-such-list"}]}]
        with engine.begin() as conn:
            conn.execute(
                Notification.__table__.update()
                .where(Notification.id == queued[0].id)
                .values(payload=broken)
            )
        assert dispatcher(engine, config, lambda: NOW).run_once() == Counter({"dead": 1})
    with engine.connect() as conn:
        error = conn.scalar(select(DeliveryAttempt.error))
    assert error is not None and error.startswith("internal error: KeyError")
    assert hook.requests == []
