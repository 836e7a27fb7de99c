"""Opens the history database and keeps its schema current with alembic."""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path
from typing import Any

import orjson
from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError, SQLAlchemyError

from scanner.core.errors import StoreError
from scanner.store.sqlite_file import sqlite_path

DEFAULT_DATABASE_URL = "sqlite:///keysentry.db"
MIGRATIONS = Path(__file__).parent / "migrations"


def resolve_url(option: str | None, configured: str | None) -> str:
    """--db, else $KEYSENTRY_DATABASE_URL, else the config file, else ./keysentry.db."""
    url = option or os.environ.get("KEYSENTRY_DATABASE_URL") or configured
    url = url or DEFAULT_DATABASE_URL
    # Plain postgresql:// would pick psycopg2; psycopg (3) is the driver we ship.
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def redact(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable database URL>"


def _sqlite_pragmas(dbapi_connection: object, _record: object) -> None:
    cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    # 16 MiB, allocated only as used. 64 MiB kept index pages of random keys
    # cached when a first scan filled its indexes row by row; it builds them after
    # the load now (store.deferred_indexes), and at 100k keys 16 MiB scans as fast
    # while the page cache and the sorter stop setting the peak RSS (283 -> 215 MB).
    cursor.execute("PRAGMA cache_size=-16384")
    cursor.close()


def open_engine(url: str, *, must_exist: bool = False) -> Engine:
    """An engine for URL. MUST_EXIST: a SQLite file is not created by reading it."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise StoreError(f"--db: not a database URL: {redact(url)}") from None
    if parsed.get_backend_name() == "sqlite":
        path = sqlite_path(parsed, must_exist)
        if path is not None:  # by its real name, whatever link led to it
            parsed = parsed.set(database=str(path))
    options: dict[str, Any] = {"json_deserializer": _json_loads}
    if parsed.get_backend_name() == "postgresql":
        # A half-open connection must fail, not hang a scan: a connect timeout,
        # TCP keepalives and a statement timeout, each overridable in the URL's
        # query (e.g. ?connect_timeout=30&options=-c%20statement_timeout%3D0).
        defaults = {
            "connect_timeout": "10",
            "keepalives": "1",
            "keepalives_idle": "30",
            "keepalives_interval": "10",
            "keepalives_count": "3",
            "tcp_user_timeout": "60000",
            "options": "-c statement_timeout=600000",
        }
        options["connect_args"] = {k: v for k, v in defaults.items() if k not in parsed.query}
    try:
        engine = create_engine(parsed, **options)
    except (SQLAlchemyError, ImportError) as exc:
        raise StoreError(f"--db {redact(url)}: {exc}") from None
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _json_loads(text: str | bytes) -> Any:
    # A report or `verify` decodes hundreds of thousands of JSON columns, most
    # of them empty lists and maps (owners, key admins, annotations).
    if text in ("[]", b"[]"):
        return []
    if text in ("{}", b"{}"):
        return {}
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:  # what only the standard parser reads, such as NaN
        return json.loads(text)


def _alembic_config(engine: Engine) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


@functools.cache
def head_revision() -> str:
    """The schema this code writes: read once a process, as its code is."""
    script = ScriptDirectory(str(MIGRATIONS))
    head = script.get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine) -> tuple[str | None, str]:
    """Apply pending migrations; returns (revision before, revision after)."""
    try:
        before = current_revision(engine)
        command.upgrade(_alembic_config(engine), "head")
        return before, head_revision()
    except OperationalError as exc:
        raise StoreError(f"database {redact(str(engine.url))}: {exc.orig}") from None


def upgrade_if_behind(engine: Engine) -> tuple[str | None, str] | None:
    """Apply pending migrations to a keysentry schema this version knows;
    leave anything else to ensure_current to refuse. The applied range, or None."""
    try:
        revision = current_revision(engine)
    except OperationalError as exc:
        raise StoreError(f"database {redact(str(engine.url))}: {exc.orig}") from None
    known = {r.revision for r in ScriptDirectory(str(MIGRATIONS)).walk_revisions()}
    if revision is None or revision not in known or revision == head_revision():
        return None
    return upgrade(engine)


def ensure_current(engine: Engine, *, create: bool = True) -> None:
    """Create the schema in an empty database (if CREATE); refuse an outdated one."""
    try:
        revision = current_revision(engine)
        if revision is None and not create:
            raise StoreError(
                f"database {redact(str(engine.url))} holds no keysentry history: "
                "run `keysentry scan` first"
            )
        if revision is None:
            if inspect(engine).get_table_names():
                raise StoreError(
                    f"database {redact(str(engine.url))} has tables but no keysentry schema "
                    "version; point --db at an empty database or a keysentry one"
                )
            upgrade(engine)
            return
    except OperationalError as exc:
        raise StoreError(f"database {redact(str(engine.url))}: {exc.orig}") from None
    if revision != head_revision():
        raise StoreError(
            f"database {redact(str(engine.url))} is at schema {revision}, this version needs "
            f"{head_revision()}: run `keysentry db upgrade`"
        )
