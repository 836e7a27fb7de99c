"""`keysentry feed`: Cloud Asset real-time feeds, which tell the worker of
a changed key within seconds (scanner.feed)."""

from __future__ import annotations

from pathlib import Path

import click

from scanner.cli.common import common_options, handle_errors, open_store
from scanner.cli.instants import parse_now
from scanner.configfile import load_config
from scanner.core.errors import StoreError


@click.group("feed")
def feed_group() -> None:
    """Near-real-time changes from a Cloud Asset feed over Pub/Sub."""


@feed_group.command("replay")
@common_options
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--now", help="Evaluate as of this instant (ISO 8601); default: now.")
@handle_errors
def replay_command(
    config_path: str | None, db_url: str | None, file: Path, now: str | None
) -> None:
    """Apply saved feed messages (JSON lines of their data) to the history."""
    from scanner.alerts.plan.planner import FEED_STAGES, scan_hook
    from scanner.feed.apply import apply_changes
    from scanner.feed.replay import read_messages
    from scanner.store.lock import ScanLock

    config = load_config(config_path)
    at = parse_now(now)
    changes, others = read_messages(file)
    engine = open_store(config, db_url, create=False)
    plan = scan_hook(config.alerts, stages=FEED_STAGES) if config.alerts.enabled else None
    with ScanLock(engine).for_scan() as held:
        if not held:
            raise StoreError("another scan is running against this database; try again later")
        outcome = apply_changes(engine, config, changes, at, f"feed replay {file.name}", plan)
    counts = outcome.outcomes + others
    told = ", ".join(f"{n} {what}" for what, n in sorted(counts.items()) if n) or "none"
    where = f"scan {outcome.scan_id}" if outcome.scan_id is not None else "nothing written"
    click.echo(f"feed: {sum(counts.values())} message(s): {told}; {where}")
    if outcome.stats is not None:
        queued = sum(outcome.stats.alerts.get("queued", {}).values())
        if queued:
            click.echo(f"{queued} notification(s) queued: `keysentry alerts dispatch` sends them")
