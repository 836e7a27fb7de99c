"""`keysentry fix apply PLAN` and `keysentry fix rollback FILE`: a dry run
unless --yes; with it, each change through the API Keys API, entered in the
rollback journal before it is made, and recorded there and in history once
made."""

from __future__ import annotations

import getpass
import os
import sys
import textwrap
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import click
from sqlalchemy import Engine

from scanner.calls.ratelimit import RateLimiter
from scanner.cli.common import common_options, handle_errors, open_store
from scanner.cli.fix_plan import COLUMNS as PLAN_COLUMNS
from scanner.cli.fix_plan import plan_rows
from scanner.cli.terminal import for_terminal
from scanner.configfile import load_config
from scanner.core.errors import SourceError
from scanner.core.models import KeyState
from scanner.fixes.apply import (
    Change,
    Outcome,
    Updater,
    apply_changes,
    check_plan_keys,
    read_plan,
    read_rollback,
)
from scanner.fixes.journal import RollbackJournal
from scanner.report.formats import table_width, terminal_safe
from scanner.report.rows import write_table_rows
from scanner.store.fixes import live_keys, record_fix


def _options(func: Callable[..., Any]) -> Callable[..., Any]:
    func = click.option("--yes", is_flag=True, help="Make the changes (without it: a dry run).")(
        func
    )
    func = click.option(
        "--rate",
        type=click.FloatRange(0.01, 50),
        default=1.0,
        show_default=True,
        help="Changes a second at most.",
    )(func)
    return click.option(
        "--by", help="Who makes the changes, as history records it [default: the local user]."
    )(func)


def _dry_run(changes: list[Change], what: str, out: TextIO) -> None:
    rows = [
        {
            "key": c.key.rsplit("/", 1)[-1],
            "project": c.key.split("/")[1],
            "etag": c.etag,
            "to": ", ".join(c.api_targets) if c.api_targets is not None else "as before the fix",
        }
        for c in changes
    ]
    write_table_rows(rows, ("key", "project", "etag", "to"), out, title=f"Dry run: {what}")
    out.write(f"Nothing changed: {len(changes)} key(s) would be; run again with --yes.\n")


def _who(by: str | None) -> str:
    """--by, else the local user name, else the user id (a container's user may
    have no name: getpass then raises)."""
    if by:
        return by
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid {os.getuid()}"


def _updater() -> Updater:
    from scanner.fixes.apikeys import KeyUpdater, make_client

    return KeyUpdater(make_client())


class _Recorder:
    """The journal first (it undoes the change if anything fails after), then history."""

    def __init__(
        self,
        engine: Engine,
        kind: str,
        by: str,
        plan_scan: int | None,
        journal: RollbackJournal | None,
    ) -> None:
        self._engine = engine
        self._kind = kind
        self._by = by
        self._plan_scan = plan_scan
        self._journal = journal

    def intend(self, before: KeyState, wanted: dict[str, Any]) -> None:
        if self._journal is not None:
            self._journal.intend(before, wanted)

    def not_changed(self, name: str) -> None:
        if self._journal is not None:
            self._journal.not_changed(name)

    def done(self, before: KeyState, after: KeyState) -> None:
        if self._journal is not None:
            self._journal.applied(before, after)
        now = datetime.now(UTC)
        record_fix(self._engine, self._kind, before, after, self._by, now, self._plan_scan)


def run(
    changes: list[Change],
    updater: Updater,
    engine: Engine,
    kind: str,
    by: str,
    rate: float,
    plan_scan: int | None,
    journal: RollbackJournal | None,
) -> Outcome:
    """CHANGES through UPDATER, each entered in the JOURNAL (for `apply`)
    before it is made and recorded in history after, before the next."""
    recorder = _Recorder(engine, kind, by, plan_scan, journal)
    return apply_changes(changes, updater, RateLimiter(rate).wait, recorder)


def summary(outcome: Outcome, verb: str, rollback: Path | None) -> str:
    lines = [f"{verb} {len(outcome.applied)}, skipped {len(outcome.skipped)}"]
    lines += [
        f"  skipped {terminal_safe(key)}: {terminal_safe(why)}" for key, why in outcome.skipped
    ]
    if rollback is not None:  # it holds a key that changed, or may have
        lines.append(f"  undo with: keysentry fix rollback {rollback} --yes")
    return "\n".join(lines)


def _finish(outcome: Outcome, verb: str, rollback: Path | None) -> None:
    click.echo(summary(outcome, verb, rollback))
    if outcome.stopped is not None:
        raise SourceError(f"stopped: {outcome.stopped}")


@click.command("apply")
@common_options
@click.argument("plan_file", type=click.Path(dir_okay=False, path_type=Path))
@_options
@click.option(
    "--rollback",
    "rollback_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to keep what the keys had before [default: PLAN.rollback.json].",
)
@click.option(
    "--min-confidence",
    type=click.Choice(["high", "low"]),
    default="high",
    show_default=True,
    help="Leave out entries less sure than this, unless named with --key.",
)
@click.option(
    "--key",
    "keys",
    multiple=True,
    metavar="KEY",
    help="Apply this key's entry whatever its confidence (full name, uid or key id).",
)
@handle_errors
def fix_apply(
    config_path: str | None,
    db_url: str | None,
    plan_file: Path,
    yes: bool,
    rate: float,
    by: str | None,
    rollback_file: Path | None,
    min_confidence: str,
    keys: tuple[str, ...],
) -> None:
    """Restrict the keys of PLAN_FILE's `restrict` entries at least --min-confidence
    sure, or named with --key (a dry run unless --yes)."""
    plan = read_plan(plan_file)
    chosen, left_out = plan.confident(min_confidence, frozenset(keys))
    changes = chosen.changes
    out = for_terminal(sys.stdout)
    if left_out:
        left = ", ".join(str(e.get("display_name") or e.get("uid")) for e in left_out)
        line = (
            f"Left out, less sure than --min-confidence {min_confidence}: {left}. Name one "
            "with --key to apply it anyway, or --min-confidence low for all."
        )
        out.write(textwrap.fill(line, table_width()) + "\n")
    if not changes and not yes:
        out.write("Nothing to apply.\n")
        return
    if not yes:
        title = f"Dry run: {len(changes)} key(s) would be restricted by fix apply {plan_file}"
        write_table_rows(
            plan_rows(chosen.entries),
            PLAN_COLUMNS,
            out,
            title=title,
            prose=("confidence", "change", "evidence"),
        )
        out.write(f"Nothing changed: {len(changes)} key(s) would be; run again with --yes.\n")
        return
    rollback = rollback_file or plan_file.with_name(plan_file.stem + ".rollback.json")
    engine = open_store(load_config(config_path), db_url, create=False)
    # The whole plan is checked, whatever is applied of it: an edited entry is
    # refused even when its confidence would leave it out.
    names = sorted({change.key for change in plan.changes})
    held = live_keys(engine, plan.scan, names) if plan.scan is not None else None
    check_plan_keys(plan_file, plan, held)
    if not changes:
        out.write("Nothing to apply.\n")
        return
    who = _who(by)
    journal = RollbackJournal(rollback, who, str(plan_file))
    journal.start()  # before any change: a run that cannot keep it changes nothing
    outcome = run(changes, _updater(), engine, "applied", who, rate, plan.scan, journal)
    _finish(outcome, "applied", rollback if journal.finish() else None)


@click.command("rollback")
@common_options
@click.argument("rollback_file", type=click.Path(dir_okay=False, path_type=Path))
@_options
@handle_errors
def fix_rollback(
    config_path: str | None,
    db_url: str | None,
    rollback_file: Path,
    yes: bool,
    rate: float,
    by: str | None,
) -> None:
    """Give the keys of ROLLBACK_FILE back the restrictions they had (a dry run unless --yes)."""
    changes = read_rollback(rollback_file)
    if not yes:
        _dry_run(changes, f"fix rollback {rollback_file}", for_terminal(sys.stdout))
        return
    engine = open_store(load_config(config_path), db_url, create=False)
    who = _who(by)
    outcome = run(changes, _updater(), engine, "rolled_back", who, rate, None, None)
    _finish(outcome, "rolled back", None)
