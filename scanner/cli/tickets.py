"""`keysentry tickets`: keep a Jira or ServiceNow ticket per group of open
findings (the `tickets:` section of the config), and list them."""

from __future__ import annotations

from datetime import UTC, datetime

import click

from scanner.cli.common import common_options, handle_errors, open_store
from scanner.configfile import load_config
from scanner.core.errors import ConfigError


@click.group("tickets")
def tickets_group() -> None:
    """Tickets in Jira or ServiceNow that follow the findings."""


@tickets_group.command("sync")
@common_options
@click.option("--scan", "scan_id", type=int, help="This scan (default: the latest).")
@click.option("--dry-run", is_flag=True, help="Say what would be done; call nothing.")
@handle_errors
def sync_command(
    config_path: str | None, db_url: str | None, scan_id: int | None, dry_run: bool
) -> None:
    """Create, update, resolve and reopen tickets; report those closed without a fix."""
    from scanner.alerts.content.actions import exception_request
    from scanner.tickets.make import systems
    from scanner.tickets.sync import TicketSync

    config = load_config(config_path)
    if config.tickets.route is None:
        raise ConfigError("tickets.route is not set: which receiver gets which findings")
    engine = open_store(config, db_url, create=False)
    sync = TicketSync(engine, config.tickets, systems(config.tickets))
    stats = sync.run(scan_id, dry_run=dry_run)
    for what, subject in stats.planned:
        click.echo(f"would be {what}: {subject.receiver}: {subject.title}")
    for group, remote in stats.declined:
        click.echo(
            f"{group.receiver}: {remote.key} was closed as {remote.resolution or 'declined'} "
            f"while {len(group.items)} finding(s) are open ({remote.url}); nothing is accepted "
            "until the exceptions file says so. To accept them, propose:"
        )
        for name in sorted({i.key_name for i in group.items}):
            rules = [i.rule for i in group.items if i.key_name == name]
            click.echo(exception_request(name, rules, datetime.now(UTC), ticket=remote.url))
    click.echo(("(dry run) " if dry_run else "") + stats.line())


@tickets_group.command("list")
@common_options
@handle_errors
def list_command(config_path: str | None, db_url: str | None) -> None:
    """Each group's ticket: key(s), ticket, state."""
    from scanner.store.tickets import tickets

    config = load_config(config_path)
    engine = open_store(config, db_url, create=False)
    with engine.connect() as conn:
        found = tickets(conn)
    for t in sorted(found.values(), key=lambda t: (t.receiver, t.title)):
        state = t.state + (f" (closed as {t.declined})" if t.declined else "")
        click.echo(f"{t.receiver}  {t.remote_key or '-'}  {state}  {t.title}  {t.url or ''}")
    click.echo(f"{len(found)} ticket(s)")
