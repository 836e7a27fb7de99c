"""The `keysentry` command. Subcommands parse options, call the pipeline and
print; exit 0 on success, 1 when --fail-on is met, 2 on any error."""

from __future__ import annotations

import functools
import json
import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import click
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from scanner import __version__
from scanner.config import Config, load_config
from scanner.engine import ScanOutcome, run_scan
from scanner.errors import ConfigError, InputError, KeysentryError
from scanner.inventory.export import ExportSource
from scanner.inventory.source import InventorySource, Progress
from scanner.report.build import FAIL_ON_LEVELS, Report, build_report, fails
from scanner.report.formats import terminal_safe, write
from scanner.report.summary import next_steps
from scanner.rules.catalog import RULES
from scanner.rules.checklists import CHECKLISTS
from scanner.store import db
from scanner.store.queries import list_scans

SAMPLES = Path(__file__).parent / "samples"
DEMO_EXPORT = SAMPLES / "demo-org.jsonl"
DEMO_DIR = Path(".keysentry-demo")
# The sample organization is a snapshot of this day; the demo judges it as of
# then so that it shows the same statuses whenever it is run.
DEMO_EVALUATED_AT = "2026-11-21T00:00:00Z"

F = TypeVar("F", bound=Callable[..., Any])


def parse_now(value: str | None) -> datetime:
    if value is None:
        return datetime.now(UTC)
    text = value.strip()
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(f"--now: not an ISO 8601 instant: {value!r}") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def common_options(func: F) -> F:
    func = click.option(
        "--config",
        "config_path",
        type=click.Path(dir_okay=False),
        help="YAML config file [env KEYSENTRY_CONFIG].",
    )(func)
    func = click.option(
        "--db",
        "db_url",
        metavar="URL",
        help="SQLAlchemy database URL [env KEYSENTRY_DATABASE_URL; "
        "default sqlite:///keysentry.db].",
    )(func)
    return func


def output_options(func: F) -> F:
    func = click.option(
        "--format",
        "fmt",
        type=click.Choice(["table", "json", "csv"]),
        default="table",
        show_default=True,
    )(func)
    func = click.option(
        "--output",
        type=click.Path(dir_okay=False),
        help="Write the report to this file instead of stdout.",
    )(func)
    func = click.option(
        "--fail-on",
        type=click.Choice(FAIL_ON_LEVELS),
        default="never",
        show_default=True,
        help="Exit 1 when a key at or above this level exists.",
    )(func)
    return func


def handle_errors(func: F) -> F:
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except KeysentryError as exc:
            click.echo(f"keysentry: error: {exc}", err=True)
            sys.exit(exc.exit_code)
        except SQLAlchemyError as exc:
            detail = getattr(exc, "orig", None) or exc
            click.echo(f"keysentry: error: database: {detail}", err=True)
            sys.exit(2)

    return wrapper  # type: ignore[return-value]


def write_report(report: Report, fmt: str, output: str | None) -> None:
    """To stdout, or to OUTPUT written whole (temp file + rename) or not at all."""
    if output is None:
        write(report, fmt, sys.stdout)
        return
    target = Path(output)
    if not target.parent.resolve().is_dir():
        raise InputError(f"--output: directory {target.parent} does not exist")
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            write(report, fmt, handle)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the usual mode
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def open_store(config: Config, db_url: str | None, *, create: bool = True) -> Engine:
    """The history database; CREATE=False for commands that only read it."""
    url = db.resolve_url(db_url, config.database_url)
    engine = db.open_engine(url, must_exist=not create)
    db.ensure_current(engine, create=create)
    return engine


@contextmanager
def progress_display() -> Iterator[Progress | None]:
    """A live count of assets read, on stderr when it is a terminal."""
    if not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import Progress as RichProgress
    from rich.progress import SpinnerColumn, TextColumn, TimeElapsedColumn

    with RichProgress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as bar:
        task = bar.add_task("reading inventory", total=None)
        yield lambda n: bar.update(task, description=f"read {n:,} assets")


def finish_report(
    engine: Engine, scan_id: int | None, fmt: str, output: str | None, fail_on: str
) -> None:
    report = build_report(engine, scan_id)
    write_report(report, fmt, output)
    if fails(report, fail_on):
        click.echo(f"keysentry: keys at or above --fail-on {fail_on} exist", err=True)
        sys.exit(1)


def scan_summary(outcome: ScanOutcome) -> str:
    stats = outcome.stats
    return (
        f"scan {outcome.scan_id} succeeded: {stats.keys_total} keys from "
        f"{stats.assets_read} assets, {stats.rows_written} history rows written"
    )


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="keysentry")
def main() -> None:
    """Scores an organization's Google Cloud API keys against the Gemini
    deadlines and key hygiene rules, and keeps the history."""


@main.command()
@common_options
@output_options
@click.option("--org", help="Organization number: scan organizations/ORG live.")
@click.option("--folder", help="Folder number: scan folders/FOLDER live.")
@click.option("--project", help="Project id: scan projects/PROJECT live.")
@click.option(
    "--from-export",
    "exports",
    multiple=True,
    type=click.Path(dir_okay=False),
    help="Cloud Asset export file (NDJSON or JSON array, optionally .gz); repeatable.",
)
@click.option("--now", help="Evaluate as of this instant (ISO 8601), e.g. 2026-11-21T00:00:00Z.")
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
    now: str | None,
) -> None:
    """Scan the inventory, store the result and print the report."""
    config = load_config(config_path)
    evaluated_at = parse_now(now)
    scopes = [
        s
        for s in (
            org and f"organizations/{org}",
            folder and f"folders/{folder}",
            project and f"projects/{project}",
        )
        if s
    ]
    if len(scopes) + bool(exports) != 1:
        raise ConfigError("give exactly one of --org, --folder, --project or --from-export")
    client = None
    if not exports:  # credentials first: a missing one should not leave a database behind
        from scanner.inventory.asset import CloudAssetSource, make_client, validate_scope

        validate_scope(scopes[0])
        client = make_client(config.inventory)
    engine = open_store(config, db_url)
    with progress_display() as progress:
        source: InventorySource
        if client is None:
            paths = [Path(p) for p in exports]
            source = ExportSource(paths, config.gemini.project_services, progress)
        else:
            source = CloudAssetSource(
                client, scopes[0], config.inventory, config.gemini.project_services, progress
            )
        outcome = run_scan(source, engine, config, evaluated_at)
    click.echo(scan_summary(outcome), err=True)
    finish_report(engine, outcome.scan_id, fmt, output, fail_on)


@main.command()
@common_options
@output_options
@click.option("--scan", "scan_id", type=int, help="Report this scan instead of the latest.")
@handle_errors
def report(
    config_path: str | None,
    db_url: str | None,
    fmt: str,
    output: str | None,
    fail_on: str,
    scan_id: int | None,
) -> None:
    """Print the report of the latest successful scan, or of --scan ID."""
    engine = open_store(load_config(config_path), db_url, create=False)
    finish_report(engine, scan_id, fmt, output, fail_on)


@main.command()
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


@main.command()
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
    for rule in RULES:
        m = rule.meta
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


@main.group("config")
def config_group() -> None:
    """Configuration files."""


@config_group.command("check")
@click.argument("file", type=click.Path(dir_okay=False))
@handle_errors
def config_check(file: str) -> None:
    """Validate FILE; every error names its config path."""
    config = load_config(file)
    enabled = sum(1 for r in RULES if r.meta.id not in config.rules.disabled)
    click.echo(f"{file}: ok ({len(config.timeline)} timeline entries, {enabled} rules enabled)")


@main.group("db")
def db_group() -> None:
    """The history database."""


@db_group.command("upgrade")
@common_options
@handle_errors
def db_upgrade(config_path: str | None, db_url: str | None) -> None:
    """Apply pending schema migrations."""
    config = load_config(config_path)
    engine = db.open_engine(db.resolve_url(db_url, config.database_url))
    before, after = db.upgrade(engine)
    where = db.redact(str(engine.url))
    if before == after:
        click.echo(f"{where}: schema already at {after}")
    else:
        click.echo(f"{where}: schema {before or '(empty)'} -> {after}")


@main.command()
@common_options
@output_options
@click.option(
    "--now",
    default=DEMO_EVALUATED_AT,
    show_default=True,
    help="Evaluate as of this instant (ISO 8601).",
)
@handle_errors
def demo(
    config_path: str | None,
    db_url: str | None,
    fmt: str,
    output: str | None,
    fail_on: str,
    now: str,
) -> None:
    """Scan the bundled sample organization into ./.keysentry-demo/ and report."""
    config = load_config(config_path)
    if db_url is None:
        DEMO_DIR.mkdir(exist_ok=True)
        db_url = f"sqlite:///{DEMO_DIR / 'keysentry.db'}"
    engine = open_store(config, db_url)
    source = ExportSource([DEMO_EXPORT], config.gemini.project_services)
    outcome = run_scan(source, engine, config, parse_now(now))
    click.echo(scan_summary(outcome), err=True)
    report_obj = build_report(engine, outcome.scan_id)
    write_report(report_obj, fmt, output)
    if fmt == "table":
        click.echo("\nWhat to do next:")
        for line in next_steps(report_obj):
            click.echo(f"  {line}")
        click.echo(
            f"\nHistory is in {db.redact(db_url)}; try `keysentry report --db {db_url} "
            "--format json` or `keysentry rules`.\n"
        )
    if fails(report_obj, fail_on):
        sys.exit(1)
