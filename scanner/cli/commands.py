"""The one-shot commands besides scan: report, scans, rules, config check, db upgrade."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from scanner.cli.common import (
    common_options,
    finish_report,
    handle_errors,
    open_store,
    output_options,
    write_output,
)
from scanner.cli.instants import parse_instant
from scanner.configfile import load_config
from scanner.core.errors import InputError
from scanner.core.models import KeyStatus
from scanner.report.build import build_report, fails
from scanner.report.filters import KeyFilter
from scanner.report.formats import terminal_safe
from scanner.report.framework_view import write_framework
from scanner.rules.catalog import ALL_RULES
from scanner.rules.checklists import CHECKLISTS
from scanner.rules.frameworks import FRAMEWORKS
from scanner.store import db
from scanner.store.lock import migration_lock
from scanner.store.queries import list_scans, scan_at


@click.command()
@common_options
@output_options
@click.option("--scan", "scan_id", type=int, help="Report this scan instead of the latest.")
@click.option(
    "--at",
    "at",
    metavar="DATE",
    help="Report the last successful scan at or before DATE (2026-10-01, yesterday, 7d, ...).",
)
@click.option(
    "--status",
    "statuses",
    multiple=True,
    type=click.Choice([s.value for s in KeyStatus]),
    help="Only keys with this status (repeat for several).",
)
@click.option("--owner", "owners", multiple=True, help="Only keys with an owner matching this.")
@click.option(
    "--project", "projects", multiple=True, help="Only keys of this project id or number."
)
@click.option(
    "--rule", "rules_", multiple=True, help="Only keys with an open finding of this rule."
)
@click.option("--leaked", is_flag=True, help="Only keys a secret scanner found.")
@click.option("--wide", is_flag=True, help="Table: show names whole, however wide.")
@click.option(
    "--framework",
    type=click.Choice(sorted(FRAMEWORKS)),
    help="A compliance view: each control of the benchmark, passed or failed, and by which keys.",
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
    statuses: tuple[str, ...],
    owners: tuple[str, ...],
    projects: tuple[str, ...],
    rules_: tuple[str, ...],
    leaked: bool,
    wide: bool,
    framework: str | None,
) -> None:
    """Print the report of the latest successful scan, of --scan ID, or as of --at DATE."""
    unknown = sorted(set(rules_) - {meta.id for meta in ALL_RULES})
    if unknown:
        raise InputError(f"--rule {unknown[0]}: no such rule (`keysentry rules` lists them)")
    engine = open_store(load_config(config_path), db_url, create=False)
    if at is not None:
        if scan_id is not None:
            raise InputError("give --scan or --at, not both")
        scan_id = scan_at(engine, parse_instant(at, "--at", end_of_day=True)).id
    only = KeyFilter(frozenset(statuses), owners, frozenset(projects), frozenset(rules_), leaked)
    if framework is not None:
        view = build_report(engine, scan_id, only)
        chosen = FRAMEWORKS[framework]
        write_output(lambda out: write_framework(view, chosen, fmt, out), output, "report")
        if fails(view, fail_on):
            click.echo(f"keysentry: keys at or above --fail-on {fail_on} exist", err=True)
            sys.exit(1)
        return
    finish_report(engine, scan_id, fmt, output, fail_on, only, wide)


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
                "deadline_source": entry.source if entry else None,
                "deadline_checked": entry.checked.isoformat() if entry and entry.checked else None,
                "deadline_disputed": entry.disputed if entry else None,
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
        if item["deadline"]:
            checked = f" (checked {item['deadline_checked']})" if item["deadline_checked"] else ""
            click.echo(f"    deadline source: {item['deadline_source']}{checked}")
        if item["deadline_disputed"]:
            click.echo(f"    sources disagree: {item['deadline_disputed']}")


@click.group("config")
def config_group() -> None:
    """Configuration files."""


@config_group.command("check")
@click.argument("file", type=click.Path(dir_okay=False))
@handle_errors
def config_check(file: str) -> None:
    """Validate FILE; every error names its config path. An exception whose
    expiry has come is an error here (a scan treats it as lapsed)."""
    config = load_config(file, lapsed_is_error=True)
    enabled = sum(1 for m in ALL_RULES if m.id not in config.rules.disabled)
    click.echo(
        f"{file}: ok ({len(config.timeline)} timeline entries, {enabled} rules enabled, "
        f"{len(config.exceptions.entries)} exceptions)"
    )


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
