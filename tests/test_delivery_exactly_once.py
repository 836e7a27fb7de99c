"""Two or three dispatchers (the worker and `alerts dispatch`, or replicas)
against a slow receiver: every notification is delivered exactly once, on
SQLite and PostgreSQL. A claim covers one send; a lapsed claim can neither
send nor record. A send whose answer came too late is the one ambiguous case
(the receiver may have it): it is retried under the same Idempotency-Key, so
only such a send may reach the receiver twice."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from scanner.alerts.delivery.dispatch import Dispatcher, NetworkTransport
from scanner.alerts.store import outbox
from scanner.configfile import parse_config
from scanner.store import db
from scanner.store.tables import DeliveryAttempt, Notification
from tests.peers import HttpReceiver

NOTIFICATIONS = 40


def queue(url: str, count: int) -> list[str]:
    engine = db.open_engine(url)
    db.ensure_current(engine)
    now = datetime.now(UTC) - timedelta(seconds=1)
    rows = [
        outbox.notification_row(
            f"transition:{n:04d}", "transition", "feed", "webhook", "siem", f"s{n}", {}, None, now
        )
        for n in range(count)
    ]
    with engine.begin() as conn:
        outbox.enqueue(conn, rows)
    engine.dispose()
    return [r["dedupe_key"] for r in rows]


@pytest.mark.parametrize("dispatchers", [2, 3])
def test_every_notification_is_delivered_exactly_once(db_url: str, dispatchers: int) -> None:
    keys = queue(db_url, NOTIFICATIONS)
    with HttpReceiver() as hook:
        hook.delay = 0.05  # 40 sends take 2 s: longer than one lease
        config = parse_config(
            "alerts:\n  route: {receiver: feed}\n  receivers:\n    - name: feed\n"
            f'      webhooks: [{{name: siem, url: "{hook.url}", timeout: 250ms}}]\n'
            "  dispatch: {lease: 1s, batch: 100}\n",
            "c",
        )
        start = threading.Barrier(dispatchers)
        engines = [db.open_engine(db_url) for _ in range(dispatchers)]
        failures: list[BaseException] = []

        def dispatch(index: int) -> None:
            try:
                transport = NetworkTransport(config.alerts, {})
                dispatcher = Dispatcher(engines[index], config.alerts, transport)
                start.wait()
                dispatcher.run_once()
            except BaseException as exc:  # reported by the test thread
                failures.append(exc)

        threads = [threading.Thread(target=dispatch, args=(i,)) for i in range(dispatchers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        assert not failures
        # A loaded machine can make an answer miss its 250 ms: that send waits
        # for its retry, which a dispatcher whose clock is past the backoff takes.
        later = datetime.now(UTC) + timedelta(days=1)
        drain = Dispatcher(
            engines[0], config.alerts, NetworkTransport(config.alerts, {}), lambda: later
        )
        for _ in range(config.alerts.dispatch.max_attempts):
            if not drain.run_once():
                break
    delivered = Counter(r.headers["Idempotency-Key"] for r in hook.requests)
    with engines[0].connect() as conn:
        statuses = conn.execute(
            select(Notification.status, func.count()).group_by(Notification.status)
        ).all()
        late = Counter(
            conn.scalars(
                select(Notification.dedupe_key)
                .join(DeliveryAttempt, DeliveryAttempt.notification_id == Notification.id)
                .where(DeliveryAttempt.outcome == "retryable")
            )
        )
        attempts = conn.scalar(select(func.count()).select_from(DeliveryAttempt))
    assert sorted(delivered) == sorted(keys)  # none missing, none invented
    twice = {key: n for key, n in delivered.items() if n > 1 + late[key]}
    assert twice == {}  # more sends than answers that came too late: a claim was shared
    assert statuses == [("sent", NOTIFICATIONS)]
    assert attempts == NOTIFICATIONS + sum(late.values())
    for engine in engines:
        engine.dispose()


def test_a_lapsed_claim_records_nothing(db_url: str) -> None:
    """A send that outlives its claim: the notification was taken again, so the
    late dispatcher's record is refused and nothing is written twice."""
    queue(db_url, 1)
    engine = db.open_engine(db_url)
    now = datetime.now(UTC)
    (first_id,) = outbox.due_ids(engine, now, 10)
    late = outbox.claim(engine, first_id, now, timedelta(seconds=1))
    assert late is not None
    assert outbox.claim(engine, first_id, now, timedelta(seconds=1)) is None  # held
    later = now + timedelta(seconds=2)
    fresh = outbox.claim(engine, first_id, later, timedelta(seconds=60))  # the lease lapsed
    assert fresh is not None
    assert outbox.record_attempt(engine, late, later, "sent", None, 2.0, None) == "lost"
    assert outbox.record_attempt(engine, fresh, later, "sent", None, 0.1, None) == "sent"
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(DeliveryAttempt)) == 1
    engine.dispose()


def test_a_lease_shorter_than_a_send_can_take_is_a_config_error() -> None:
    from scanner.core.errors import ConfigError

    with pytest.raises(ConfigError, match=r"dispatch.lease: 30s is less than 4 times"):
        parse_config(
            "alerts:\n  route: {receiver: feed}\n  receivers:\n    - name: feed\n"
            '      webhooks: [{name: siem, url: "http://127.0.0.1:9/", timeout: 10s}]\n'
            "  dispatch: {lease: 30s}\n",
            "c",
        )
