"""An inventory that suddenly sees nothing, or far less, is refused: an empty
export (or credentials that see nothing) must not close every key's history
and queue a "resolved" alert for each."""

from __future__ import annotations

import gzip
import sqlite3
from pathlib import Path

import pytest

from tests.test_real_shapes import REAL, keysentry

COUNTED = ("key_versions", "findings", "transitions", "notifications")


def rows(db_file: Path) -> dict[str, int]:
    with sqlite3.connect(db_file) as conn:
        return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in COUNTED}


def scans(db_file: Path) -> list[tuple[str, str | None]]:
    with sqlite3.connect(db_file) as conn:
        return conn.execute("SELECT status, error_stage FROM scans ORDER BY id").fetchall()


@pytest.fixture
def scanned(tmp_path: Path) -> Path:
    """A store whose last successful scan saw the five keys of two projects,
    with alerts routed to a webhook (nothing is sent: only queued)."""
    config = tmp_path / "keysentry.yaml"
    config.write_text(
        "alerts:\n  route: {receiver: feed}\n  receivers:\n    - name: feed\n"
        '      webhooks: [{name: siem, url: "http://127.0.0.1:9/hook"}]\n'
    )
    db_file = tmp_path / "h.db"
    code, _, err = keysentry(*_scan(tmp_path, REAL / "asset-export-keys.jsonl"))
    assert code == 0, err
    return db_file


def _scan(tmp_path: Path, export: Path, *more: str) -> list[str]:
    return [
        "scan",
        "--config",
        str(tmp_path / "keysentry.yaml"),
        "--db",
        f"sqlite:///{tmp_path}/h.db",
        "--from-export",
        str(export),
        "--now",
        "2026-12-01T00:00:00Z",
        *more,
    ]


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("empty.jsonl", b""),
        ("empty.jsonl.gz", b""),  # a 0-byte .gz
        ("empty-gzip.jsonl.gz", gzip.compress(b"")),
        ("array.json", b"[]"),
        ("blank.jsonl", b"\n\n  \n"),
    ],
)
def test_an_export_with_no_keys_changes_nothing(
    scanned: Path, tmp_path: Path, name: str, content: bytes
) -> None:
    before = rows(scanned)
    empty = tmp_path / name
    empty.write_bytes(content)
    code, out, err = keysentry(*_scan(tmp_path, empty))
    assert code == 2 and out == ""
    assert err == (
        "keysentry: error: the inventory shrank: 0 keys seen, 5 in scan 1 (the most of the "
        "30 days before); 0 projects seen, 2 in scan 1 (the most of the 30 days before); "
        "nothing was recorded. If the "
        "organization really shrank, scan again with --accept-shrink\n"
    )
    assert rows(scanned) == before
    assert scans(scanned)[-1] == ("failed", "shrink")


def test_dev_null_is_an_empty_export_too(scanned: Path, tmp_path: Path) -> None:
    before = rows(scanned)
    code, _, err = keysentry(*_scan(tmp_path, Path("/dev/null")))
    assert code == 2 and "0 keys seen, 5 in scan 1 (the most" in err
    assert rows(scanned) == before


def _subset(tmp_path: Path, keep_keys: int) -> Path:
    """The real export with only its first KEEP_KEYS keys."""
    lines = (REAL / "asset-export-keys.jsonl").read_text().splitlines()
    others = [line for line in lines if "apikeys.googleapis.com/Key" not in line]
    keys = [line for line in lines if "apikeys.googleapis.com/Key" in line][:keep_keys]
    path = tmp_path / f"subset-{keep_keys}.jsonl"
    path.write_text("\n".join(others + keys) + "\n")
    return path


def test_a_shrink_past_max_shrink_fails_and_within_it_succeeds(
    scanned: Path, tmp_path: Path
) -> None:
    before = rows(scanned)
    code, _, err = keysentry(*_scan(tmp_path, _subset(tmp_path, 2)))
    assert code == 2
    assert (
        "2 keys seen, 5 in scan 1 (the most of the 30 days before) (inventory.max_shrink 0.5" in err
    )
    assert rows(scanned) == before
    code, _, err = keysentry(*_scan(tmp_path, _subset(tmp_path, 3)))  # 3 >= 5 * 0.5
    assert code == 0, err
    assert scans(scanned)[-2:] == [("failed", "shrink"), ("succeeded", None)]


def test_accept_shrink_records_a_real_shrink(scanned: Path, tmp_path: Path) -> None:
    code, _, err = keysentry(*_scan(tmp_path, _subset(tmp_path, 1), "--accept-shrink"))
    assert code == 0, err
    with sqlite3.connect(scanned) as conn:
        query = "SELECT count(*) FROM key_versions WHERE valid_to_scan_id IS NULL AND status != ?"
        open_keys = conn.execute(query, ("deleted",)).fetchone()[0]
    assert open_keys == 1


def _scan_at(tmp_path: Path, keys: int, day: str, *more: str) -> tuple[int, str]:
    args = _scan(tmp_path, _subset(tmp_path, keys), *more)
    args[args.index("--now") + 1] = f"{day}T00:00:00Z"
    code, _, err = keysentry(*args)
    return code, err


def test_a_shrink_cannot_be_walked_down_a_step_at_a_time(scanned: Path, tmp_path: Path) -> None:
    """Scan 1 saw 5 keys on 12-01. 5 -> 3 is within max_shrink of 5; 3 -> 2
    would be within it of 3, but not of 5, the most of the last 30 days."""
    assert _scan_at(tmp_path, 3, "2026-12-02")[0] == 0
    code, err = _scan_at(tmp_path, 2, "2026-12-03")
    assert code == 2 and "2 keys seen, 5 in scan 1 (the most of the 30 days before)" in err
    # An accepted shrink starts the comparison over from itself...
    assert _scan_at(tmp_path, 2, "2026-12-03", "--accept-shrink")[0] == 0
    assert _scan_at(tmp_path, 2, "2026-12-04")[0] == 0
    # ...and a peak counts for the window only.
    assert _scan_at(tmp_path, 5, "2026-12-05")[0] == 0
    assert _scan_at(tmp_path, 2, "2026-12-06")[0] == 2
    assert _scan_at(tmp_path, 2, "2027-01-04")[0] == 2  # 12-05 is 30 days before
    assert _scan_at(tmp_path, 2, "2027-01-05")[0] == 0
