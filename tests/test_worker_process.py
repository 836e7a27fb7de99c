"""The worker as a process: `keysentry run` and the same worker wired to a fake
Cloud Asset server, stopped by real SIGTERM and killed by real SIGKILL."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select

from scanner.report.build import build_report
from scanner.report.documents import to_document
from scanner.store.tables import Scan
from tests import assets
from tests.fakes.cloud_asset import serve
from tests.test_worker import age_scans, gated, last_scan, live_source, open_keys, worker

ROOT = Path(__file__).parent.parent
KEYSENTRY = Path(sys.executable).parent / "keysentry"
DEMO = ROOT / "scanner" / "samples" / "demo-org.jsonl"
WAIT = 60.0


class Child:
    """A child process whose stdout lines are collected as they come."""

    def __init__(self, args: list[str], env: dict[str, str] | None = None) -> None:
        env = {**(env or os.environ), "NO_GCE_CHECK": "true", "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(
            args,
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def wait_for(self, pattern: str) -> re.Match[str]:
        """The first log message matching PATTERN, waiting for it to be printed."""
        regex = re.compile(pattern)

        def found() -> re.Match[str] | None:
            for line in self.lines:
                match = regex.search(json.loads(line)["message"])
                if match:
                    return match
            return None

        with self._changed:
            ok = self._changed.wait_for(
                lambda: found() is not None or self.proc.poll() is not None, WAIT
            )
        match = found()
        assert ok and match, f"no log line matching {pattern!r}: {self.lines}"
        return match

    def finish(self) -> tuple[int, str]:
        code = self.proc.wait(WAIT)
        self._reader.join(WAIT)
        assert self.proc.stderr is not None
        return code, self.proc.stderr.read()


@contextmanager
def running(args: list[str], env: dict[str, str] | None = None) -> Iterator[Child]:
    child = Child(args, env)
    try:
        yield child
    finally:
        if child.proc.poll() is None:
            child.proc.kill()
        child.proc.wait(WAIT)


def http_get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def write_config(tmp_path: Path, extra: str = "") -> Path:
    config = tmp_path / "keysentry.yaml"
    config.write_text(
        "schedule: {interval: 1h, jitter: 0s}\n"
        "inventory: {page_size: 2, retry_initial_seconds: 0.01, retry_deadline_seconds: 1}\n"
        + extra
    )
    return config


def test_run_scans_serves_and_stops_on_sigterm(db_url: str, tmp_path: Path) -> None:
    config = write_config(tmp_path)
    args = [str(KEYSENTRY), "run", "--config", str(config), "--db", db_url]
    args += ["--from-export", str(DEMO), "--listen", "127.0.0.1:0"]
    with running(args) as child:
        base = "http://" + child.wait_for(r"listening on http://(\S+) ").group(1)
        assert http_get(base + "/healthz")[0] == 200
        child.wait_for(r"scan \d+ succeeded: 30 keys")
        assert http_get(base + "/readyz")[0] == 200
        status, body = http_get(base + "/metrics")
        assert status == 200
        assert 'keysentry_keys{key_type="standard",status="blocked"} 5.0' in body
        child.proc.send_signal(signal.SIGTERM)
        code, stderr = child.finish()
    assert code == 0, stderr
    entries = [json.loads(line) for line in child.lines]
    assert all({"severity", "message", "time"} <= set(e) for e in entries)
    assert entries[-1]["message"] == "stopped"
    assert any(e["message"].startswith("shutdown requested (SIGTERM)") for e in entries)


def test_a_second_worker_on_the_same_sqlite_file_exits_2(tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path}/h.db"
    config = write_config(tmp_path)
    args = [str(KEYSENTRY), "run", "--config", str(config), "--db", db_url]
    args += ["--from-export", str(DEMO), "--listen", "127.0.0.1:0"]
    with running(args) as first:
        first.wait_for(r"scheduled: ")
        with running(args) as second:
            code, stderr = second.finish()
        assert code == 2
        assert "is in use by another keysentry process" in stderr
        assert stderr.count("\n") == 1  # one clear line
        first.proc.send_signal(signal.SIGINT)
        assert first.finish()[0] == 0


def child_worker(address: str, db_url: str, config: Path) -> list[str]:
    return [sys.executable, "-m", "tests.fakes.worker_child", address, db_url, str(config)]


def scanned_once(engine: Engine) -> dict[str, object]:
    """History after one successful scan of the small org, aged past one interval."""
    with serve(assets.small_org()) as server:
        assert worker(engine, live_source(server)).scan_once() == "succeeded"
    age_scans(engine, timedelta(hours=2))
    return to_document(build_report(engine))


def test_a_worker_killed_mid_scan_leaves_history_as_it_was(
    engine: Engine, db_url: str, tmp_path: Path
) -> None:
    before = scanned_once(engine)
    changed = [e for e in assets.small_org() if "k-maps" not in str(e["name"])]
    with gated(changed) as (server, gate):
        with running(child_worker(server.address, db_url, write_config(tmp_path))) as child:
            assert gate.reached.wait(WAIT), child.lines
            assert last_scan(engine).status == "running"
            child.proc.send_signal(signal.SIGKILL)
            assert child.proc.wait(WAIT) == -signal.SIGKILL
        gate.release.set()
    assert open_keys(engine) == 5 and to_document(build_report(engine)) == before
    # The next worker to take the lock marks the dead scan failed, then scans.
    with serve(changed) as server:
        assert worker(engine, live_source(server)).scan_once() == "succeeded"
    scans = _all_scans(engine)
    assert [s.status for s in scans] == ["succeeded", "failed", "succeeded"]
    assert scans[1].error_stage == "abandoned"
    assert open_keys(engine) == 4


def test_sigterm_mid_scan_rolls_back_after_the_grace_period(
    engine: Engine, db_url: str, tmp_path: Path
) -> None:
    before = scanned_once(engine)
    changed = [e for e in assets.small_org() if "k-maps" not in str(e["name"])]
    config = write_config(tmp_path, "worker: {shutdown_grace: 0s}\n")
    with (
        gated(changed) as (server, gate),
        running(child_worker(server.address, db_url, config)) as child,
    ):
        assert gate.reached.wait(WAIT), child.lines
        child.proc.send_signal(signal.SIGTERM)
        child.wait_for(r"rolling it back")
        gate.release.set()
        code, stderr = child.finish()
    assert code == 0, stderr
    child.wait_for(r"scan rolled back: cancelled")
    rolled_back = last_scan(engine)
    assert rolled_back.status == "failed" and rolled_back.error_stage == "shutdown"
    assert to_document(build_report(engine)) == before


def _all_scans(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(select(Scan).order_by(Scan.id)).all())


def test_a_one_shot_scan_refuses_a_sqlite_file_a_worker_holds(tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path}/h.db"
    args = [str(KEYSENTRY), "run", "--config", str(write_config(tmp_path)), "--db", db_url]
    args += ["--from-export", str(DEMO), "--listen", "127.0.0.1:0"]
    with running(args) as worker_process:
        worker_process.wait_for(r"scan \d+ succeeded")
        one_shot = subprocess.run(
            [str(KEYSENTRY), "scan", "--from-export", str(DEMO), "--db", db_url],
            capture_output=True,
            text=True,
            check=False,
        )
        assert one_shot.returncode == 2
        assert "another scan is running against it" in one_shot.stderr
        worker_process.proc.send_signal(signal.SIGTERM)
        assert worker_process.finish()[0] == 0
    assert [s.status for s in _all_scans(db_engine(db_url))] == ["succeeded"]


def db_engine(url: str) -> Engine:
    from scanner.store import db

    return db.open_engine(url)


def test_one_sqlite_file_by_another_name_is_refused_while_a_worker_holds_it(
    tmp_path: Path,
) -> None:
    """A hard link, a URI filename and a symlink all name the worker's file:
    none lets a second writer in (each would keep a WAL of its own)."""
    path = tmp_path / "h.db"
    args = [str(KEYSENTRY), "run", "--config", str(write_config(tmp_path)), "--db"]
    args += [f"sqlite:///{path}", "--from-export", str(DEMO), "--listen", "127.0.0.1:0"]

    def scan(url: str) -> subprocess.CompletedProcess[str]:
        command = [str(KEYSENTRY), "scan", "--from-export", str(DEMO), "--db", url]
        return subprocess.run(command, capture_output=True, text=True, check=False, cwd=tmp_path)

    with running(args) as worker_process:
        worker_process.wait_for(r"scan \d+ succeeded")
        (tmp_path / "sym.db").symlink_to(path)
        refused = scan(f"sqlite:///{tmp_path / 'sym.db'}")
        assert refused.returncode == 2 and "another scan is running" in refused.stderr
        uri = scan("sqlite:///file:h.db?uri=true")
        assert uri.returncode == 2 and "URI filenames" in uri.stderr
        os.link(path, tmp_path / "hard.db")
        for name in ("hard.db", "h.db"):
            linked = scan(f"sqlite:///{tmp_path / name}")
            assert linked.returncode == 2
            assert "has 2 names (hard links)" in linked.stderr
            assert linked.stderr.count("\n") == 1
        worker_process.proc.send_signal(signal.SIGTERM)
        assert worker_process.finish()[0] == 0
    assert not (tmp_path / "hard.db-wal").exists()
    os.unlink(tmp_path / "hard.db")
    engine = db_engine(f"sqlite:///{path}")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
    assert [s.status for s in _all_scans(engine)] == ["succeeded"]


def test_a_key_string_in_a_malformed_export_is_never_stored_or_logged(tmp_path: Path) -> None:
    """An export a person edited by hand: a key string where a timestamp
    belongs fails the scan, and the error names the field, not the string."""
    secret = "AIzaSy" + "FAKEFAKEFAKEFAKEFAKEFAKEFAKEFAKE0"  # synthetic, 39 characters
    lines = DEMO.read_text().splitlines()
    first_key = next(i for i, line in enumerate(lines) if "apikeys.googleapis.com/Key" in line)
    envelope = json.loads(lines[first_key])
    envelope["resource"]["data"]["createTime"] = secret
    lines[first_key] = json.dumps(envelope)
    export = tmp_path / "edited.jsonl"
    export.write_text("\n".join(lines) + "\n")
    db_url = f"sqlite:///{tmp_path}/h.db"
    args = [str(KEYSENTRY), "run", "--config", str(write_config(tmp_path)), "--db", db_url]
    args += ["--from-export", str(export), "--listen", "127.0.0.1:0"]
    with running(args) as worker_process:
        worker_process.wait_for(r"scan failed: .*createTime")
        worker_process.proc.send_signal(signal.SIGTERM)
        code, stderr = worker_process.finish()
    assert code == 0
    assert secret not in "\n".join(worker_process.lines) + stderr
    assert any("AIza…AKE0" in line for line in worker_process.lines)
    listing = subprocess.run(
        [str(KEYSENTRY), "scans", "--db", db_url], capture_output=True, text=True, check=True
    )
    assert "createTime" in listing.stdout and secret not in listing.stdout
    for path in tmp_path.glob("h.db*"):
        assert secret.encode() not in path.read_bytes()
