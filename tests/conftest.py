from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from scanner.config import Config
from scanner.store import db

NOW = datetime(2026, 11, 21, tzinfo=UTC)
PG_ENV = "KEYSENTRY_TEST_POSTGRES_URL"
# Where the development machines and CI run PostgreSQL; tried when PG_ENV is unset.
PG_DEFAULT = "postgresql://postgres@127.0.0.1:5432/test"


@pytest.fixture
def config() -> Config:
    return Config()


@dataclass(frozen=True)
class PostgresServer:
    url: str | None  # None: unavailable, for REASON
    reason: str = ""


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A database of our own on the server named by $KEYSENTRY_TEST_POSTGRES_URL,
    dropped at the end of the session."""
    import psycopg

    base = os.environ.get(PG_ENV) or PG_DEFAULT
    name = f"keysentry_test_{uuid.uuid4().hex[:12]}"
    admin = make_url(db.resolve_url(base, None))
    conninfo = admin.set(drivername="postgresql").render_as_string(hide_password=False)
    try:
        with psycopg.connect(conninfo, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as exc:
        reason = f"PostgreSQL at {db.redact(base)} unavailable ({exc}); set {PG_ENV}"
        if os.environ.get("KEYSENTRY_REQUIRE_POSTGRES"):
            pytest.fail(reason)
        yield PostgresServer(None, reason)
        return
    yield PostgresServer(admin.set(database=name).render_as_string(hide_password=False))
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> str:
    """The session's PostgreSQL database, emptied."""
    if postgres_server.url is None:
        pytest.skip(postgres_server.reason)
    engine = db.open_engine(postgres_server.url)
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP SCHEMA public CASCADE")
        conn.exec_driver_sql("CREATE SCHEMA public")
    engine.dispose()
    return postgres_server.url


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: object) -> str:
    """A fresh, empty database on each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/history.db"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = db.open_engine(db_url)
    db.ensure_current(engine)
    yield engine
    engine.dispose()
