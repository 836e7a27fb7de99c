"""Commands for auditors: a key's whole history, what changed in a window,
how fast findings are remediated, and whether history was edited."""

from __future__ import annotations

import json
import sys
import textwrap
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TextIO, TypeVar

import click

from scanner.cli.common import (
    common_options,
    format_options,
    handle_errors,
    open_store,
    write_output,
)
from scanner.cli.instants import parse_instant
from scanner.configfile import load_config
from scanner.core.errors import InputError
from scanner.report.changes import COLUMNS as CHANGE_COLUMNS
from scanner.report.changes import (
    FINDING_KINDS,
    KINDS,
    TABLE_COLUMNS,
    ChangeFilter,
    event_detail,
    table_row,
)
from scanner.report.changes import changes as read_changes
from scanner.report.formats import table_width, terminal_safe
from scanner.report.key_history import KeyHistory, find_key_name, key_history
from scanner.report.remediation import GROUPINGS, remediation
from scanner.report.rows import (
    json_line,
    plain,
    write_csv_rows,
    write_json_document,
    write_table_rows,
)
from scanner.store.chain import verify as verify_chain
from scanner.store.fixes import fix_rows

F = TypeVar("F", bound=Callable[..., Any])
TIMELINE_COLUMNS = ("at", "scan", "what", "rule", "detail", "reason", "by")
# A terminal's timeline: the rule beside what happened, the reason and the
# actor in the detail, so that four columns fit 80.
TIMELINE_TABLE = ("at", "scan", "event", "detail")
# What --what takes: the first word of a timeline row's "what".
TIMELINE_KINDS = ("version", "usage", "event", "leak", "fix", "status_changed", *FINDING_KINDS)


def timeline_table_row(row: dict[str, Any]) -> dict[str, Any]:
    detail = [row.get("detail"), row.get("reason")]
    if row.get("by"):
        detail.append(f"by {row['by']}")
    return {
        "at": row["at"],
        "scan": row.get("scan"),
        "event": " ".join(p for p in (row["what"], row.get("rule")) if p),
        "detail": "; ".join(str(d) for d in detail if d),
    }


def window_options(func: F) -> F:
    """--since DATE (required) and --until DATE (default now), read by window()."""
    func = click.option(
        "--until", metavar="DATE", help="To this date (inclusive) or instant; default now."
    )(func)
    return click.option(
        "--since", required=True, metavar="DATE", help="From this date or instant."
    )(func)


def window(since: str, until: str | None) -> tuple[datetime, datetime]:
    start = parse_instant(since, "--since")
    end = parse_instant(until, "--until", end_of_day=True) if until else datetime.now(UTC)
    if end < start:
        raise InputError(f"--until {until or '(now)'} is before --since {since}")
    return start, end


@click.group("history")
def history_group() -> None:
    """The history of one key."""


def timeline(h: KeyHistory) -> list[dict[str, Any]]:
    """One row per thing that happened to the key, in time order."""
    rows: list[dict[str, Any]] = []
    for v in h.versions:
        detail = ", ".join(v["changed"])
        rows.append(
            {"at": v["from"], "scan": v["from_scan"], "what": "version", "detail": detail}
            | {"reason": f"status {v['status']}, score {v['score']}"}
        )
    for t in h.transitions:
        detail = " → ".join(str(x) for x in (t["from"], t["to"]) if x is not None)
        if t.get("exception"):
            detail = (f"{detail}; " if detail else "") + f"exception {t['exception']}"
        rows.append(
            {"at": t["at"], "scan": t["scan"], "what": t["kind"], "rule": t["rule"]}
            | {"detail": detail, "reason": t["reason"]}
        )
    for e in h.events:
        detail = event_detail(e["method"], e["restrictions_removed"], e["caller_ip"])
        rows.append(
            {"at": e["at"], "scan": e["scan"], "what": f"event {e['method']}", "by": e["by"]}
            | {"detail": detail}
        )
    for leak in h.leaks:
        where = leak["link"] or f"{leak['repository'] or ''} {leak['file'] or ''}".strip()
        if leak["scanner_status"]:
            where += f"; the scanner says {leak['scanner_status']}"
        rows.append(
            {"at": leak["first_reported"], "what": f"leak ({leak['tool']})", "detail": where}
        )
    for f in fix_rows(h.fixes):
        before, after = f["targets_before"] or "none", f["targets_after"] or "none"
        rows.append(
            {"at": f["at"], "what": f"fix {f['kind']}", "by": f["by"]}
            | {"detail": f"API targets {before} -> {after}"}
        )
    for u in h.usage:
        rows.append(
            {"at": u["from"], "scan": u["from_scan"], "what": "usage", "detail": usage_detail(u)}
        )
    epoch = datetime.min.replace(tzinfo=UTC)
    rows.sort(key=lambda r: (r["at"] or epoch, r.get("scan") or 0))
    return rows


def usage_detail(usage: dict[str, Any]) -> str:
    """What a usage interval says, in a line: requests, then each service."""
    parts = [f"{usage['requests_7d']} requests in 7 days"]
    for s in usage["services"]:
        classes = ", ".join(f"{c} {n}" for c, n in sorted(s["by_class"].items()))
        parts.append(
            f"{s['service']} {s['requests']} ({classes}; {s['first_day']} to {s['last_day']})"
        )
    if usage["covered_days"] is not None:
        days = usage["covered_days"]
        parts.append(f"data covers {days} day{'' if days == 1 else 's'}")
    return "; ".join(parts)


def _history_document(h: KeyHistory) -> dict[str, Any]:
    return {
        "schema": "keysentry.history.key/v1",
        "name": h.name,
        "uid": h.uid,
        "project": h.project,
        "in_inventory": h.in_inventory,
        "last_seen_scan": h.last_seen_scan,
        "last_seen_at": h.last_seen_at,
        "status_over_time": h.status_over_time,
        "versions": h.versions,
        "findings": h.findings,
        "transitions": h.transitions,
        "events": h.events,
        "leaks": h.leaks,
        "usage": h.usage,
        "fixes": h.fixes,
        "tickets": h.tickets,
    }


def write_history_head(h: KeyHistory, out: TextIO) -> None:
    """Who the key is and its status over time, wrapped to the terminal."""
    width = table_width()
    seen = "in the inventory" if h.in_inventory else "no longer in the inventory"
    display = h.versions[-1]["display_name"] if h.versions else ""
    last = f"{h.last_seen_at:%Y-%m-%d %H:%M} UTC" if h.last_seen_at else "never"
    spans = "; ".join(
        f"{s['status']} from scan {s['from_scan']}"
        + (f" to {s['to_scan']}" if s["to_scan"] else "")
        for s in h.status_over_time
    )
    lines = [
        f"{display or h.uid}: project {h.project}, {seen}, last seen in scan "
        f"{h.last_seen_scan} ({last})",
        f"uid {h.uid}",
        f"status: {spans}",
    ]
    for t in h.tickets:
        closed = f", closed as {t['declined']}" if t["declined"] else ""
        lines.append(f"ticket {t['ticket']} ({t['receiver']}, {t['state']}{closed}): {t['url']}")
    out.write(terminal_safe(h.name) + "\n")  # whole: it is what other commands take
    for line in lines:
        out.write(textwrap.fill(terminal_safe(line), width, subsequent_indent="  ") + "\n")


def _what(row: dict[str, Any]) -> str:
    """The first word of what happened: `event CreateKey` is an event."""
    return str(row["what"]).split(" ", 1)[0].split("(", 1)[0].strip()


@history_group.command("key")
@common_options
@format_options
@click.argument("key")
@click.option("--since", metavar="DATE", help="Only what happened from this date or instant.")
@click.option("--until", metavar="DATE", help="Only what happened up to this date (inclusive).")
@click.option(
    "--what",
    "whats",
    multiple=True,
    type=click.Choice(TIMELINE_KINDS),
    help="Only this kind of entry (repeatable).",
)
@handle_errors
def history_key(
    config_path: str | None,
    db_url: str | None,
    fmt: str,
    output: str | None,
    key: str,
    since: str | None,
    until: str | None,
    whats: tuple[str, ...],
) -> None:
    """Everything history holds about KEY: its full name, uid, key id or display name."""
    start = parse_instant(since, "--since") if since else None
    end = parse_instant(until, "--until", end_of_day=True) if until else None
    engine = open_store(load_config(config_path), db_url, create=False)
    with engine.connect() as conn:
        h = key_history(conn, key)
    rows = [
        r
        for r in timeline(h)
        if (start is None or (r["at"] is not None and r["at"] >= start))
        and (end is None or (r["at"] is not None and r["at"] <= end))
        and (not whats or _what(r) in whats)
    ]

    def render(out: TextIO) -> None:
        if fmt == "json":
            write_json_document(_history_document(h) | {"timeline": rows}, out)
        elif fmt == "csv":
            write_csv_rows(rows, TIMELINE_COLUMNS, out)
        else:
            write_history_head(h, out)
            shown = [timeline_table_row(r) for r in rows]
            write_table_rows(shown, TIMELINE_TABLE, out, prose=("event", "detail"))

    write_output(render, output, "history")


@click.command("changes")
@common_options
@format_options
@window_options
@click.option(
    "--key",
    "keys",
    multiple=True,
    metavar="KEY",
    help="Only this key: full name, uid, key id or display name (repeatable).",
)
@click.option(
    "--project",
    "projects",
    multiple=True,
    metavar="PROJECT",
    help="Only keys of this project id or number (repeatable).",
)
@click.option(
    "--kind",
    "kinds",
    multiple=True,
    type=click.Choice(KINDS),
    help="Only changes of this kind (repeatable); event: every audit event.",
)
@handle_errors
def changes(
    config_path: str | None,
    db_url: str | None,
    fmt: str,
    output: str | None,
    since: str,
    until: str | None,
    keys: tuple[str, ...],
    projects: tuple[str, ...],
    kinds: tuple[str, ...],
) -> None:
    """Every transition, key change and key event of the scans in the window."""
    start, end = window(since, until)
    engine = open_store(load_config(config_path), db_url, create=False)
    with engine.connect() as conn:
        names = frozenset(find_key_name(conn, k) for k in keys)
    only = ChangeFilter(names, frozenset(projects), frozenset(kinds))

    def render(out: TextIO) -> None:
        with engine.connect() as conn:
            rows = read_changes(conn, start, end, only)
            if fmt == "json":
                out.write('{"schema": "keysentry.changes/v1", ')
                out.write(f'"since": "{plain(start)}", "until": "{plain(end)}", ')
                if only.describe():
                    out.write(f'"filter": {json.dumps(only.describe())}, ')
                out.write('"changes": [')
                separator = "\n  "
                for row in rows:
                    out.write(separator + json_line(row))
                    separator = ",\n  "
                out.write("\n]}\n")
            elif fmt == "csv":
                write_csv_rows(rows, CHANGE_COLUMNS, out)
            else:
                title = f"Changes {start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC"
                if only.describe():
                    title += f"; {only.describe()}"
                shown = [table_row(row) for row in rows]
                write_table_rows(shown, TABLE_COLUMNS, out, title=title)
                if not shown:
                    out.write("No changes in this window.\n")

    write_output(render, output, "changes")


@click.group("stats")
def stats_group() -> None:
    """Statistics over history."""


@stats_group.command("remediation")
@common_options
@format_options
@window_options
@click.option("--by", type=click.Choice(GROUPINGS), help="Group by rule, project or owner.")
@handle_errors
def stats_remediation(
    config_path: str | None,
    db_url: str | None,
    fmt: str,
    output: str | None,
    since: str,
    until: str | None,
    by: str | None,
) -> None:
    """Findings opened in the window: how many were resolved (by reason), how
    many are still open, and the median and 90th-percentile time to remediate."""
    start, end = window(since, until)
    engine = open_store(load_config(config_path), db_url, create=False)
    with engine.connect() as conn:
        result = remediation(conn, start, end, by)
    columns = ("group", "opened", "resolved", "still_open", "remediated", "median_days", "p90_days")

    def render(out: TextIO) -> None:
        if fmt == "json":
            write_json_document({"schema": "keysentry.stats.remediation/v1"} | result, out)
        elif fmt == "csv":
            write_csv_rows(result["groups"], columns, out)
        else:
            write_table_rows(result["groups"], columns, out)
            bound = result["bound_days"]
            if bound["max"] is not None:
                out.write(
                    f"{result['scans']} scans in the window; times overstate the true ones by "
                    f"at most {bound['max']} days (median gap {bound['median']}).\n"
                )
            else:
                out.write(f"{result['scans']} scans in the window; nothing was remediated.\n")
            out.write(result["note"] + "\n")

    write_output(render, output, "statistics")


@click.command("verify")
@common_options
@click.option(
    "--head", "expected_head", help="A chain head from the logs that must be in the chain."
)
@handle_errors
def verify(config_path: str | None, db_url: str | None, expected_head: str | None) -> None:
    """Recompute the hash chain over history; exit 1 at the first scan whose rows changed."""
    engine = open_store(load_config(config_path), db_url, create=False)
    result = verify_chain(engine)
    origin = result.origin
    if origin is not None and origin.first_scan_id is not None:
        click.echo(f"chain began at scan {origin.first_scan_id} (hash {origin.first_hash})")
    if result.unchained:
        click.echo(
            f"{len(result.unchained)} scan(s) before it predate the chain (recorded when the "
            "database was upgraded from before schema 0010) and are not covered"
        )
    if result.broken_at is not None:
        click.echo(f"chain broken at scan {result.broken_at}: {result.problem}")
        sys.exit(1)
    if expected_head is not None and expected_head not in result.heads.values():
        click.echo(
            f"chain intact but {expected_head[:16]}... is not one of its heads: history was "
            "rewritten or truncated since that head was logged"
        )
        sys.exit(1)
    click.echo(
        f"chain intact: {result.scans_checked} scan(s) checked; head {result.head} "
        f"(scan {result.head_scan})"
    )
    if result.uncovered:
        click.echo(
            f"{result.uncovered} row(s) written since that scan (failed scans, leak imports, "
            "key fixes) are covered by the next scan"
        )
