"""The evidence pack: every file is listed with its true SHA-256, the keys at
the start and end are the point-in-time reports, the chain head matches the
scans', and the HTML renders in a real headless Chromium with its charts and
without fetching anything."""

from __future__ import annotations

import hashlib
import json
import re
import socketserver
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, update

from scanner.store.tables import KeyVersion
from tests.auditor_org import History, build_history
from tests.browser import chromium, need_chromium

# The browser's own services, which it calls whatever the page (component
# updates, network time, sign-in); anything else through the proxy came from the page.
BROWSER_SERVICES = ("update.googleapis.com", "clients2.google.com", "accounts.google.com")


def page_requests(sink: _Sink) -> list[str]:
    return [r for r in sink.requests if not any(host in r for host in BROWSER_SERVICES)]


@pytest.fixture
def history(engine: Engine, db_url: str, tmp_path: Path) -> History:
    return build_history(engine, db_url, tmp_path)


def pack(history: History, out: Path, since: int = 2) -> dict[str, object]:
    result = history.cli(
        "evidence",
        "--since",
        history.at(since).date().isoformat(),
        "--until",
        history.at(6).date().isoformat(),
        "--output",
        str(out),
    )
    assert result.exit_code == 0, result.output
    return dict(json.loads((out / "MANIFEST.json").read_text()))


def test_the_pack_is_complete_and_its_manifest_true(history: History, tmp_path: Path) -> None:
    out = tmp_path / "pack"
    manifest = pack(history, out)
    listed = {f["path"]: f for f in manifest["files"]}  # type: ignore[attr-defined]
    on_disk = {str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()}
    assert on_disk - set(listed) == {"MANIFEST.json"}
    for name, entry in listed.items():
        assert hashlib.sha256((out / name).read_bytes()).hexdigest() == entry["sha256"], name
    expected = {"index.html", "changes.csv", "changes.json", "timeline.json", "rules.json"}
    expected |= {"keys-start.json", "keys-end.csv", "verify.json", "scans.csv"}
    assert expected <= set(listed)
    chain = manifest["chain"]
    assert chain["intact"] is True  # type: ignore[index]
    assert chain["head"] == history.outcomes[6].chain_head  # type: ignore[index]
    # The state at the start is the last scan before the window, as it was reported then.
    assert (out / "keys-start.json").read_text() == history.reports[1]
    assert (out / "keys-end.json").read_text() == history.reports[6]
    assert manifest["scans"] == [history.outcomes[s].scan_id for s in range(2, 7)]
    in_force = list((out / "in-force").iterdir())
    assert len(in_force) == 2  # the rule was disabled at scan 5


def test_an_edited_history_is_called_broken_in_the_pack(history: History, tmp_path: Path) -> None:
    with history.engine.begin() as conn:
        conn.execute(
            update(KeyVersion)
            .where(KeyVersion.valid_from_scan_id == history.outcomes[1].scan_id)
            .values(score=0)
        )
    manifest = pack(history, tmp_path / "pack")
    assert manifest["chain"]["intact"] is False  # type: ignore[index]
    assert "History chain broken at scan" in (tmp_path / "pack" / "index.html").read_text()


def test_an_existing_folder_is_refused_and_left_alone(history: History, tmp_path: Path) -> None:
    out = tmp_path / "pack"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    result = history.cli("evidence", "--since", "2026-01-01", "--output", str(out))
    assert result.exit_code == 2
    assert "exists and is not an empty folder" in result.output
    assert [p.name for p in out.iterdir()] == ["notes.txt"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".pack.")]


class _Sink(socketserver.ThreadingTCPServer):
    """Stands where the network would be: every request Chromium makes
    through its proxy lands here and is recorded."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        self.requests: list[str] = []
        super().__init__(("127.0.0.1", 0), _SinkHandler)


class _SinkHandler(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        line = self.rfile.readline(4096).decode("latin-1").strip()
        self.server.requests.append(line)  # type: ignore[attr-defined]
        self.wfile.write(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")


@pytest.fixture
def sink() -> Iterator[_Sink]:
    server = _Sink()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_the_html_renders_offline_inchromium(
    history: History, tmp_path: Path, sink: _Sink, db_url: str
) -> None:
    need_chromium()
    if not db_url.startswith("sqlite"):
        pytest.skip("the page is the same whatever the database; rendered once")
    out = tmp_path / "pack"
    pack(history, out)
    html = (out / "index.html").read_text()
    # Nothing in the page could fetch: no scripts, links, frames or remote URLs.
    assert not re.search(r"<(script|link|iframe|img|object)\b", html, re.IGNORECASE)
    assert not re.search(r"""(src|href)\s*=\s*["']?https?:""", html, re.IGNORECASE)
    proxy = f"http://127.0.0.1:{sink.server_address[1]}"
    dom = chromium(out / "index.html", proxy, "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    for chart in ("chart-status", "chart-flow", "chart-deadlines"):
        block = re.search(rf'id="{chart}">(.*?)</div>', dom.stdout, re.DOTALL)
        assert block is not None and "<svg" in block.group(1) and "<path" in block.group(1)
    assert "History chain intact" in dom.stdout
    shot = tmp_path / "pack.png"
    rendered = chromium(out / "index.html", proxy, f"--screenshot={shot}")
    assert rendered.returncode == 0, rendered.stderr[-2000:]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 50_000
    assert page_requests(sink) == []
    # The sink sees what a page fetches: a page with one remote image reaches it.
    control = tmp_path / "control.html"
    control.write_text('<!DOCTYPE html><img src="http://cdn.example.test/chart.png">')
    chromium(control, proxy, "--dump-dom")
    assert [r for r in page_requests(sink) if "cdn.example.test" in r]
