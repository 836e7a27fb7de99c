"""Writes the evidence pack: a folder an auditor can hand over, readable
offline. It is written into a temporary sibling and renamed into place, so
the folder either holds the whole pack or does not exist."""

from __future__ import annotations

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
from scanner.evidence.compliance import COMPLIANCE_COLUMNS, compliance_by_scan, compliance_rows
from scanner.evidence.digest import file_sha256
from scanner.evidence.files import HTML_ROWS, ChangeSummary, report_files, write_changes
from scanner.evidence.fixed import COLUMNS as FIXED_COLUMNS
from scanner.evidence.fixed import fixed_in_window
from scanner.evidence.signing import ENVELOPE_FILE, MANIFEST_FILE, PUBLIC_KEY_FILE, ManifestSigner
from scanner.report.dates import human
from scanner.report.remediation import remediation
from scanner.report.rows import plain, write_csv_rows
from scanner.rules.frameworks import CIS_GCP
from scanner.store import db
from scanner.store.chain import Verification
from scanner.store.configs import config_document
from scanner.store.fixes import FIX_COLUMNS, fix_rows, fixes
from scanner.store.tickets import TICKET_COLUMNS, ticket_rows
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


def write_pack(
    engine: Engine,
    since: datetime,
    until: datetime,
    output: Path,
    signer: ManifestSigner | None = None,
) -> dict[str, Any]:
    """Write the pack for scans evaluated in [SINCE, UNTIL]; return its
    manifest. With SIGNER, the manifest is signed (MANIFEST.dsse.json)."""
    _target(output)
    with engine.connect() as conn:
        scans = window_scans(conn, since, until)
        if not scans:
            raise InputError(f"no successful scan between {plain(since)} and {plain(until)}")
        before = scan_before(conn, since)
    tmp = Path(tempfile.mkdtemp(dir=output.parent, prefix=f".{output.name}."))
    try:
        manifest = _write_all(engine, _Window(since, until, scans, before or scans[0]), tmp, signer)
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


@dataclass(frozen=True)
class _Window:
    since: datetime
    until: datetime
    scans: list[Any]
    start: Any  # the last scan before the window, or its first

    @property
    def end(self) -> Any:
        return self.scans[-1]


def _write_all(
    engine: Engine, window: _Window, folder: Path, signer: ManifestSigner | None
) -> dict[str, Any]:
    since, until, scans, end = window.since, window.until, window.scans, window.end
    with engine.connect() as conn:
        baseline = first_scan_id(conn)
    with verifying(engine) as verification_result:
        report_files(engine, window.start.id, folder, "start")
        worst = report_files(engine, end.id, folder, "end")
        summary = write_changes(engine, since, until, folder, baseline)
        verification = verification_result()
    with engine.connect() as conn:
        stats = remediation(conn, since, until, "rule")
        fixed = fixed_in_window(conn, since, until)
        documents = {s.config_digest: config_document(conn, s.config_digest) for s in scans}
        compliance = compliance_by_scan(conn, scans)
        changed = fix_rows(fixes(conn, since, until))
        opened_tickets = ticket_rows(conn)
    _file(folder, "remediation.json", _json(stats))
    _file(folder, "fixed.json", _json(fixed))
    _file(folder, "fixed.csv", lambda out: write_csv_rows(fixed, FIXED_COLUMNS, out))
    _file(folder, "compliance.json", _json(compliance))
    _file(
        folder,
        "compliance.csv",
        lambda out: write_csv_rows(compliance_rows(compliance), COMPLIANCE_COLUMNS, out),
    )
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
    _file(folder, "fixes.json", _json(changed))
    _file(folder, "fixes.csv", lambda out: write_csv_rows(changed, FIX_COLUMNS, out))
    # The tickets as they are now (Jira, ServiceNow): where the remediation is tracked.
    _file(folder, "tickets.json", _json(opened_tickets))
    _file(folder, "tickets.csv", lambda out: write_csv_rows(opened_tickets, TICKET_COLUMNS, out))
    if signer is not None:
        _file(folder, PUBLIC_KEY_FILE, lambda out: out.write(signer.public_pem))
    page = _page(
        engine,
        window,
        documents,
        _Evidence(stats, fixed, compliance, verification, worst, summary, changed, baseline),
        folder,
        signer,
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
        # The head a verifier compares with what the worker logged for the
        # window's last scan; the chain's own head may be a later scan's.
        "window_head": {"scan": end.id, "hash": end.chain_hash},
        "files": [
            {
                "path": name,
                "sha256": file_sha256(folder / name),
                "bytes": (folder / name).stat().st_size,
            }
            for name in files
        ],
    }
    _file(folder, MANIFEST_FILE, _json(manifest))
    if signer is not None:
        envelope = signer.sign((folder / MANIFEST_FILE).read_bytes())
        _file(folder, ENVELOPE_FILE, _json(envelope))
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
class _Evidence:
    remediation: dict[str, Any]
    fixed: list[dict[str, Any]]
    compliance: list[dict[str, Any]]
    verification: Verification
    worst_keys: list[dict[str, Any]]
    changes: ChangeSummary
    fixes: list[dict[str, Any]]
    baseline: int | None


def _page(
    engine: Engine,
    window: _Window,
    documents: dict[str | None, dict[str, Any] | None],
    evidence: _Evidence,
    folder: Path,
    signer: ManifestSigner | None,
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
        flow = data.weekly_flow(conn, scans, evidence.baseline)
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
    env.filters["human"] = human
    baseline_scan = next((s for s in scans if s.id == evidence.baseline), None)
    return env.get_template("pack.html").render(
        since=since,
        until=until,
        generated_at=datetime.now(UTC),
        version=__version__,
        database=db.redact(str(engine.url)),
        scans=scans,
        verification=evidence.verification,
        statuses=[s.value for s in KeyStatus],
        start_label=f"scan {start.id}",
        start_counts=dict((start.counts or {}).get("by_status", {})),
        end_counts=dict((end.counts or {}).get("by_status", {})),
        end_scan=end,
        charts={
            "status": charts.keys_by_status(data.status_points(scans), since, until),
            "flow": charts.opened_resolved_by_week(flow, since, until),
            "deadlines": charts.open_against_deadlines(
                open_points, [(d, label, status) for d, label, status, _ in timeline], since, until
            ),
        },
        deadlines_outside=[
            (d, label, status)
            for d, label, status, _ in timeline
            if not since.date() <= d <= until.date()
        ],
        baseline_scan=baseline_scan,
        baseline_counts=dict((baseline_scan.counts or {}).get("by_status", {}))
        if baseline_scan
        else {},
        baseline_rows=evidence.changes.baseline,
        remediation=evidence.remediation,
        fixed=evidence.fixed[:HTML_ROWS],
        fixed_total=len(evidence.fixed),
        compliance=evidence.compliance,
        framework=CIS_GCP,
        in_force=in_force,
        exceptions=data.exceptions_in_force(scans, documents),
        worst_keys=evidence.worst_keys,
        changes=evidence.changes,
        fixes=evidence.fixes,
        signed_by=signer.keyid if signer else None,
        files=sorted(
            [str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()]
            + ["index.html", MANIFEST_FILE]
            + ([ENVELOPE_FILE] if signer else [])
        ),
    )
