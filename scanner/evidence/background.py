"""The pack's chain verification, run in a second process while the pack's
files are written: it reads every row of history, the pack's longest step,
and on a machine with two cores it then costs no wall time of its own."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sqlalchemy import Engine

from scanner.store import db
from scanner.store.chain import Verification, verify


def _verify(url: str) -> Verification:
    engine = db.open_engine(url)
    try:
        return verify(engine)
    finally:
        engine.dispose()


@contextmanager
def verifying(engine: Engine) -> Iterator[Callable[[], Verification]]:
    """Start verifying ENGINE's chain; the callable waits for the result (an
    error in the child is raised there). Leaving the block stops the child."""
    url = engine.url
    if url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:"):
        # A database in this process's memory: another process cannot read it.
        result = verify(engine)
        yield lambda: result
        return
    # spawn, not fork: the child opens its own connection instead of
    # inheriting this process's.
    with multiprocessing.get_context("spawn").Pool(1) as pool:  # exit terminates it
        pending = pool.apply_async(_verify, (url.render_as_string(hide_password=False),))
        yield pending.get
