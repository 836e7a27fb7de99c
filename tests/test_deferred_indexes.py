"""A first scan into an empty history builds the secondary indexes after its
bulk load, in its own transaction: after it the schema is exactly the
models' again, a scan that fails leaves the indexes as they were, and later
scans (history not empty) keep them in place."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, func, inspect, select

from scanner.config import Config
from scanner.core.errors import InputError
from scanner.scan.engine import run_scan
from scanner.sources.inventory.export import ExportSource
from scanner.store.tables import Base, KeyVersion
from tests import assets
from tests.conftest import NOW

SECONDARY = {"ix_key_versions_name", "ix_findings_fingerprint", "ix_transitions_scan_id"}


def schema_differences(engine: Engine) -> list[object]:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return list(compare_metadata(context, Base.metadata))


def index_names(engine: Engine) -> set[str]:
    inspector = inspect(engine)
    tables = ("key_versions", "findings", "transitions", "usage_versions")
    return {str(i["name"]) for t in tables for i in inspector.get_indexes(t)}


def scan(engine: Engine, tmp_path: Path, envelopes: list[dict[str, object]], day: int = 0) -> int:
    export = assets.write_ndjson(tmp_path / f"org-{day}.jsonl", envelopes)
    config = Config()
    source = ExportSource([export], config.gemini.project_services)
    return run_scan(source, engine, config, NOW.replace(day=NOW.day + day)).scan_id


def test_a_first_scan_leaves_the_schema_as_the_models_say(engine: Engine, tmp_path: Path) -> None:
    org = assets.small_org()
    scan(engine, tmp_path, org)
    assert index_names(engine) >= SECONDARY
    assert schema_differences(engine) == []
    scan(engine, tmp_path, org, day=1)  # not empty now: nothing dropped or built
    assert schema_differences(engine) == []
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(KeyVersion)) > 0


def test_a_failed_first_scan_keeps_the_indexes(engine: Engine, tmp_path: Path) -> None:
    twice = assets.key("100", uid="same")
    with pytest.raises(InputError, match="appears twice"):
        scan(engine, tmp_path, [assets.project("100", "alpha"), twice, twice])
    assert index_names(engine) >= SECONDARY
    assert schema_differences(engine) == []
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(KeyVersion)) == 0
