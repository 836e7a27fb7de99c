"""What the commands share: options, error handling, the store, report output
and the choice of inventory source."""

from __future__ import annotations

import functools
import os
import shlex
import shutil
import sqlite3
import sys
import tempfile
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO, TypeVar

import click
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from scanner.cli.terminal import for_terminal
from scanner.core.errors import InputError, KeysentryError
from scanner.core.secrets import scrub
from scanner.report.build import FAIL_ON_LEVELS, Report, build_report, dry_run_report, fails
from scanner.report.filters import KeyFilter
from scanner.report.formats import terminal_safe, write
from scanner.store import db

if TYPE_CHECKING:  # annotations only: the scan engine is not needed to read history
    from scanner.config import Config
    from scanner.scan.outcome import ScanOutcome
    from scanner.sources.inventory.source import Progress

F = TypeVar("F", bound=Callable[..., Any])


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


def scope_options(func: F) -> F:
    """What to scan: one live scope, or export files (scan and run)."""
    func = click.option(
        "--from-export",
        "exports",
        multiple=True,
        # Checked by the source, in one line: a directory, a pipe, a FIFO.
        type=click.Path(),
        help="Cloud Asset export file (NDJSON or JSON array, optionally .gz); repeatable.",
    )(func)
    func = click.option(
        "--audit-from",
        "audit_files",
        multiple=True,
        type=click.Path(dir_okay=False),
        help="Key events from `gcloud logging read --format=json` output; repeatable.",
    )(func)
    func = click.option(
        "--usage-from",
        "usage_files",
        multiple=True,
        type=click.Path(dir_okay=False),
        help="Usage from saved Cloud Monitoring timeSeries JSON; repeatable.",
    )(func)
    func = click.option("--project", help="Project id: scan projects/PROJECT live.")(func)
    func = click.option("--folder", help="Folder number: scan folders/FOLDER live.")(func)
    func = click.option("--org", help="Organization number: scan organizations/ORG live.")(func)
    return func


def format_options(func: F, formats: tuple[str, ...] = ("table", "json", "csv")) -> F:
    """--format table|json|csv and --output FILE, as every printing command takes them."""
    func = click.option(
        "--format",
        "fmt",
        type=click.Choice(formats),
        default="table",
        show_default=True,
    )(func)
    return click.option(
        "--output",
        type=click.Path(dir_okay=False),
        help="Write to this file (whole, or not at all) instead of stdout.",
    )(func)


def output_options(func: F) -> F:
    """The report's options: format_options (and OCSF events) and --fail-on."""
    func = format_options(func, ("table", "json", "csv", "ocsf"))
    func = click.option(
        "--fail-on",
        type=click.Choice(FAIL_ON_LEVELS),
        default="never",
        show_default=True,
        help="Exit 1 when a key at or above this level exists.",
    )(func)
    return func


UNEXPECTED_EXIT = 3  # a bug: neither an input error (2) nor --fail-on (1)


def _say(message: str) -> None:
    """MESSAGE on stderr, each line scrubbed of key strings and control
    characters: errors quote input text (names, paths, values)."""
    for line in message.splitlines() or [""]:
        click.echo(f"keysentry: error: {terminal_safe(scrub(line))}", err=True)


def _environment_error(exc: BaseException) -> str | None:
    """The one line for errors of the input or the environment that escape
    the readers, or None for a bug."""
    if isinstance(exc, OSError):
        where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
        return f"{where}{exc.strerror or exc}"
    if isinstance(exc, RecursionError):
        return "input nested too deeply to read"
    if isinstance(exc, UnicodeError):
        return f"text that is not valid Unicode: {exc.reason if hasattr(exc, 'reason') else exc}"
    if isinstance(exc, OverflowError):
        return f"a date or number out of range: {exc}"
    if isinstance(exc, sqlite3.Error) or type(exc).__module__.startswith("psycopg"):
        return f"database: {exc}"
    return None


def _crash_report(exc: BaseException) -> Path:
    """The trace of an unexpected error, in a file of its own (never on the
    terminal, where it could quote input text)."""
    directory = Path(os.environ.get("KEYSENTRY_CRASH_DIR") or tempfile.gettempdir())
    fd, name = tempfile.mkstemp(prefix="keysentry-crash-", suffix=".log", dir=directory)
    with os.fdopen(fd, "w", encoding="utf-8", errors="replace") as handle:
        handle.write(scrub("".join(traceback.format_exception(exc))))
    return Path(name)


def handle_errors(func: F) -> F:
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except KeysentryError as exc:
            _say(str(exc))
            sys.exit(exc.exit_code)
        except SQLAlchemyError as exc:
            detail = getattr(exc, "orig", None) or exc
            _say(f"database: {detail}".splitlines()[0])
            sys.exit(2)
        except (click.ClickException, click.exceptions.Exit):
            raise  # click's own usage errors and exits keep their meaning
        except KeyboardInterrupt:
            _say("interrupted")
            sys.exit(130)
        except Exception as exc:
            reason = _environment_error(exc)
            if reason is not None:
                _say(reason)
                sys.exit(2)
            try:
                where = f"the trace is in {_crash_report(exc)}"
            except OSError:
                where = "the trace could not be written"
            _say(f"unexpected {type(exc).__name__} (a bug in keysentry; {where})")
            sys.exit(UNEXPECTED_EXIT)

    return wrapper  # type: ignore[return-value]


def command_name() -> str:
    """How to run keysentry again from here, as it was run: `keysentry` when
    the PATH finds this same program, else the path it was run by
    (`.venv/bin/keysentry` after `make demo`)."""
    program = sys.argv[0]
    if Path(program).name != "keysentry":  # python -m scanner, or a test's runner
        return "keysentry"
    found = shutil.which("keysentry")
    if found is not None and Path(found).resolve() == Path(program).resolve():
        return "keysentry"
    return shlex.quote(program)


def write_report(report: Report, fmt: str, output: str | None, *, wide: bool = False) -> None:
    """To stdout, or to OUTPUT written whole (temp file + rename) or not at all."""
    write_output(lambda out: write(report, fmt, out, wide=wide), output, "report")


def write_output(render: Callable[[TextIO], None], output: str | None, what: str) -> None:
    """RENDER to stdout, or to OUTPUT written whole (temp file + rename) or not at all."""
    if output is None:
        try:
            render(for_terminal(sys.stdout))
            sys.stdout.flush()
        except BrokenPipeError:
            # The reader stopped (`| head`): not an error; keep Python quiet at exit.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except OSError as exc:
            raise InputError(f"cannot write the {what} to stdout: {exc.strerror or exc}") from None
        return
    target = Path(output)
    if not target.parent.resolve().is_dir():
        raise InputError(f"--output: directory {target.parent} does not exist")
    if target.exists() and not target.is_file():
        # A device or a pipe is written as it is: renaming over it would replace it.
        try:
            with target.open("w", encoding="utf-8", newline="") as handle:
                render(for_terminal(handle))
        except OSError as exc:
            raise InputError(f"--output {target}: cannot write: {exc.strerror or exc}") from None
        return
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            render(handle)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the usual mode
        os.replace(tmp, target)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise InputError(f"--output {target}: cannot write: {exc.strerror or exc}") from None
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


class DryRunReport:
    """Writes a dry run's report from inside its transaction, before the
    rollback; finish() then exits 1 if --fail-on was met."""

    def __init__(self, fmt: str, output: str | None, fail_on: str) -> None:
        self._fmt, self._output, self._fail_on = fmt, output, fail_on
        self._failed = False

    def __call__(self, conn: Connection, scan_id: int) -> None:
        report = dry_run_report(conn, scan_id)
        write_report(report, self._fmt, self._output)
        self._failed = fails(report, self._fail_on)

    def finish(self) -> None:
        if self._failed:
            click.echo(f"keysentry: keys at or above --fail-on {self._fail_on} exist", err=True)
            sys.exit(1)


def finish_report(
    engine: Engine,
    scan_id: int | None,
    fmt: str,
    output: str | None,
    fail_on: str,
    only: KeyFilter | None = None,
    wide: bool = False,
) -> None:
    """Write the report; --fail-on reads the whole scan's counts, whatever ONLY shows."""
    report = build_report(engine, scan_id, only)
    write_report(report, fmt, output, wide=wide)
    if fails(report, fail_on):
        click.echo(f"keysentry: keys at or above --fail-on {fail_on} exist", err=True)
        sys.exit(1)


def scan_summary(outcome: ScanOutcome) -> str:
    stats = outcome.stats
    if outcome.dry_run:
        return (
            f"dry run: {stats.keys_total} keys from {stats.assets_read} assets evaluated; "
            "nothing was recorded and no alerts were queued"
        )
    return (
        f"scan {outcome.scan_id} succeeded: {stats.keys_total} keys from "
        f"{stats.assets_read} assets, {stats.rows_written} history rows written"
    )
