"""Writes the evidence pack: a folder an auditor can hand over, readable
offline. It is written into a temporary sibling and renamed into place, so
the folder either holds the whole pack or does not exist."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from sqlalchemy import Engine

from scanner import __version__
from scanner.core.errors import InputError
from scanner.core.models import KeyStatus
from scanner.evidence import charts, data
from scanner.evidence.background import verifying
from scanner.evidence.files import report_files, write_changes
from scanner.report.remediation import remediation
from scanner.report.rows import plain, write_csv_rows
from scanner.store import db
from scanner.store.chain import Verification
from scanner.store.configs import config_document
from scanner.store.fixes import FIX_COLUMNS, fix_rows, fixes
from scanner.store.window import first_scan_id, scan_before, window_scans

SCHEMA = "keysentry.evidence/v1"
EXCEPTION_COLUMNS = ("id", "scans", "rules", "expires", "approved_by", "ticket", "reason")


def _target(output: Path) -> None:
    if not output.parent.resolve().is_dir():
        raise InputError(f"--output: directory {output.parent} does not exist")
    if output.exists() and (not output.is_dir() or any(output.iterdir())):
        raise InputError(f"--output {output}: exists and is not an empty folder")


def _file(folder: Path, name: str, render: Callable[[TextIO], object]) -> None:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as handle:
        render(handle)


def _json(value: Any) -> Callable[[TextIO], object]:
    return lambda out: out.write(json.dumps(plain(value), indent=2, ensure_ascii=False) + "\n")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_pack(engine: Engine, since: datetime, until: datetime, output: Path) -> dict[str, Any]:
    """Write the pack for scans evaluated in [SINCE, UNTIL]; return its manifest."""
    _target(output)
    with engine.connect() as conn:
        scans = window_scans(conn, since, until)
        if not scans:
            raise InputError(f"no successful scan between {plain(since)} and {plain(until)}")
        before = scan_before(conn, since)
    tmp = Path(tempfile.mkdtemp(dir=output.parent, prefix=f".{output.name}."))
    try:
        manifest = _write_all(engine, since, until, scans, before, tmp)
        umask = os.umask(0)
        os.umask(umask)
        tmp.chmod(0o777 & ~umask)  # mkdtemp makes 0700; give the usual mode
        if output.exists():
            output.rmdir()  # empty, checked above
        os.replace(tmp, output)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return manifest


def _write_all(
    engine: Engine,
    since: datetime,
    until: datetime,
    scans: list[Any],
    before: Any | None,
    folder: Path,
) -> dict[str, Any]:
    start, end = before or scans[0], scans[-1]
    with verifying(engine) as verification_result:
        report_files(engine, start.id, folder, "start")
        worst = report_files(engine, end.id, folder, "end")
        shown, total = write_changes(engine, since, until, folder)
        verification = verification_result()
    with engine.connect() as conn:
        stats = remediation(conn, since, until, "rule")
        documents = {s.config_digest: config_document(conn, s.config_digest) for s in scans}
    _file(folder, "remediation.json", _json(stats))
    accepted = data.exceptions_in_force(scans, documents)
    _file(folder, "exceptions.json", _json(accepted))
    _file(folder, "exceptions.csv", lambda out: write_csv_rows(accepted, EXCEPTION_COLUMNS, out))
    for digest, document in documents.items():
        if digest and document:
            _file(folder, f"in-force/{digest}.json", _json(document))
    end_document = documents.get(end.config_digest) or {}
    _file(folder, "timeline.json", _json(end_document.get("timeline", [])))
    _file(folder, "rules.json", _json(end_document.get("rules", [])))
    scan_rows = [_scan_row(s) for s in scans]
    _file(folder, "scans.csv", lambda out: write_csv_rows(scan_rows, list(scan_rows[0]), out))
    _file(folder, "verify.json", _json(_verification(verification)))
    with engine.connect() as conn:
        changed = fix_rows(fixes(conn, since, until))
    _file(folder, "fixes.json", _json(changed))
    _file(folder, "fixes.csv", lambda out: write_csv_rows(changed, FIX_COLUMNS, out))
    page = _page(
        engine,
        _Window(since, until, scans, start, end),
        documents,
        stats,
        verification,
        _Tables(worst, shown, total),
        folder,
        changed,
    )
    _file(folder, "index.html", lambda out: out.write(page))
    files = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
    manifest = {
        "schema": SCHEMA,
        "generated_at": datetime.now(UTC),
        "keysentry": __version__,
        "since": since,
        "until": until,
        "scans": [s.id for s in scans],
        "chain": _verification(verification),
        "files": [
            {
                "path": name,
                "sha256": _sha256(folder / name),
                "bytes": (folder / name).stat().st_size,
            }
            for name in files
        ],
    }
    _file(folder, "MANIFEST.json", _json(manifest))
    return manifest


def _scan_row(s: Any) -> dict[str, Any]:
    return {
        "scan": s.id,
        "evaluated_at": s.evaluated_at,
        "source": s.source,
        "keys": s.keys_total,
        "findings_open": s.findings_open,
        "rows_written": s.rows_written,
        "config_digest": s.config_digest,
        "chain_hash": s.chain_hash,
    }


def _verification(v: Verification) -> dict[str, Any]:
    found = asdict(v)
    found.pop("heads")
    found["intact"] = v.broken_at is None
    return found


@dataclass(frozen=True)
class _Window:
    since: datetime
    until: datetime
    scans: list[Any]
    start: Any
    end: Any


@dataclass(frozen=True)
class _Tables:
    worst_keys: list[dict[str, Any]]
    changes: list[dict[str, Any]]
    changes_total: int


def _page(
    engine: Engine,
    window: _Window,
    documents: dict[str | None, dict[str, Any] | None],
    stats: dict[str, Any],
    verification: Verification,
    tables: _Tables,
    folder: Path,
    changed: list[dict[str, Any]],
) -> str:
    since, until, scans, start, end = (
        window.since,
        window.until,
        window.scans,
        window.start,
        window.end,
    )
    timeline = data.deadlines(documents.get(end.config_digest))
    with engine.connect() as conn:
        baseline = first_scan_id(conn)
        flow = data.weekly_flow(conn, scans, baseline)
        rules = {rule for entry in timeline for rule in entry[3]}
        open_points = data.deadline_points(conn, scans, rules)
    in_force = [
        {
            "digest": digest,
            "scans": [s.id for s in scans if s.config_digest == digest],
            "timeline": (document or {}).get("timeline", []),
            "disabled": [r["id"] for r in (document or {}).get("rules", []) if not r["enabled"]],
        }
        for digest, document in documents.items()
        if digest
    ]
    env = Environment(
        loader=PackageLoader("scanner.evidence", "templates"),
        autoescape=select_autoescape(enabled_extensions=("html",)),
        undefined=StrictUndefined,
    )
    return env.get_template("pack.html").render(
        since=plain(since),
        until=plain(until),
        generated_at=plain(datetime.now(UTC)),
        version=__version__,
        database=db.redact(str(engine.url)),
        scans=[
            _scan_row(s)
            | {"id": s.id, "evaluated_at": plain(s.evaluated_at), "keys_total": s.keys_total}
            for s in scans
        ],
        verification=verification,
        statuses=[s.value for s in KeyStatus],
        start_label=f"scan {start.id}",
        start_counts=dict((start.counts or {}).get("by_status", {})),
        end_counts=dict((end.counts or {}).get("by_status", {})),
        end_scan=end,
        charts={
            "status": charts.keys_by_status(data.status_points(scans), until),
            "flow": charts.opened_resolved_by_week(flow, since, until),
            "deadlines": charts.open_against_deadlines(
                open_points, [(d, label, status) for d, label, status, _ in timeline], since, until
            ),
        },
        baseline_in_window=baseline in {s.id for s in scans},
        remediation=stats,
        in_force=in_force,
        exceptions=data.exceptions_in_force(scans, documents),
        worst_keys=tables.worst_keys,
        changes=tables.changes,
        changes_total=tables.changes_total,
        fixes=plain(changed),
        files=sorted(
            [str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()]
            + ["index.html", "MANIFEST.json"]
        ),
    )
