"""`keysentry demo`: the bundled sample organization, scanned into
./.keysentry-demo/ (first as it stood the day before, so that the demo's own
scan has news to send), with its notifications written to the outbox there."""

from __future__ import annotations

import shlex
import sys
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import click
from pydantic import ValidationError
from sqlalchemy import Engine

from scanner.alerts.delivery.dispatch import DirectoryTransport, Dispatcher
from scanner.alerts.plan.planner import scan_hook
from scanner.cli.common import (
    DryRunReport,
    command_name,
    common_options,
    handle_errors,
    open_store,
    output_options,
    scan_summary,
    write_report,
)
from scanner.cli.demo_history import days_before
from scanner.cli.fix_plan import plan_of, write_plan_table
from scanner.cli.instants import parse_now
from scanner.cli.leaks import import_summary
from scanner.cli.service import parse_listen
from scanner.cli.sources import audit_factory, usage_factory
from scanner.cli.terminal import for_terminal
from scanner.config import Config
from scanner.config.schedule import ScheduleConfig
from scanner.configfile import load_config
from scanner.core.errors import ConfigError, InputError
from scanner.core.secrets import Fingerprinter
from scanner.leaks.importer import Importer
from scanner.leaks.known import KnownFingerprints
from scanner.leaks.reports import read
from scanner.report.build import build_report, fails
from scanner.report.summary import next_steps
from scanner.scan.engine import run_scan
from scanner.service.logs import setup_logging
from scanner.service.serve import serve
from scanner.service.worker import Worker
from scanner.sources.audit.files import FileAuditSource
from scanner.sources.inventory.export import ExportSource
from scanner.sources.usage.files import FileUsageSource
from scanner.store import db
from scanner.store.queries import latest_succeeded_scan

SAMPLES = Path(__file__).parent.parent / "samples"
DEMO_EXPORT = SAMPLES / "demo-org.jsonl"
DEMO_ALERTS = SAMPLES / "demo-alerts.yaml"
DEMO_EXCEPTIONS = SAMPLES / "demo-exceptions.yaml"
DEMO_TICKETS = SAMPLES / "demo-tickets.yaml"  # shown as a dry run
DEMO_USAGE = SAMPLES / "demo-usage.json"  # what Cloud Monitoring would say
DEMO_AUDIT = SAMPLES / "demo-audit.json"  # what `gcloud logging read` would print
DEMO_LEAKS = SAMPLES / "demo-gitleaks.json"  # what `gitleaks detect` would report
DEMO_FINGERPRINTS = SAMPLES / "demo-fingerprints.json"  # LookupKey's answer, offline
# The demo's fingerprints are made with this published value, so that its
# sample answers match; a real deployment sets KEYSENTRY_FINGERPRINT_KEY.
DEMO_FINGERPRINT_KEY = b"keysentry demo fingerprint key: not a secret"
DEMO_DIR = Path(".keysentry-demo")
# The sample organization is a snapshot of this day; the demo judges it as of
# then so that it shows the same statuses whenever it is run.
DEMO_EVALUATED_AT = "2026-11-21T00:00:00Z"


@click.command()
@common_options
@output_options
@click.option(
    "--now",
    default=DEMO_EVALUATED_AT,
    show_default=True,
    help="Evaluate as of this instant (ISO 8601).",
)
@click.option(
    "--serve",
    is_flag=True,
    help="Then keep running as the worker: rescan on --interval and serve /metrics.",
)
@click.option("--listen", default="127.0.0.1:9184", show_default=True, metavar="HOST:PORT")
@click.option("--interval", default="60s", show_default=True, help="With --serve: how often.")
@click.option(
    "--dry-run",
    is_flag=True,
    help="Evaluate and report without recording the scan or queuing notifications.",
)
@click.option(
    "--days",
    type=click.IntRange(2, 30),
    default=2,
    show_default=True,
    help="A new demo history of this many daily scans, the organization changing between them.",
)
@handle_errors
def demo(
    config_path: str | None,
    db_url: str | None,
    fmt: str,
    output: str | None,
    fail_on: str,
    now: str,
    serve: bool,
    listen: str,
    interval: str,
    dry_run: bool,
    days: int,
) -> None:
    """Scan the bundled sample organization into ./.keysentry-demo/ and report,
    with the notifications it would send written to ./.keysentry-demo/outbox/;
    with --serve, keep scanning it and serve the metrics."""
    config = with_demo_samples(load_config(config_path))
    if db_url is None:
        DEMO_DIR.mkdir(exist_ok=True)
        db_url = f"sqlite:///{DEMO_DIR / 'keysentry.db'}"
    engine = open_store(config, db_url)
    source = ExportSource([DEMO_EXPORT], config.gemini.project_services)
    evaluated_at = parse_now(now)
    hook = scan_hook(config.alerts)
    usage = FileUsageSource([DEMO_USAGE], config.usage, config.gemini.api_services)
    audit = FileAuditSource([DEMO_AUDIT])
    if dry_run:
        if serve:
            raise InputError("--dry-run and --serve: a dry run records nothing to serve")
        view = DryRunReport(fmt, output, fail_on)
        outcome = run_scan(
            source, engine, config, evaluated_at, usage=usage, audit=audit, dry_run=view
        )
        click.echo(scan_summary(outcome), err=True)
        view.finish()
        return
    import_demo_leaks(engine, evaluated_at)
    if latest_succeeded_scan(engine) is None:
        # A new demo: first the days before, so that today has news.
        DEMO_DIR.mkdir(exist_ok=True)
        for back in range(days - 1, 0, -1):
            earlier = DEMO_DIR / f"demo-org-{back}-days-before.jsonl"
            then = days_before(DEMO_EXPORT, earlier, back, evaluated_at.date())
            before = run_scan(  # sources of its own: a source is read once, by one scan
                ExportSource([then], config.gemini.project_services),
                engine,
                config,
                evaluated_at - timedelta(days=back),
                after_history=hook,
                usage=FileUsageSource([DEMO_USAGE], config.usage, config.gemini.api_services),
                audit=FileAuditSource([DEMO_AUDIT]),
            )
            when = "the day before" if back == 1 else f"{back} days before"
            click.echo(f"{scan_summary(before)} ({when})", err=True)
    outcome = run_scan(
        source, engine, config, evaluated_at, after_history=hook, usage=usage, audit=audit
    )
    click.echo(scan_summary(outcome), err=True)
    transport = DirectoryTransport(DEMO_DIR / "outbox")
    Dispatcher(engine, config.alerts, transport, clock=lambda: evaluated_at).run_once()
    report_obj = build_report(engine, outcome.scan_id)
    write_report(report_obj, fmt, output)
    if fmt == "table":
        click.echo("\nWhat to do next:")
        report_command = f"{command_name()} report --db {shlex.quote(db_url)}"
        for line in next_steps(report_obj, report_command):
            click.echo(f"  {line}")
        click.echo("\nWhat usage says each key can be restricted to (`keysentry fix plan`):")
        write_plan_table(plan_of(engine, config, report_obj.scan), for_terminal(sys.stdout))
        click.echo(
            f"\nHistory is in {db.redact(db_url)}; try `{report_command} --format json` "
            f"or `{command_name()} rules`."
        )
        click.echo(notifications_summary(outcome.stats.alerts, transport))
        click.echo(
            "\nTickets it would open, most urgent first (a dry run of `keysentry tickets\n"
            f"sync`; receivers from scanner/samples/{DEMO_TICKETS.name}, never called):"
        )
        for line in tickets_dry_run(engine, config, outcome.scan_id, evaluated_at.date()):
            click.echo(f"  {line}")
    if serve:
        serve_demo(config, engine, parse_listen(listen), interval, parse_now(now))
    elif fails(report_obj, fail_on):
        sys.exit(1)


def import_demo_leaks(engine: Engine, at: datetime) -> None:
    """The sample gitleaks report, resolved from the sample fingerprints."""
    fingerprinter = Fingerprinter(DEMO_FINGERPRINT_KEY)
    lookup = KnownFingerprints(DEMO_FINGERPRINTS, fingerprinter)
    stats = Importer(engine, fingerprinter, lookup).run(read(DEMO_LEAKS), str(DEMO_LEAKS), at)
    for line in import_summary(stats, lookup):
        click.echo(f"leaks: {line}", err=True)


def with_demo_samples(config: Config) -> Config:
    """The demo alerts and exceptions, for the sections the config leaves out."""
    if not config.alerts.enabled:
        config = config.model_copy(update={"alerts": load_config(DEMO_ALERTS).alerts})
    if not config.exceptions.entries:
        exceptions = load_config(DEMO_EXCEPTIONS).exceptions
        config = config.model_copy(update={"exceptions": exceptions})
    if config.tickets.route is None:
        config = config.model_copy(update={"tickets": load_config(DEMO_TICKETS).tickets})
    return config


def tickets_dry_run(engine: Engine, config: Config, scan_id: int, today: date) -> list[str]:
    """What `tickets sync` would do for the scan, calling no ticket system."""
    from scanner.tickets.groups import Group, urgency
    from scanner.tickets.sync import TicketSync
    from scanner.tickets.systems import place

    def nowhere(name: str) -> Any:
        raise AssertionError("a dry run calls no ticket system")

    stats = TicketSync(engine, config.tickets, nowhere).run(scan_id, dry_run=True)
    made = [g for what, g in stats.planned if what == "created" and isinstance(g, Group)]
    lines = []
    for receiver in config.tickets.receivers:
        mine = sorted((g for g in made if g.receiver == receiver.name), key=urgency)
        if not mine:
            continue
        where, link = place(receiver)
        lines += [f"{receiver.name}: {len(mine)} in {where}", f"  {link}"]
        for group in mine[:3]:
            if group.due is not None:
                late = group.due < today
                due = f", {'overdue since' if late else 'due'} {group.due.isoformat()}"
            else:
                due = ", no due date"
            lines += [f"  {group.title}", f"    {group.severity}{due}"]
        if len(mine) > 3:
            lines.append(f"  ... and {len(mine) - 3} more")
    return [
        *lines,
        f"(dry run) {stats.line()}",
        "With a `tickets:` section of your own (docs/tickets.md), `keysentry tickets",
        "sync` opens them and `keysentry tickets list` shows each one's link.",
    ]


def notifications_summary(alerts: dict[str, Any], transport: DirectoryTransport) -> str:
    queued = alerts.get("queued", {})
    kinds = ("overview", "digest", "transition", "reminder", "batch")
    parts = ", ".join(f"{queued.get(kind, 0)} {kind}" for kind in kinds)
    lines = [f"\nNotifications queued by this scan, by kind: {parts}."]
    if alerts.get("baseline"):
        lines.append(
            "  (The first scan is the baseline: each recipient gets one overview of what needs"
            " action, or its first digest, rather than a message per finding.)"
        )
    if alerts.get("unowned_keys"):
        lines.append(
            f"  {alerts['unowned_keys']} keys have no known owner: sent to the fallback receiver."
        )
    where = transport.directory
    if transport.written:
        lines.append(f"  No network: {len(transport.written)} messages written to {where}/, e.g.")
        lines.extend(f"    {path}" for path in transport.written[:3])
    else:
        lines.append(f"  Nothing new to send; earlier messages are in {where}/.")
    return "\n".join(lines) + "\n"


def serve_demo(
    config: Config, engine: Engine, listen: str, interval: str, evaluated_at: datetime
) -> None:
    """The worker on the sample organization, judged as of EVALUATED_AT."""
    try:
        schedule = ScheduleConfig(interval=interval, jitter=0, misfire_grace=interval)  # type: ignore[arg-type]
    except ValidationError:
        raise ConfigError(f"--interval: not a duration of 1s or more: {interval!r}") from None
    config = config.model_copy(update={"schedule": schedule})
    setup_logging("INFO")

    def announce(address: str) -> None:
        click.echo(
            f"\nServing the demo: http://{address}/metrics  (/healthz, /readyz); "
            f"rescanning every {schedule.interval:.0f}s. Ctrl-C stops.",
            err=True,
        )

    worker = Worker(
        config,
        engine,
        lambda: ExportSource([DEMO_EXPORT], config.gemini.project_services),
        evaluated_at=lambda: evaluated_at,
        transport=DirectoryTransport(DEMO_DIR / "outbox"),
        usage_factory=usage_factory(config, [], [str(DEMO_USAGE)]),
        audit_factory=audit_factory(config, [], [str(DEMO_AUDIT)]),
    )
    sys.exit(serve(worker, listen, announce))
