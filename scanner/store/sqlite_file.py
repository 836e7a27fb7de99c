"""The one name a SQLite history file is opened by. SQLite keeps its
write-ahead log and shared memory beside the name it was given (`NAME-wal`,
`NAME-shm`), so two names for one file (a hard link, a URI filename that
resolves elsewhere) give two writers two logs, and the file is corrupted.
A database is opened by its real path; URI filenames and files with more
than one link are refused."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import URL

from scanner.core.errors import StoreError


def single_name_error(path: Path, links: int) -> str:
    return (
        f"database {path} has {links} names (hard links): SQLite keeps its journal "
        "beside each name, and two processes writing through two names corrupt it; "
        "remove the other names, or copy the file"
    )


def sqlite_path(url: URL, must_exist: bool) -> Path | None:
    """The real path of the SQLite file URL names, or None (in memory).
    MUST_EXIST: refuse a file that is not there rather than create it."""
    database = url.database
    if database in (None, "", ":memory:"):
        return None
    if database.startswith("file:") or "uri" in url.query:
        raise StoreError(
            "--db: SQLite URI filenames (file:..., ?uri=true) are not supported: "
            "give the database's path, as sqlite:///PATH"
        )
    path = Path(database).expanduser().resolve()
    if not path.parent.is_dir():
        raise StoreError(f"--db: directory {path.parent} does not exist")
    if not path.exists():
        if must_exist:
            raise StoreError(f"no history database at {path}: run `keysentry scan` first")
        return path
    if not path.is_file():
        raise StoreError(f"--db: {path} is not a file")
    links = path.stat().st_nlink
    if links > 1:
        raise StoreError(single_name_error(path, links))
    return path
