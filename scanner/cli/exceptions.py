"""`keysentry exceptions list`: the exceptions in force, with what each
accepted at the latest scan, which lapse soon, and which are stale. Without a
configuration file they are the ones the latest scan stored with its rules in
force; days are counted on the latest scan's clock unless --now says otherwise,
so that a line's state and its matches speak of the same day."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, TextIO

import click

from scanner.cli.common import (
    common_options,
    format_options,
    handle_errors,
    open_store,
    write_output,
)
from scanner.cli.instants import parse_now
from scanner.config.types import parse_duration
from scanner.configfile import load_config
from scanner.core.errors import InputError
from scanner.report.rows import write_csv_rows, write_json_document, write_table_rows
from scanner.store.acceptance import accepted_at
from scanner.store.configs import config_document
from scanner.store.queries import latest_succeeded_scan

COLUMNS = (
    "id",
    "state",
    "expires",
    "days_left",
    "rules",
    "keys",
    "findings",
    "approved_by",
    "ticket",
    "reason",
)
# The terminal leaves out the long text (reason, ticket); JSON and CSV have it.
TABLE_COLUMNS = ("id", "state", "expires", "left", "rules", "keys", "findings", "approved_by")


@dataclass(frozen=True)
class Listed:
    """What the list shows of an exception, from the configuration or history."""

    id: str
    expires: date
    rules: tuple[str, ...]
    approved_by: str
    ticket: str | None
    reason: str


def stored_entries(document: dict[str, Any] | None) -> list[Listed]:
    """The exceptions a scan stored with its rules in force."""
    entries = ((document or {}).get("exceptions") or {}).get("entries") or []
    return [
        Listed(
            e["id"],
            date.fromisoformat(str(e["expires"])),
            tuple(e.get("rules") or ()),
            e.get("approved_by") or "",
            e.get("ticket"),
            e.get("reason") or "",
        )
        for e in entries
    ]


def _days(value: str) -> int:
    try:
        seconds = parse_duration(value)
    except ValueError as exc:
        raise InputError(f"--expiring: {exc}") from None
    if not isinstance(seconds, float):
        raise InputError(f"--expiring: not a duration: {value!r}")
    return int(seconds // 86400)


def exception_rows(
    entries: list[Any], accepted: dict[str, tuple[int, int]], today: date, scanned: bool
) -> list[dict[str, Any]]:
    rows = []
    for e in entries:
        keys, findings = accepted.get(e.id, (0, 0))
        left = (e.expires - today).days
        state = "lapsed" if left <= 0 else ("stale" if scanned and not findings else "active")
        rows.append(
            {
                "id": e.id,
                "state": state,
                "expires": e.expires,
                "days_left": left,
                "left": f"in {left}d" if left > 0 else ("today" if left == 0 else f"{-left}d ago"),
                "rules": list(e.rules),
                "keys": keys,
                "findings": findings,
                "approved_by": e.approved_by,
                "ticket": e.ticket,
                "reason": e.reason,
            }
        )
    return sorted(rows, key=lambda r: (r["expires"], r["id"]))


@click.group("exceptions")
def exceptions_group() -> None:
    """Accepted risks: the exceptions in the configuration."""


@exceptions_group.command("list")
@common_options
@format_options
@click.option("--expiring", help="Only those lapsing within this long, e.g. 30d.")
@click.option("--stale", is_flag=True, help="Only those that accepted nothing at the latest scan.")
@click.option("--now", help="Count days from this instant (ISO 8601) instead of now.")
@handle_errors
def exceptions_list(
    config_path: str | None,
    db_url: str | None,
    fmt: str,
    output: str | None,
    expiring: str | None,
    stale: bool,
    now: str | None,
) -> None:
    """Each exception with its expiry and what it accepted at the latest scan."""
    config = load_config(config_path)
    within = _days(expiring) if expiring is not None else None
    engine = open_store(config, db_url, create=False)
    latest = latest_succeeded_scan(engine)
    accepted: dict[str, tuple[int, int]] = {}
    entries: list[Any] = list(config.exceptions.entries)
    origin = "the configuration"
    if latest is not None:
        with engine.connect() as conn:
            accepted = accepted_at(conn, latest.id)
            if config_path is None and not entries:
                entries = stored_entries(config_document(conn, latest.config_digest))
                origin = f"the rules in force at scan {latest.id}"
    clock: datetime = parse_now(now) if now or latest is None else latest.evaluated_at
    today = clock.date()
    rows = exception_rows(entries, accepted, today, latest is not None)
    if within is not None:
        rows = [r for r in rows if r["state"] != "lapsed" and r["days_left"] <= within]
    if stale:
        rows = [r for r in rows if r["state"] == "stale"]

    def render(out: TextIO) -> None:
        if fmt == "json":
            scan = latest.id if latest is not None else None
            write_json_document(
                {"schema": "keysentry.exceptions/v1", "scan": scan, "exceptions": rows}, out
            )
        elif fmt == "csv":
            write_csv_rows(rows, COLUMNS, out)
        else:
            if latest is None:
                title = f"Exceptions from {origin} (no scan yet), days counted from {today}"
            elif now:
                title = (
                    f"Exceptions from {origin}: matches at scan {latest.id}, "
                    f"days counted from {today}"
                )
            else:
                title = f"Exceptions from {origin}, as of scan {latest.id} ({today})"
            write_table_rows(rows, TABLE_COLUMNS, out, title=title, prose=("id", "rules"))
            if not rows:
                out.write("No exceptions.\n")

    write_output(render, output, "exceptions")
