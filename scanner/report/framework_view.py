"""A compliance view of one scan, as a table, JSON or CSV: each control with
its result and the keys that fail it (report --framework)."""

from __future__ import annotations

import textwrap
from typing import Any, TextIO

from scanner.report.build import Report
from scanner.report.formats import csv_safe, csv_writer, table_width, terminal_safe
from scanner.report.frameworks import ControlResult, assess
from scanner.report.records import ReportKey
from scanner.report.rows import write_json_document, write_table_rows
from scanner.rules.frameworks import Framework

SCHEMA = "keysentry.framework/v1"
NAMED = 10  # failing keys named per control on a terminal
CSV_COLUMNS = (
    "control",
    "title",
    "result",
    "state",
    "key_name",
    "display_name",
    "project",
    "owners",
)


def _key(k: ReportKey) -> dict[str, Any]:
    return {
        "name": k.name,
        "display_name": k.display_name,
        "project": k.project,
        "owners": k.owners,
        "status": k.status.value,
    }


def _document(report: Report, framework: Framework, results: list[ControlResult]) -> dict[str, Any]:
    return {
        "schema": SCHEMA,
        "framework": {"id": framework.id, "title": framework.title},
        "scan": {"id": report.scan.id, "evaluated_at": report.scan.evaluated_at},
        "controls": [
            {
                "id": r.control.id,
                "title": r.control.title,
                "rules": list(r.control.rules),
                "result": r.result,
                "assessed": r.assessed,
                "not_assessed": r.not_assessed,
                "failing": [_key(k) for k in r.failing],
                "accepted": [_key(k) for k in r.accepted],
            }
            for r in results
        ],
    }


def write_framework(report: Report, framework: Framework, fmt: str, out: TextIO) -> None:
    results = assess(framework, report.iter_keys())
    if fmt == "json":
        write_json_document(_document(report, framework, results), out)
        return
    if fmt == "csv":
        writer = csv_writer(out)
        writer.writerow(CSV_COLUMNS)
        for r in results:
            for state, keys in (("failing", r.failing), ("accepted", r.accepted)):
                for k in keys:
                    cells = [r.control.id, r.control.title, r.result, state, k.name]
                    cells += [k.display_name, k.project, "; ".join(k.owners)]
                    writer.writerow([csv_safe(c) for c in cells])
        return
    scan = report.scan
    title = f"{framework.title}, scan {scan.id} at {scan.evaluated_at:%Y-%m-%d %H:%M} UTC"
    rows = [
        {
            "control": r.control.id,
            "result": r.result,
            "failing": len(r.failing),
            "accepted": len(r.accepted),
            "unassessed": r.not_assessed,
            "title": r.control.title,
        }
        for r in results
    ]
    columns = ("control", "result", "failing", "accepted", "unassessed", "title")
    write_table_rows(rows, columns, out, title=title, prose=("title",))
    width = table_width()
    for r in results:
        if not r.failing:
            continue
        names = ", ".join(f"{k.display_name or k.uid} ({k.project})" for k in r.failing[:NAMED])
        more = f", and {len(r.failing) - NAMED} more" if len(r.failing) > NAMED else ""
        line = f"{r.control.id} fails for: {names}{more}"
        wrapped = textwrap.fill(
            terminal_safe(line), width, subsequent_indent="  ", break_on_hyphens=False
        )
        out.write(wrapped + "\n")
    if any(r.not_assessed for r in results):
        out.write("Unassessed: keys whose usage was not read cannot be judged against 1.13.\n")
