"""This tree's code against an earlier commit's, alternating in one run, so
that the machine's drift between phases falls on both alike (on a shared
machine it moved single runs by a third, more than most changes weigh).

    python -m benchmarks.compare REV --what repeat --keys 100000 --projects 5000 --rounds 4
    python -m benchmarks.compare REV --what next-day --keys 30000 --projects 1500

REV is checked out into a temporary worktree, and each side runs its own
benchmarks.phases in a fresh process. `repeat`: one fake Cloud Asset server
and a database for each side, filled by that side's first scan; each round
measures the paging floor, then a repeat scan of each side, the order
alternating. `next-day`
(SQLite): the synthetic organization loaded offline with the demo's alerts
(day 0) by this tree; each round each side loads day 1 with alerts into a copy
of that database, and the outbox it queued is digested (kind, dedupe key,
subject, payload) to show whether both queued the same.

Prints one JSON object: seconds per round of each side, their means, new over
old, and for next-day the distinct outbox digests of each side."""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from statistics import mean
from typing import Any

from benchmarks.alerts import DEMO_ALERTS
from benchmarks.harness import ROOT, database, fake_server, fresh
from benchmarks.synth import organization, write_export


def _git(*args: str) -> subprocess.CompletedProcess[str]:
    git = shutil.which("git")
    if git is None:
        raise SystemExit("benchmarks.compare needs git on the PATH")
    return subprocess.run([git, *args], cwd=ROOT, check=False, capture_output=True, text=True)


@contextmanager
def worktree(rev: str, into: Path) -> Iterator[Path]:
    """REV's files in INTO, removed afterwards."""
    added = _git("worktree", "add", "--detach", "--quiet", str(into), rev)
    if added.returncode != 0:
        raise SystemExit(f"cannot check out {rev}: {added.stderr.strip()}")
    try:
        yield into
    finally:
        removed = _git("worktree", "remove", "--force", str(into))
        if removed.returncode != 0:  # said, not raised: the run's own error matters more
            print(f"the worktree {into} was not removed: {removed.stderr.strip()}", file=sys.stderr)


def phase(tree: Path, *args: str) -> dict[str, Any]:
    """benchmarks.phases of TREE's code in a fresh process."""
    return fresh("benchmarks.phases", *args, tree=tree)


def outbox_digest(path: Path) -> str:
    with sqlite3.connect(path) as conn:
        rows = conn.execute(
            "SELECT kind, dedupe_key, subject, payload FROM notifications ORDER BY id"
        ).fetchall()
    return hashlib.sha256(repr(rows).encode()).hexdigest()[:16]


def _order(round_index: int) -> tuple[str, str]:
    return ("old", "new") if round_index % 2 == 0 else ("new", "old")


def repeat_scans(trees: dict[str, Path], args: argparse.Namespace, work: Path) -> dict[str, Any]:
    seconds: dict[str, list[float]] = {"old": [], "new": [], "floor": []}
    with (
        database(args.db, work) as old_url,
        database(args.db, work) as new_url,
        fake_server(args.keys, args.projects, args.seed) as at,
    ):
        # Each side repeats its own scans: a scan may keep what the last scan
        # of the same code judged, never what other code did.
        urls = {"old": old_url, "new": new_url}
        for side, url in urls.items():
            phase(trees[side], "scan", "--address", at, "--db", url)
        for index in range(args.rounds):
            seconds["floor"].append(phase(trees["new"], "floor", "--address", at)["seconds"])
            for side in _order(index):
                result = phase(trees[side], "scan", "--address", at, "--db", urls[side])
                seconds[side].append(result["seconds"])
    return {"seconds": seconds}


def next_days(trees: dict[str, Path], args: argparse.Namespace, work: Path) -> dict[str, Any]:
    if args.db != "sqlite":
        raise SystemExit("--what next-day copies a SQLite database: use --db sqlite")
    export = work / "org.jsonl"
    write_export(export, organization(args.keys, args.projects, args.seed))
    load = ("load", "--export", str(export), "--config", str(DEMO_ALERTS))
    # Each side loads its own first day: the other side's code may have
    # written a schema it does not know.
    bases = {side: work / f"day0-{side}.sqlite" for side in trees}
    for side, base in bases.items():
        phase(trees[side], *load, "--db", f"sqlite:///{base}", "--days", "0")
    seconds: dict[str, list[float]] = {"old": [], "new": []}
    outboxes: dict[str, set[str]] = {"old": set(), "new": set()}
    for index in range(args.rounds):
        for side in _order(index):
            copy = work / f"{side}-{index}.sqlite"
            shutil.copy(bases[side], copy)
            result = phase(trees[side], *load, "--db", f"sqlite:///{copy}", "--days", "1")
            seconds[side].append(result["seconds"])
            outboxes[side].add(outbox_digest(copy))
            copy.unlink()
    return {"seconds": seconds, "outboxes": {side: sorted(d) for side, d in outboxes.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("rev", help="the commit to compare this tree with")
    parser.add_argument("--what", choices=["repeat", "next-day"], default="repeat")
    parser.add_argument("--keys", type=int, default=30_000)
    parser.add_argument("--projects", type=int, default=1_500)
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        with worktree(args.rev, work / "old") as old:
            trees = {"old": old, "new": ROOT}
            run = repeat_scans if args.what == "repeat" else next_days
            result = run(trees, args, work)
    seconds = result["seconds"]
    result["seconds"] = {side: [round(s, 2) for s in values] for side, values in seconds.items()}
    result["mean_seconds"] = {side: round(mean(values), 2) for side, values in seconds.items()}
    result["new_over_old"] = round(mean(seconds["new"]) / mean(seconds["old"]), 3)
    print(json.dumps({"rev": args.rev, "what": args.what, "keys": args.keys, **result}, indent=2))


if __name__ == "__main__":
    main()
