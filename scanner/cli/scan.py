"""`keysentry scan`: read the inventory, judge it, record the history, queue
alerts and print the report. Apart from the read-only commands, so that they
do not load the scan pipeline, the Google clients and alerting."""

from __future__ import annotations

import click

from scanner.alerts.plan.planner import scan_hook
from scanner.cli.common import (
    DryRunReport,
    common_options,
    finish_report,
    handle_errors,
    open_store,
    output_options,
    progress_display,
    scan_summary,
    scope_options,
)
from scanner.cli.instants import parse_now
from scanner.cli.sources import audit_factory, source_factory, usage_factory
from scanner.configfile import load_config
from scanner.core.errors import StoreError
from scanner.scan.engine import run_scan
from scanner.store import db
from scanner.store import scans as scans_store
from scanner.store.lock import ScanLock


@click.command()
@common_options
@output_options
@scope_options
@click.option("--now", help="Evaluate as of this instant (ISO 8601), e.g. 2026-11-21T00:00:00Z.")
@click.option(
    "--accept-shrink",
    is_flag=True,
    help="Record the scan even if it sees far fewer keys or projects than the last one.",
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="Evaluate and report, recording nothing and queuing no alerts; with --now, "
    "what a date would give.",
)
@handle_errors
def scan(
    config_path: str | None,
    db_url: str | None,
    fmt: str,
    output: str | None,
    fail_on: str,
    org: str | None,
    folder: str | None,
    project: str | None,
    exports: tuple[str, ...],
    usage_files: tuple[str, ...],
    audit_files: tuple[str, ...],
    now: str | None,
    accept_shrink: bool,
    dry_run: bool,
) -> None:
    """Scan the inventory, store the result and print the report."""
    config = load_config(config_path)
    evaluated_at = parse_now(now)
    # Credentials first: a missing one should not leave a database behind.
    make_source = source_factory(config, org, folder, project, exports, "")
    make_usage = usage_factory(config, exports, usage_files)
    make_audit = audit_factory(config, exports, audit_files)
    engine = open_store(config, db_url)
    lock = ScanLock(engine)
    with lock.for_scan() as held, progress_display() as progress:
        if not held:
            raise StoreError(
                f"database {db.redact(str(engine.url))}: another scan is running against it "
                "(on SQLite, a running `keysentry run` holds its database); try again later"
            )
        scans_store.fail_abandoned(engine)
        hook = scan_hook(config.alerts) if config.alerts.enabled else None
        source = make_source(progress)
        view = DryRunReport(fmt, output, fail_on) if dry_run else None
        outcome = run_scan(
            source,
            engine,
            config,
            evaluated_at,
            after_history=hook,
            usage=make_usage(),
            audit=make_audit(),
            accept_shrink=accept_shrink,
            dry_run=view,
        )
    click.echo(scan_summary(outcome), err=True)
    if view is not None:
        view.finish()
        return
    queued = sum(outcome.stats.alerts.get("queued", {}).values())
    if queued:
        click.echo(
            f"{queued} notifications queued: `keysentry alerts dispatch` sends them "
            "(the worker does so by itself)",
            err=True,
        )
    finish_report(engine, outcome.scan_id, fmt, output, fail_on)
