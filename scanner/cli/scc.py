"""`keysentry scc sync`: publish the latest scan's findings to Security
Command Center (the `scc:` section of the config)."""

from __future__ import annotations

import click

from scanner.cli.common import common_options, handle_errors, open_store
from scanner.configfile import load_config
from scanner.core.errors import ConfigError


@click.group("scc")
def scc_group() -> None:
    """Security Command Center: keysentry's findings as a custom source's."""


@scc_group.command("sync")
@common_options
@click.option(
    "--scan", "scan_id", type=int, help="Publish this scan's findings (default: the latest)."
)
@click.option("--dry-run", is_flag=True, help="Say what would be sent; send nothing.")
@handle_errors
def sync_command(
    config_path: str | None, db_url: str | None, scan_id: int | None, dry_run: bool
) -> None:
    """Create, update, mute and resolve the findings that changed since the last sync."""
    from scanner.scc.sync import SccSync, make_client

    config = load_config(config_path)
    if config.scc.source is None:
        raise ConfigError("scc.source is not set: the custom source to publish to")
    engine = open_store(config, db_url, create=False)
    stats = SccSync(engine, config.scc, make_client).run(scan_id, dry_run=dry_run)
    for what, p in stats.planned:
        click.echo(f"would be {what}: {p.finding.category} on {p.key_name}")
    click.echo(("(dry run) " if dry_run else "") + stats.line())
