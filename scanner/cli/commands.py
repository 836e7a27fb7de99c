"""The one-shot commands: scan, report, scans, rules, config check, db upgrade."""

from __future__ import annotations

import json
from typing import Any

import click

from alerts.planner import scan_hook
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
from scanner.cli.instants import parse_instant, parse_now
from scanner.cli.sources import audit_factory, source_factory, usage_factory
from scanner.configfile import load_config
from scanner.engine import run_scan
from scanner.errors import InputError, StoreError
from scanner.report.formats import terminal_safe
from scanner.rules.catalog import ALL_RULES
from scanner.rules.checklists import CHECKLISTS
from scanner.store import db
from scanner.store import scans as scans_store
from scanner.store.lock import ScanLock, migration_lock
from scanner.store.queries import list_scans, scan_at


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


@click.command()
@common_options
@output_options
@click.option("--scan", "scan_id", type=int, help="Report this scan instead of the latest.")
@click.option(
    "--at",
    "at",
    metavar="DATE",
    help="Report the last successful scan at or before DATE (ISO 8601 date or instant).",
)
@handle_errors
def report(
    config_path: str | None,
    db_url: str | None,
    fmt: str,
    output: str | None,
    fail_on: str,
    scan_id: int | None,
    at: str | None,
) -> None:
    """Print the report of the latest successful scan, of --scan ID, or as of --at DATE."""
    engine = open_store(load_config(config_path), db_url, create=False)
    if at is not None:
        if scan_id is not None:
            raise InputError("give --scan or --at, not both")
        scan_id = scan_at(engine, parse_instant(at, "--at", end_of_day=True)).id
    finish_report(engine, scan_id, fmt, output, fail_on)


@click.command()
@common_options
@click.option("--limit", default=20, show_default=True, help="How many scans, newest first.")
@handle_errors
def scans(config_path: str | None, db_url: str | None, limit: int) -> None:
    """List recent scans with their outcome."""
    engine = open_store(load_config(config_path), db_url, create=False)
    for s in list_scans(engine, limit):
        line = (
            f"{s.id:>6}  {s.status:<9}  {s.evaluated_at:%Y-%m-%dT%H:%M:%SZ}  "
            f"keys={s.keys_total:<7} rows={s.rows_written:<7} {terminal_safe(s.source)}"
        )
        if s.error:
            line += f"  error: {terminal_safe(s.error)}"
        click.echo(line)


@click.command()
@common_options
@click.option(
    "--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True
)
@handle_errors
def rules(config_path: str | None, db_url: str | None, fmt: str) -> None:
    """The rule catalog with its metadata and the deadlines configured for it."""
    config = load_config(config_path)
    items: list[dict[str, Any]] = []
    deadlines = config.deadlines()
    for m in ALL_RULES:
        entry = deadlines.get(m.id)
        items.append(
            {
                "id": m.id,
                "title": m.title,
                "severity": m.severity.value,
                "rationale": m.rationale,
                "checklist": m.checklist,
                "checklist_title": CHECKLISTS[m.checklist].title,
                "references": list(m.references),
                "needs": m.needs,
                "enabled": m.id not in config.rules.disabled,
                "deadline": entry.date.isoformat() if entry else None,
                "deadline_status": entry.status if entry else None,
            }
        )
    if fmt == "json":
        click.echo(json.dumps(items, indent=2))
        return
    for item in items:
        deadline = (
            f"  deadline {item['deadline']} ({item['deadline_status']})" if item["deadline"] else ""
        )
        state = "" if item["enabled"] else "  [disabled]"
        click.echo(f"{item['id']}  [{item['severity']}]{deadline}{state}")
        click.echo(f"    {item['title']}")
        click.echo(
            f"    checklist: {item['checklist']}; references: "
            f"{'; '.join(item['references']) or '-'}"
        )


@click.group("config")
def config_group() -> None:
    """Configuration files."""


@config_group.command("check")
@click.argument("file", type=click.Path(dir_okay=False))
@handle_errors
def config_check(file: str) -> None:
    """Validate FILE; every error names its config path."""
    config = load_config(file)
    enabled = sum(1 for m in ALL_RULES if m.id not in config.rules.disabled)
    click.echo(f"{file}: ok ({len(config.timeline)} timeline entries, {enabled} rules enabled)")


@click.group("db")
def db_group() -> None:
    """The history database."""


@db_group.command("upgrade")
@common_options
@handle_errors
def db_upgrade(config_path: str | None, db_url: str | None) -> None:
    """Apply pending schema migrations."""
    config = load_config(config_path)
    engine = db.open_engine(db.resolve_url(db_url, config.database_url))
    with migration_lock(engine):
        before, after = db.upgrade(engine)
    where = db.redact(str(engine.url))
    if before == after:
        click.echo(f"{where}: schema already at {after}")
    else:
        click.echo(f"{where}: schema {before or '(empty)'} -> {after}")
