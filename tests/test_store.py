"""The schema and its migrations, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, create_engine

from scanner.core.errors import StoreError
from scanner.store import db
from scanner.store.tables import Base


def test_migrations_build_exactly_the_models(engine: Engine) -> None:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []
    assert db.current_revision(engine) == db.head_revision()


def test_upgrade_is_idempotent(engine: Engine) -> None:
    assert db.upgrade(engine) == (db.head_revision(), db.head_revision())


def test_foreign_tables_are_refused(tmp_path: object) -> None:
    url = f"sqlite:///{tmp_path}/other.db"
    with create_engine(url).begin() as conn:
        conn.exec_driver_sql("CREATE TABLE payroll (id INTEGER)")
    with pytest.raises(StoreError, match="has tables but no keysentry schema"):
        db.ensure_current(db.open_engine(url))


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgresql://u@h/d", "postgresql+psycopg://u@h/d"),
        ("postgres://u@h/d", "postgresql+psycopg://u@h/d"),
        ("postgresql+psycopg://u@h/d", "postgresql+psycopg://u@h/d"),
        ("sqlite:///x.db", "sqlite:///x.db"),
    ],
)
def test_postgres_urls_use_psycopg(given: str, expected: str) -> None:
    assert db.resolve_url(given, None) == expected


def test_url_precedence(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KEYSENTRY_DATABASE_URL", raising=False)
    assert db.resolve_url(None, None) == "sqlite:///keysentry.db"
    assert db.resolve_url(None, "sqlite:///conf.db") == "sqlite:///conf.db"
    monkeypatch.setenv("KEYSENTRY_DATABASE_URL", "sqlite:///env.db")
    assert db.resolve_url(None, "sqlite:///conf.db") == "sqlite:///env.db"
    assert db.resolve_url("sqlite:///opt.db", "sqlite:///conf.db") == "sqlite:///opt.db"


def test_password_is_redacted() -> None:
    assert "s3cret" not in db.redact("postgresql+psycopg://u:s3cret@h/d")
