"""The long-running commands: `run` (the worker) and `demo` (with --serve)."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import click
from pydantic import ValidationError
from sqlalchemy import Engine

from scanner.cli.common import (
    common_options,
    handle_errors,
    scope_options,
)
from scanner.cli.sources import audit_factory, source_factory, usage_factory
from scanner.config import Config, WorkerConfig
from scanner.configfile import load_config
from scanner.core.errors import ConfigError, InputError
from scanner.leaks.pull import configured_pull
from scanner.service.logs import setup_logging
from scanner.service.serve import serve
from scanner.service.worker import Worker
from scanner.store import db
from scanner.store.lock import migration_lock

log = logging.getLogger("keysentry.worker")

LOG_LEVELS = ["DEBUG", "INFO", "WARNING", "ERROR"]


def parse_listen(value: str) -> str:
    try:
        return WorkerConfig(listen=value).listen
    except ValidationError:
        raise ConfigError(
            f"--listen: expected HOST:PORT, e.g. 127.0.0.1:9184, not {value!r}"
        ) from None


def open_worker_store(config: Config, db_url: str | None) -> Engine:
    """The store for a long-running worker, its schema created or migrated
    to this version; replicas starting together on PostgreSQL take turns."""
    engine = db.open_engine(db.resolve_url(db_url, config.database_url))
    with migration_lock(engine):
        applied = db.upgrade_if_behind(engine)
        db.ensure_current(engine, create=True)
    if applied is not None:
        log.info("history schema migrated from %s to %s", *applied)
    return engine


@click.command()
@common_options
@scope_options
@click.option("--listen", metavar="HOST:PORT", help="Metrics and probes [config worker.listen].")
@click.option("--log-level", default="INFO", show_default=True, type=click.Choice(LOG_LEVELS))
@handle_errors
def run(
    config_path: str | None,
    db_url: str | None,
    org: str | None,
    folder: str | None,
    project: str | None,
    exports: tuple[str, ...],
    usage_files: tuple[str, ...],
    audit_files: tuple[str, ...],
    listen: str | None,
    log_level: str,
) -> None:
    """Scan on the schedule, serve /metrics, /healthz and /readyz; stop on SIGTERM.
    Without a scope option, worker.scope or worker.exports in the config says what."""
    config = load_config(config_path)
    where = config_path or os.environ.get("KEYSENTRY_CONFIG") or "(no config file)"
    make_source = source_factory(config, org, folder, project, exports, where)
    for export in exports or config.worker.exports:
        if not Path(export).is_file():  # found out now, not at the first scan
            raise InputError(f"{export}: cannot read: no such file")
    address = parse_listen(listen) if listen else config.worker.listen
    setup_logging(log_level)
    engine = open_worker_store(config, db_url)
    offline = exports or config.worker.exports
    worker = Worker(
        config,
        engine,
        lambda: make_source(None),
        usage_factory=usage_factory(config, offline, usage_files),
        audit_factory=audit_factory(config, offline, audit_files),
        leak_pull=configured_pull(config, engine),
    )
    sys.exit(serve(worker, address))
