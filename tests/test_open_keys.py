"""What alert planning reads of every open key: three streamed queries merged
in key-name order. The merge compares names in Python, so the store must
give them in byte order whatever the database's collation: on PostgreSQL
with an ICU collation ("Beta" between "alpha" and "beta") as well."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import Engine, select
from sqlalchemy.engine import make_url

from scanner.alerts.store.facts import latest_findings, latest_keys
from scanner.alerts.store.open_keys import open_keys
from scanner.config import Config
from scanner.scan.engine import run_scan
from scanner.sources.inventory.export import ExportSource
from scanner.store import db
from scanner.store.queries import valid_at
from scanner.store.tables import FindingVersion
from tests import assets
from tests.conftest import NOW, PostgresServer

# Key ids a key's creator may choose: bytes order them Beta < Zeta < _x < alpha
# < beta, an ICU collation alpha < Beta < beta < _x < Zeta or the like.
KEY_IDS = ["alpha", "Beta", "beta", "_x", "Zeta", "zeta-2", "a.b", "a_b", "aB", "A1"]


def envelopes() -> list[dict[str, object]]:
    found: list[dict[str, object]] = [assets.project("100", "alpha")]
    for index, uid in enumerate(KEY_IDS):
        deleted = "2026-11-10T00:00:00Z" if uid == "aB" else None
        restricted = [assets.GEMINI] if index % 3 == 0 else None
        found.append(assets.key(uid=uid, targets=restricted, deleted=deleted))
    return found


@pytest.fixture(params=["sqlite", "postgresql-icu"])
def store(
    request: pytest.FixtureRequest, tmp_path: Path, postgres_server: PostgresServer
) -> Iterator[Engine]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/history.db"
        engine = db.open_engine(url)
        db.ensure_current(engine)
        yield engine
        engine.dispose()
        return
    if postgres_server.url is None:
        pytest.skip(postgres_server.reason)
    base = make_url(postgres_server.url)
    admin = base.set(drivername="postgresql").render_as_string(hide_password=False)
    name = f"keysentry_icu_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(
            f'CREATE DATABASE "{name}" TEMPLATE template0 LOCALE_PROVIDER icu '
            "ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'"
        )
    engine = db.open_engine(base.set(database=name).render_as_string(hide_password=False))
    try:
        db.ensure_current(engine)
        yield engine
    finally:
        engine.dispose()
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_every_open_key_comes_once_with_its_own_findings(store: Engine, tmp_path: Path) -> None:
    export = assets.write_ndjson(tmp_path / "org.jsonl", envelopes())
    config = Config()
    scan_id = run_scan(ExportSource([export], config.gemini.project_services), store, config, NOW)
    with store.connect() as conn:
        expected: dict[str, set[str]] = {}
        query = select(FindingVersion.key_name, FindingVersion.fingerprint).where(
            valid_at(FindingVersion, scan_id.scan_id)
        )
        for name, fingerprint in conn.execute(query):
            expected.setdefault(name, set()).add(fingerprint)
        read = list(open_keys(conn, scan_id.scan_id))
        some = [name for name in expected if name.endswith(("/Beta", "/_x", "/aB"))]
        read_some = list(open_keys(conn, scan_id.scan_id, some))
        # Read through the driver's cursor: the values SQLAlchemy's types read.
        names = [key.name for key, _, _ in read]
        keys = latest_keys(conn, scan_id.scan_id, names)
        found = latest_findings(
            conn, scan_id.scan_id, [fp for fps in expected.values() for fp in fps]
        )
    names = [key.name for key, _, _ in read]
    assert names == sorted(names)  # byte order: the order the merge relies on
    deleted = "projects/100/locations/global/keys/aB"
    assert deleted not in names  # a deleted key's findings are no news
    fingerprints = {
        k.name: {f.fingerprint for f in [*open_, *accepted]} for k, open_, accepted in read
    }
    assert fingerprints == {name: found for name, found in expected.items() if name != deleted}
    assert len(read) == len(KEY_IDS) - 1
    assert [key for key, _, _ in read] == [keys[name] for name in names]
    assert all(
        f == found[f.fingerprint] for _, open_, accepted in read for f in [*open_, *accepted]
    )
    assert any(key.api_targets for key in keys.values())  # restrictions were read, not defaulted
    # Asked for some keys by name: those, with the same findings, the deleted one still left out.
    assert [key.name for key, _, _ in read_some] == sorted(set(some) - {deleted})
    assert [(k, set(f), set(a)) for k, f, a in read if k.name in some] == [
        (k, set(f), set(a)) for k, f, a in read_some
    ]
