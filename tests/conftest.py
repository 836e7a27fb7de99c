from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from scanner.config import Config
from scanner.store import db

NOW = datetime(2026, 11, 21, tzinfo=UTC)
PG_ENV = "KEYSENTRY_TEST_POSTGRES_URL"


@pytest.fixture
def config() -> Config:
    return Config()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str | None]:
    """A database of our own on the server named by $KEYSENTRY_TEST_POSTGRES_URL,
    dropped at the end of the session."""
    base = os.environ.get(PG_ENV)
    if not base:
        if os.environ.get("KEYSENTRY_REQUIRE_POSTGRES"):
            pytest.fail(f"{PG_ENV} is not set but KEYSENTRY_REQUIRE_POSTGRES is")
        yield None
        return
    import psycopg

    name = f"keysentry_test_{uuid.uuid4().hex[:12]}"
    admin = make_url(db.resolve_url(base, None))
    conninfo = admin.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield admin.set(database=name).render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: object, postgres_server: str | None) -> str:
    """A fresh, empty database on each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/history.db"
    if postgres_server is None:
        pytest.skip(
            f"PostgreSQL tests need {PG_ENV}, e.g. postgresql://postgres@127.0.0.1:5432/test"
        )
    engine = db.open_engine(postgres_server)
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP SCHEMA public CASCADE")
        conn.exec_driver_sql("CREATE SCHEMA public")
    engine.dispose()
    return postgres_server


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = db.open_engine(db_url)
    db.ensure_current(engine)
    yield engine
    engine.dispose()
