"""Renders a report as JSON, CSV or a terminal table. User-controlled text
(display names, project ids) is neutralized for each medium: formula prefixes
in CSV, control characters and markup in the terminal."""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
import unicodedata
from collections.abc import Callable
from typing import Any, TextIO

import orjson
from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from scanner.core.models import KeyStatus
from scanner.report import ocsf
from scanner.report.answers import in_use, owner_text, status_finding
from scanner.report.build import Report, ReportFinding, ReportKey
from scanner.report.documents import header_document, key_document
from scanner.report.fit import fit, wrap_words
from scanner.rules.catalog import ALL_RULES

TABLE_WIDTH = 100
_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
_STATUS_STYLE = {
    KeyStatus.BLOCKED: "bold red",
    KeyStatus.NON_COMPLIANT: "red",
    KeyStatus.AT_RISK: "yellow",
    KeyStatus.COMPLIANT: "green",
    KeyStatus.DELETED: "dim",
}
CSV_COLUMNS = (
    "key_name",
    "project",
    "project_number",
    "display_name",
    "key_type",
    "status",
    "score",
    "rule",
    "severity",
    "deadline",
    "days_to_deadline",
    "checklist",
    "summary",
    "accepted_by",
    "accepted_until",
    "owners",
    "in_use",
    "status_rule",
    "status_deadline",
)


def csv_safe(value: object) -> object:
    """Neutralizes spreadsheet formulas in text, at its start and after every
    line break (a reader that splits rows there would start a cell with it);
    numbers pass unchanged."""
    if not isinstance(value, str):
        return value
    if "\n" not in value and "\r" not in value:  # nearly every cell: no split needed
        return "'" + value if value.startswith(_FORMULA_PREFIXES) else value
    parts = re.split(r"(\r\n|\r|\n)", value)  # text, break, text, break, ...
    return "".join(
        "'" + part if index % 2 == 0 and part.startswith(_FORMULA_PREFIXES) else part
        for index, part in enumerate(parts)
    )


def csv_writer(out: TextIO) -> Any:
    """RFC 4180 rows: with CRLF as the line terminator, a field holding a bare CR
    or LF is quoted (with "\n" alone, Python's csv leaves a bare CR unquoted)."""
    return csv.writer(out, lineterminator="\r\n")


# Controls, format characters (bidirectional overrides) and the line and
# paragraph separators, which some terminals break lines at.
_NOT_TEXT = frozenset(("Cc", "Cf", "Zl", "Zp"))


def terminal_safe(value: str) -> str:
    """Replaces control characters (escape sequences, newlines, U+2028) with U+FFFD."""
    if value.isascii() and value.isprintable():
        return value
    return "".join("\ufffd" if unicodedata.category(ch) in _NOT_TEXT else ch for ch in value)


def terminal_text(value: str) -> str:
    """Several lines for a terminal: control characters but line breaks and tabs
    replaced with U+FFFD, so that no escape sequence reaches it."""
    return "\n".join(
        "\t".join(terminal_safe(part) for part in line.split("\t")) for line in value.split("\n")
    )


def json_head(report: Report) -> str:
    """The JSON document up to its first key: the header indented, then `"keys": [`."""
    header = json.dumps(header_document(report), indent=2, ensure_ascii=False)
    return header[:-2] + ',\n  "keys": ['


JSON_TAIL = "\n  ]\n}\n"


def json_key(k: ReportKey, first: bool) -> str:
    # orjson: at 100,000 keys the standard encoder was a fifth of the report's time.
    return ("\n    " if first else ",\n    ") + orjson.dumps(key_document(k)).decode()


def write_json(report: Report, out: TextIO) -> None:
    """The document, streamed: the header indented, then one key per line."""
    out.write(json_head(report))
    for n, k in enumerate(report.iter_keys()):
        out.write(json_key(k, n == 0))
    out.write(JSON_TAIL)


def csv_rows(k: ReportKey) -> list[list[object]]:
    """One row per finding of K (open, then accepted), or one for a key
    without findings, made safe."""
    base = [
        csv_safe(v) for v in (k.name, k.project, k.project_number, k.display_name, k.key_type)
    ] + [k.status.value, k.score]
    use = in_use(k)
    setting = status_finding(k)
    answers = [
        csv_safe("; ".join(k.owners)),
        "" if use is None else str(use).lower(),
        setting.rule if setting else "",
        setting.deadline.isoformat() if setting and setting.deadline else "",
    ]
    if not k.findings and not k.accepted:
        return [[*base, "", "", "", "", "", "", "", "", *answers]]
    rows = []
    for f in (*k.findings, *k.accepted):
        accepted = f.accepted
        rows.append(
            [
                *base,
                csv_safe(f.rule),
                f.severity.value,
                f.deadline.isoformat() if f.deadline else "",
                f.days_to_deadline if f.days_to_deadline is not None else "",
                csv_safe(f.checklist),
                csv_safe(f.summary),
                csv_safe(accepted.id) if accepted else "",
                accepted.expires.isoformat() if accepted and accepted.expires else "",
                *answers,
            ]
        )
    return rows


def write_csv(report: Report, out: TextIO) -> None:
    writer = csv_writer(out)
    writer.writerow(CSV_COLUMNS)
    for k in report.iter_keys():
        writer.writerows(csv_rows(k))


def _deadline_text(days: int | None) -> str:
    if days is None:
        return ""
    if days < 0:
        return f"{-days}d ago"
    return "today" if days == 0 else f"in {days}d"


def table_width() -> int:
    """The terminal's width (COLUMNS when set), or TABLE_WIDTH when it is not a terminal."""
    return shutil.get_terminal_size((TABLE_WIDTH, 24)).columns


# The finding wraps after its hyphens rather than lose its middle: a rule id is
# read whole. Its longest part ("overprivileged-") sets its least width; the
# names take 42 columns before it grows past that, up to the longest rule id.
FINDING_MIN = 15
NAMES_FIRST = 42
_SHARES = {"Project": 0.29, "Key": 0.4, "Owner": 0.31}


def _name_widths(room: int) -> dict[str, int]:
    """The widths of the Project, Key, Owner and Worst finding columns in ROOM."""
    longest = max(len(meta.id) for meta in ALL_RULES)
    finding = min(longest, max(FINDING_MIN, room - NAMES_FIRST))
    names = room - finding
    widths = {h: max(4, int(names * share)) for h, share in _SHARES.items()}
    return widths | {"Worst finding": finding}


# Left out where the terminal is narrower than 100 columns (Score: 120).
_WIDE_ONLY = ("Score", "Type", "#")


def write_table(
    report: Report, out: TextIO, width: int | None = None, *, wide: bool = False
) -> None:
    """One line per key, worst first. WIDTH (the terminal's by default) is
    kept by shortening the middle of long names; WIDE shows them whole."""
    width = width or table_width()
    console = Console(width=10_000 if wide else width, file=out, color_system=None)
    scan = report.scan
    by_status = {s.value: 0 for s in KeyStatus} | report.counts("by_status")
    title = f"Scan {scan.id} at {scan.evaluated_at:%Y-%m-%d %H:%M}Z: {scan.keys_total} keys, from "
    source = terminal_safe(scan.source)
    title += source if wide else fit(source, max(10, width - len(title)))
    table = Table(box=box.SIMPLE_HEAD, padding=(0, 0), pad_edge=False, collapse_padding=True)
    roomy = wide or width >= 100
    fixed = {"Status": 13, "Score": 5, "Type": 4, "#": 2, "Use": 3, "Due": 8}
    headers = ["Status", "Score", "Project", "Key", "Owner", "Type", "Use", "#"]
    headers += ["Worst finding", "Due"]
    if not roomy:
        headers = [h for h in headers if h not in _WIDE_ONLY]
    elif not wide and width < 120:
        headers.remove("Score")
    # The box puts one space before, between and after the columns.
    room = width - (len(headers) + 1) - sum(fixed[h] for h in headers if h in fixed)
    widths = fixed | _name_widths(room)
    right = {"Score", "#", "Due"}
    for h in headers:
        # A header is never cut: "Worst finding" says "Finding" where it is narrow.
        header = "Finding" if h == "Worst finding" and not wide and widths[h] < len(h) else h
        table.add_column(
            header,
            width=None if wide else widths[h],
            no_wrap=True,
            justify="right" if h in right else "left",
        )
    accepted_lines = []
    shown = 0
    for k in report.iter_keys():
        shown += 1
        for f in k.accepted:
            accepted_lines.append(_accepted_line(k, f))
        cells = _cells(k)
        row: list[Text] = []
        for h in headers:
            cell = cells[h]
            if isinstance(cell, str) and h == "Worst finding" and not wide:
                cell = Text(wrap_words(cell, widths[h]))
            elif isinstance(cell, str):
                cell = Text(cell if wide or h in fixed else fit(cell, widths[h]))
            row.append(cell)
        table.add_row(*row)
    console.print(Text(title))
    console.print(table)
    if report.only is not None:
        console.print(Text(f"{shown} of {scan.keys_total} keys shown: {report.only}"))
    console.print(Text("  ".join(f"{name}: {count}" for name, count in by_status.items())))
    for line in accepted_lines:
        console.print(Text(terminal_safe(line)))
    for item in report.project_findings():
        line = f"project {item['subject']}: [{item['severity']}] {item['rule']}: {item['summary']}"
        console.print(Text(terminal_safe(line)))
    for note in scan.notes or []:
        console.print(Text(f"note: {terminal_safe(note)}"))
    for item in report.left_inventory():
        seen = f"scan {item['last_seen_scan']}" if item["last_seen_scan"] else "an earlier scan"
        line = f"left the inventory: {item['name']} (last seen in {seen}, {item['last_status']})"
        console.print(Text(terminal_safe(line)))
    console.print(Text(in_force_line(report)))


def _cells(k: ReportKey) -> dict[str, str | Text]:
    """What the table shows of K, column by column, before fitting."""
    worst = k.findings[0] if k.findings else None
    setting = status_finding(k)
    use = in_use(k)
    return {
        "Status": Text(k.status.value, style=_STATUS_STYLE[k.status]),
        "Score": str(k.score),
        "Project": terminal_safe(k.project),
        "Key": terminal_safe(k.display_name or k.uid),
        "Owner": terminal_safe(owner_text(k.owners)),
        "Type": "std" if k.key_type == "standard" else k.key_type,
        "Use": "?" if use is None else ("yes" if use else "no"),
        "#": str(len(k.findings)) if k.findings else "",
        "Worst finding": (
            worst.rule if worst else (f"({len(k.accepted)} accepted)" if k.accepted else "-")
        ),
        "Due": _deadline_text(setting.days_to_deadline if setting else None),
    }


def _accepted_line(k: ReportKey, f: ReportFinding) -> str:
    a = f.accepted
    assert a is not None
    until = f" until {a.expires}" if a.expires else ""
    due = f.days_to_deadline is not None and f.days_to_deadline <= 0
    blocked = (
        " (the key is blocked: accepted, not hidden)"
        if k.status is KeyStatus.BLOCKED and due
        else ""
    )
    why = f": {a.reason}" if a.reason else ""
    return (
        f"accepted: {k.project} {k.display_name or k.uid}: {f.rule} by exception {a.id}"
        f"{until}{blocked}{why}"
    )


def in_force_line(report: Report) -> str:
    """Which configuration and deadlines the scan was judged under."""
    document = report.in_force()
    digest = report.scan.config_digest
    if document is None or digest is None:
        return "rules in force: not recorded (the scan predates schema 0010)"
    dates = ", ".join(
        f"{e['id']} {e['date']} ({e['status']})" for e in document.get("timeline", [])
    )
    disabled = [r["id"] for r in document.get("rules", []) if not r.get("enabled", True)]
    off = f"; disabled: {', '.join(disabled)}" if disabled else ""
    return terminal_safe(f"rules in force: config {digest[:12]}; timeline: {dates}{off}")


def write_ocsf(report: Report, out: TextIO) -> None:
    """OCSF Compliance Finding events, a JSON array streamed one event per line."""
    out.write("[")
    for n, event in enumerate(ocsf.events(report)):
        out.write(("\n" if n == 0 else ",\n") + orjson.dumps(event).decode())
    out.write("\n]\n")


WRITERS: dict[str, Callable[[Report, TextIO], None]] = {
    "json": write_json,
    "csv": write_csv,
    "table": write_table,
    "ocsf": write_ocsf,
}


def write(report: Report, fmt: str, out: TextIO, *, wide: bool = False) -> None:
    if fmt == "table":
        write_table(report, out, wide=wide)
    else:
        WRITERS[fmt](report, out)


def render(report: Report, fmt: str) -> str:
    out = io.StringIO()
    write(report, fmt, out)
    return out.getvalue()


def render_json(report: Report) -> str:
    return render(report, "json")


def render_csv(report: Report) -> str:
    return render(report, "csv")


def render_table(report: Report) -> str:
    return render(report, "table")
