"""The `keysentry` command. Subcommands parse options, call the pipeline and
print; exit 0 on success, 1 when --fail-on is met, 2 on any error."""

from __future__ import annotations

import click

from scanner import __version__
from scanner.cli.alerts import alerts_group
from scanner.cli.commands import config_group, db_group, report, rules, scan, scans
from scanner.cli.evidence import evidence
from scanner.cli.history import changes, history_group, stats_group, verify
from scanner.cli.inventory import inventory_group
from scanner.cli.leaks import leaks_group
from scanner.cli.service import demo, run


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="keysentry")
def main() -> None:
    """Scores an organization's Google Cloud API keys against the Gemini
    deadlines and key hygiene rules, and keeps the history."""


COMMANDS = (
    scan,
    report,
    scans,
    rules,
    run,
    alerts_group,
    leaks_group,
    inventory_group,
    config_group,
    db_group,
    demo,
    history_group,
    changes,
    stats_group,
    verify,
    evidence,
)
for command in COMMANDS:
    main.add_command(command)
