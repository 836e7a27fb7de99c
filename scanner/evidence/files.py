"""The pack's large files, each written in one pass over history: the
reports at the start and the end (JSON and CSV together) and the changes in
the window (CSV and JSON together)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from scanner.core.models import KeyStatus
from scanner.report.answers import in_use
from scanner.report.build import build_report
from scanner.report.changes import COLUMNS as CHANGE_COLUMNS
from scanner.report.changes import changes
from scanner.report.formats import (
    CSV_COLUMNS,
    JSON_TAIL,
    csv_rows,
    csv_writer,
    json_head,
    json_key,
)
from scanner.report.rows import csv_row, json_line

HTML_ROWS = 500  # changes shown on the page; all are in the files
HTML_KEYS = 200  # worst keys shown on the page


def report_files(engine: Engine, scan_id: int, folder: Path, label: str) -> list[dict[str, Any]]:
    """keys-LABEL.json and .csv in one pass over the report; returns its worst
    keys (the report is worst first) for the page."""
    report = build_report(engine, scan_id)
    worst: list[dict[str, Any]] = []
    with (
        (folder / f"keys-{label}.json").open("w", encoding="utf-8", newline="") as as_json,
        (folder / f"keys-{label}.csv").open("w", encoding="utf-8", newline="") as as_csv,
    ):
        table = csv_writer(as_csv)
        table.writerow(CSV_COLUMNS)
        as_json.write(json_head(report))
        for n, k in enumerate(report.iter_keys()):
            as_json.write(json_key(k, n == 0))
            table.writerows(csv_rows(k))
            if len(worst) < HTML_KEYS and k.status != KeyStatus.COMPLIANT:
                finding = k.findings[0] if k.findings else None
                worst.append(
                    {
                        "status": k.status.value,
                        "score": k.score,
                        "project": k.project,
                        "display_name": k.display_name,
                        "uid": k.uid,
                        "owners": k.owners,
                        "in_use": in_use(k),
                        "rule": finding.rule if finding else "",
                        "deadline": finding.deadline if finding else None,
                    }
                )
        as_json.write(JSON_TAIL)
    return worst


@dataclass
class ChangeSummary:
    """What the page shows of the window's changes; the files hold them all.
    The first scan's rows are what keysentry found on arrival: counted by
    kind, not listed."""

    total: int = 0
    baseline: Counter[str] = field(default_factory=Counter)
    status: list[dict[str, Any]] = field(default_factory=list)  # the first HTML_ROWS
    status_total: int = 0
    other: list[dict[str, Any]] = field(default_factory=list)  # the first HTML_ROWS
    other_total: int = 0


_STATUS_KINDS = ("status_changed", "key_added", "left_inventory")


def write_changes(
    engine: Engine, since: datetime, until: datetime, folder: Path, baseline: int | None
) -> ChangeSummary:
    """changes.csv and .json in one pass; what the page shows of them."""
    summary = ChangeSummary()
    with (
        engine.connect() as conn,
        (folder / "changes.csv").open("w", encoding="utf-8", newline="") as as_csv,
        (folder / "changes.json").open("w", encoding="utf-8", newline="") as as_json,
    ):
        table = csv_writer(as_csv)
        table.writerow(CHANGE_COLUMNS)
        as_json.write("[")
        for row in changes(conn, since, until):
            table.writerow(csv_row(row, CHANGE_COLUMNS))
            as_json.write(("\n  " if summary.total == 0 else ",\n  ") + json_line(row))
            summary.total += 1
            if row["scan"] == baseline:
                summary.baseline[row["kind"]] += 1
            elif row["kind"] in _STATUS_KINDS:
                summary.status_total += 1
                if len(summary.status) < HTML_ROWS:
                    summary.status.append(row)
            else:
                summary.other_total += 1
                if len(summary.other) < HTML_ROWS:
                    summary.other.append(row)
        as_json.write("\n]\n")
    return summary
