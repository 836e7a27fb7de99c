"""`keysentry alerts`: dispatch the outbox, preview, send a test, list the outbox."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial

import click
from sqlalchemy import Engine

from scanner.alerts.content.message import build_message
from scanner.alerts.content.payload import envelope
from scanner.alerts.content.render import EmailRenderer
from scanner.alerts.content.webhook_formats import webhook_body
from scanner.alerts.delivery.channels.errors import DeliveryError
from scanner.alerts.delivery.dispatch import Dispatcher, NetworkTransport
from scanner.alerts.plan.digests import digests
from scanner.alerts.plan.routing import ConfiguredOwners, Router
from scanner.alerts.store.outbox import list_notifications
from scanner.cli.common import common_options, handle_errors, open_store
from scanner.cli.instants import parse_now
from scanner.config import Config
from scanner.config.alerts import AlertsConfig
from scanner.configfile import load_config
from scanner.core.errors import ConfigError
from scanner.report.formats import terminal_safe, terminal_text
from scanner.store.queries import scan_for_report


def _alerts(config: Config, where: str | None) -> AlertsConfig:
    if not config.alerts.enabled:
        raise ConfigError(
            f"{where or '(no config file)'}: alerts.route: no alerting configured "
            "(see README, Alerts)"
        )
    return config.alerts


@click.group("alerts")
def alerts_group() -> None:
    """Alert notifications: the outbox, previews and test messages."""


@alerts_group.command("dispatch")
@common_options
@handle_errors
def dispatch(config_path: str | None, db_url: str | None) -> None:
    """Deliver every notification that is due, once."""
    config = load_config(config_path)
    alerts = _alerts(config, config_path)
    engine = open_store(config, db_url, create=False)
    from scanner.tickets.links import ticket_links

    transport = NetworkTransport(alerts)
    completed = ticket_links(engine, config.tickets)
    results = Dispatcher(engine, alerts, transport, completed=completed).run_once()
    click.echo(
        f"sent {results['sent']}, retrying later {results['retrying']}, dead {results['dead']}"
    )


@alerts_group.command("preview")
@common_options
@click.option("--receiver", help="Only this receiver.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "html", "json"]),
    default="text",
    show_default=True,
)
@click.option(
    "--now",
    metavar="DATE",
    help="As of this instant or date; default: the latest scan's, which the digest reports.",
)
@handle_errors
def preview(
    config_path: str | None, db_url: str | None, receiver: str | None, fmt: str, now: str | None
) -> None:
    """What each recipient would get from the latest scan, as a digest of their
    keys, without sending or queuing anything."""
    config = load_config(config_path)
    alerts = _alerts(config, config_path)
    names = {r.name for r in alerts.receivers}
    if receiver is not None and receiver not in names:
        raise ConfigError(f"--receiver: no receiver named {receiver!r}")
    engine = open_store(config, db_url, create=False)
    scan = scan_for_report(engine, None)
    # One clock: the scan's findings are worded as of the scan, unless asked.
    at = parse_now(now) if now else scan.evaluated_at
    scan_id = scan.id
    router = Router(alerts, ConfiguredOwners(alerts.owners))
    with engine.connect() as conn:
        found = digests(conn, alerts, router, scan_id, at, {receiver} if receiver else names)
    renderer = EmailRenderer()
    if fmt == "json":
        documents = [
            {
                "receiver": t.receiver,
                "channel": t.channel,
                "target": t.address,
                "subject": subject,
                "document": document,
            }
            for t, subject, document in found
        ]
        click.echo(json.dumps(documents, indent=2, ensure_ascii=False))
        return
    for target, subject, document in found:
        rendered = renderer.render(subject, document)
        heading = f"== {target.receiver} / {target.channel} / {target.address} =="
        click.echo(terminal_safe(heading))
        click.echo(terminal_text(rendered.html if fmt == "html" else rendered.text))
    if not found:
        click.echo("nothing to send: no key with open findings reaches any receiver")


@alerts_group.command("test")
@common_options
@click.argument("receiver")
@handle_errors
def test(config_path: str | None, db_url: str | None, receiver: str) -> None:
    """Send a test message through each channel of RECEIVER (fixed addresses
    and webhooks; owners are not written to). Exit 2 if any fails."""
    config = load_config(config_path)
    alerts = _alerts(config, config_path)
    chosen = next((r for r in alerts.receivers if r.name == receiver), None)
    if chosen is None:
        raise ConfigError(f"RECEIVER: no receiver named {receiver!r}")
    now = datetime.now(UTC)
    reason = f"`keysentry alerts test {receiver}` was run to check this channel."
    document = envelope(alerts, "test", "test", "test message", receiver, reason, None, now)
    subject = f"[keysentry] test message for receiver {receiver}"
    identity = f"test:{receiver}:{now.timestamp()}"
    transport = NetworkTransport(alerts)
    failures = 0
    deliveries: list[tuple[str, Callable[[], None]]] = []
    if chosen.email is not None:
        rendered = EmailRenderer().render(subject, document)
        for address in chosen.email.to:
            message = build_message(alerts.smtp, address, rendered, identity, digest=False)
            deliveries.append((f"email {address}", partial(transport.email, address, message)))
    for webhook in chosen.webhooks:
        body = webhook_body(webhook.format, document, subject, identity)
        send = partial(transport.webhook, receiver, webhook.name, body, identity)
        deliveries.append((f"webhook {webhook.name}", send))
    for label, deliver in deliveries:
        try:
            deliver()
        except DeliveryError as exc:
            failures += 1
            kind = "retryable" if exc.retryable else "permanent"
            click.echo(f"{label}: failed ({kind}): {terminal_safe(str(exc))}")
        else:
            click.echo(f"{label}: sent")
    if not deliveries:
        click.echo("nothing to test: this receiver writes only to project owners")
    if failures:
        sys.exit(2)


@alerts_group.command("outbox")
@common_options
@click.option(
    "--status",
    type=click.Choice(["pending", "dead", "sent", "all"]),
    default="all",
    show_default=True,
    help="Which notifications; `all` is pending and dead.",
)
@click.option("--limit", default=50, show_default=True)
@handle_errors
def outbox_list(config_path: str | None, db_url: str | None, status: str, limit: int) -> None:
    """List notifications in the outbox, newest first."""
    engine: Engine = open_store(load_config(config_path), db_url, create=False)
    statuses = ["pending", "dead"] if status == "all" else [status]
    rows = list_notifications(engine, statuses, limit)
    for n in rows:
        line = (
            f"{n.id:>6}  {n.status:<7} {n.attempts:>2}x  {n.kind:<10} {n.channel:<7} "
            f"{n.receiver}/{n.target}  next {n.next_attempt_at:%Y-%m-%dT%H:%M:%SZ}"
        )
        if n.last_error:
            line += f"  error: {n.last_error}"
        click.echo(terminal_safe(line))
    if not rows:
        click.echo(f"no {' or '.join(statuses)} notifications")
