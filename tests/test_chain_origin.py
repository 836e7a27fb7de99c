"""The hash chain knows where it began: a history whose hashes were removed
is broken, not "predating the chain"; only the scans a database held before
the chain existed predate it, and the evidence pack cites the beginning.
The chain also covers what scans do not write themselves: their figures,
failed scans, leak imports and reports, and key fixes."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import Engine, delete, insert, update

from scanner.config import Config
from scanner.evidence.pack import write_pack
from scanner.scan.engine import run_scan
from scanner.sources.inventory.export import ExportSource
from scanner.store import db, scans
from scanner.store.chain import verify
from scanner.store.tables import (
    ChainOrigin,
    FigureRow,
    KeyFixRow,
    KeyVersion,
    LeakImportRow,
    LeakReportRow,
    Scan,
)
from tests.conftest import NOW
from tests.test_code_digest import DEMO


def scan(engine: Engine, day: int) -> int:
    source = ExportSource([str(DEMO)], Config().gemini.project_services)
    return run_scan(source, engine, Config(), NOW + timedelta(days=day)).scan_id


def execute(engine: Engine, *statements: object) -> None:
    with engine.begin() as conn:
        for statement in statements:
            conn.execute(statement)  # type: ignore[call-overload]


def broken(engine: Engine) -> tuple[int | None, str | None]:
    result = verify(engine)
    return result.broken_at, result.problem


def test_a_history_stripped_of_its_chain_is_broken(engine: Engine, tmp_path: Path) -> None:
    first, _, _ = (scan(engine, day) for day in range(3))
    assert verify(engine).broken_at is None
    execute(
        engine,
        update(Scan).values(chain_hash=None),
        update(KeyVersion).where(KeyVersion.status == "blocked").values(status="compliant"),
    )
    assert broken(engine) == (
        first,
        "it was sealed (it carries the chain's origin) but its hash is gone",
    )
    execute(engine, update(Scan).values(chain_origin=None))
    assert broken(engine) == (
        first,
        "its chain hash is missing, and this database has chained every scan",
    )
    pack = tmp_path / "pack"
    manifest = write_pack(engine, NOW - timedelta(days=1), NOW + timedelta(days=3), pack)
    assert manifest["chain"]["intact"] is False
    assert json.loads((pack / "MANIFEST.json").read_text())["chain"]["broken_at"] == first
    assert f"History chain broken at scan {first}" in (pack / "index.html").read_text()


def _upgraded_from_before_the_chain(engine: Engine) -> int:
    """A database whose first scan predates the chain (made so by going back
    to schema 0017 and taking that scan's hash away), upgraded since."""
    first = scan(engine, 0)
    config = db._alembic_config(engine)
    command.downgrade(config, "0017")
    execute(engine, update(Scan).values(chain_hash=None))
    command.upgrade(config, "head")
    return first


def test_only_the_scans_before_the_recorded_origin_predate_the_chain(engine: Engine) -> None:
    first = _upgraded_from_before_the_chain(engine)
    second, third = scan(engine, 1), scan(engine, 2)
    result = verify(engine)
    assert result.broken_at is None, result.problem
    assert result.unchained == [first] and result.scans_checked == 2
    assert result.origin is not None and result.origin.first_scan_id == second
    assert result.origin.unchained_through == first
    # Moving the origin past the scans it chained is a break.
    execute(engine, update(ChainOrigin).values(first_scan_id=third))
    assert broken(engine)[0] == second
    execute(engine, update(ChainOrigin).values(first_scan_id=second))
    # So is removing every hash, with or without the origin each scan carries.
    execute(engine, update(Scan).where(Scan.id > first).values(chain_hash=None))
    assert broken(engine) == (
        second,
        "it was sealed (it carries the chain's origin) but its hash is gone",
    )
    execute(engine, update(Scan).values(chain_origin=None))
    at, problem = broken(engine)
    assert at == second and f"only scans up to {first} predate the chain" in str(problem)
    execute(engine, delete(ChainOrigin))
    assert "the record of where the chain began is gone" in str(broken(engine)[1])


def test_a_pack_cites_where_the_chain_began(engine: Engine, tmp_path: Path) -> None:
    first = _upgraded_from_before_the_chain(engine)
    second = scan(engine, 1)
    manifest = write_pack(engine, NOW - timedelta(days=1), NOW + timedelta(days=2), tmp_path / "p")
    origin = manifest["chain"]["origin"]
    assert origin["first_scan_id"] == second and origin["unchained_through"] == first
    assert origin["first_hash"] == verify(engine).heads[second]
    page = (tmp_path / "p" / "index.html").read_text()
    assert f"The chain began at scan {second}" in page


def _side_rows(engine: Engine, at: datetime) -> None:
    with engine.begin() as conn:
        imported = conn.execute(
            insert(LeakImportRow).values(
                at=at, source="gitleaks.json", fingerprint_key_id="k1", counts={"read": 1}
            )
        ).inserted_primary_key
        assert imported is not None
        conn.execute(
            insert(LeakReportRow).values(
                source_fingerprint=f"fp-{at.isoformat()}",
                secret_fingerprint="s" * 64,
                secret_kind="standard",
                redacted="AIza...1234",
                tool="gitleaks",
                outcome="matched",
                import_id=imported[0],
            )
        )
        conn.execute(
            insert(KeyFixRow).values(
                key_name="projects/1/locations/global/keys/k",
                at=at,
                by="user:fixer@example.com",
                kind="applied",
                before={},
                after={"apiTargets": [{"service": "generativelanguage.googleapis.com"}]},
                etag_before="e1",
                etag_after="e2",
            )
        )


def _history_with_side_rows(engine: Engine) -> tuple[int, int]:
    """Two scans with a leak import, a leak report, a key fix and a failed
    scan between them: the failed scan's id and the covering scan's."""
    scan(engine, 0)
    _side_rows(engine, NOW + timedelta(hours=1))
    failed = scans.begin_scan(engine, "export", None, NOW + timedelta(hours=2))
    scans.fail_scan(engine, failed, "UNAVAILABLE", "inventory", 0)
    return failed, scan(engine, 1)


def test_rows_written_beside_scans_are_covered_by_the_next_scan(engine: Engine) -> None:
    _history_with_side_rows(engine)
    result = verify(engine)
    assert result.broken_at is None and result.uncovered == 0
    _side_rows(engine, NOW + timedelta(days=1, hours=1))
    result = verify(engine)
    assert result.broken_at is None and result.uncovered == 3
    scan(engine, 2)
    assert verify(engine).uncovered == 0


EDITS = {
    "a failed scan's error": lambda failed, covering: (
        update(Scan).where(Scan.id == failed).values(error="nothing happened")
    ),
    "a failed scan uncovered": lambda failed, covering: (
        update(Scan).where(Scan.id == failed).values(chain_scan_id=None)
    ),
    "a leak import": lambda failed, covering: update(LeakImportRow).values(source="x"),
    "a leak report": lambda failed, covering: update(LeakReportRow).values(tool="trufflehog"),
    "a key fix": lambda failed, covering: update(KeyFixRow).values(by="user:x@example.com"),
    "a key fix deleted": lambda failed, covering: delete(KeyFixRow),
    "the figures": lambda failed, covering: (
        update(FigureRow).where(FigureRow.scan_id == covering).values(document={})
    ),
}


@pytest.mark.parametrize("edit", sorted(EDITS))
def test_an_edit_beside_the_scans_breaks_the_chain(engine: Engine, edit: str) -> None:
    failed, covering = _history_with_side_rows(engine)
    execute(engine, EDITS[edit](failed, covering))
    assert verify(engine).broken_at == covering
