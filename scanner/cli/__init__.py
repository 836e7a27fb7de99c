"""The `keysentry` command. Subcommands parse options, call the pipeline and
print; exit 0 on success, 1 when --fail-on is met, 2 on any error."""

from __future__ import annotations

import importlib

import click

from scanner import __version__

# name -> module and attribute. A command's module is imported only when that
# command runs (or help lists it): importing them all, with the Google client
# libraries, SQLAlchemy and alerting, took two seconds before every command.
COMMANDS = {
    "scan": "scanner.cli.scan:scan",
    "report": "scanner.cli.commands:report",
    "scans": "scanner.cli.commands:scans",
    "rules": "scanner.cli.commands:rules",
    "run": "scanner.cli.service:run",
    "alerts": "scanner.cli.alerts:alerts_group",
    "leaks": "scanner.cli.leaks:leaks_group",
    "inventory": "scanner.cli.inventory:inventory_group",
    "config": "scanner.cli.commands:config_group",
    "db": "scanner.cli.commands:db_group",
    "demo": "scanner.cli.demo:demo",
    "history": "scanner.cli.history:history_group",
    "changes": "scanner.cli.history:changes",
    "stats": "scanner.cli.history:stats_group",
    "verify": "scanner.cli.history:verify",
    "evidence": "scanner.cli.evidence:evidence",
    "exceptions": "scanner.cli.exceptions:exceptions_group",
    "fix": "scanner.cli.fix:fix_group",
    "scc": "scanner.cli.scc:scc_group",
    "tickets": "scanner.cli.tickets:tickets_group",
    "feed": "scanner.cli.feed:feed_group",
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported from COMMANDS when first asked for."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module, attribute = target.split(":")
        command = getattr(importlib.import_module(module), attribute)
        assert isinstance(command, click.Command) and command.name == cmd_name, target
        return command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="keysentry")
def main() -> None:
    """Scores an organization's Google Cloud API keys against the Gemini
    deadlines and key hygiene rules, and keeps the history."""
