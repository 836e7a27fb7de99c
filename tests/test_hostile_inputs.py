"""Inputs an attacker or an unlucky operator gives: each is one line naming the
file and line (or the config path), exit 2, never a traceback and never a
change to history; a bug exits 3 with its trace in a file, not on the screen."""

from __future__ import annotations

import gzip
import json
import os
import sqlite3
import stat
import subprocess
import threading
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

from scanner.cli.common import UNEXPECTED_EXIT, handle_errors
from scanner.core.errors import InputError
from scanner.sources.inventory import spool
from scanner.sources.inventory.export import ExportSource
from scanner.sources.inventory.source import records
from tests.test_cli import BIN
from tests.test_real_shapes import REAL, env, keysentry, known_lookups

LINES = (REAL / "asset-export-keys.jsonl").read_text().splitlines()
LAST = len(LINES)


def with_key(**data: Any) -> list[str]:
    """The real export with its last key's resource data changed."""
    key = json.loads(LINES[-1])
    key["resource"]["data"].update(data)
    return [*LINES[:-1], json.dumps(key)]


def with_project(**data: Any) -> list[str]:
    project = json.loads(LINES[0])
    project["resource"]["data"].update(data)
    return [json.dumps(project), *LINES[1:]]


CASES = {
    "deep-nesting": ([LINES[0], "[" * 100_000 + "]" * 100_000], 2, "nested too deeply"),
    "5000-digits": ([*LINES, '{"name": "x", "n": ' + "9" * 5000 + "}"], LAST + 1, "digits"),
    "lone-surrogate": (with_key(displayName="\ud800x"), LAST, "lone surrogate"),
    "nul-byte": (with_key(displayName="a\x00b"), LAST, "NUL character"),
    "year-9999": (with_key(createTime="9999-12-31T23:59:59Z"), LAST, "outside 1970 to 2200"),
    "year-1": (with_key(createTime="0001-01-01T00:00:00Z"), LAST, "outside 1970 to 2200"),
    "project-id-object": (with_project(projectId={"a": 1}), 1, "projectId: expected a string"),
    "service-account-list": (
        with_key(serviceAccountEmail=["a@b"]),
        LAST,
        "serviceAccountEmail: expected a string",
    ),
}


def history(db_file: Path) -> tuple[int, int]:
    if not db_file.exists():
        return (0, 0)
    with sqlite3.connect(db_file) as conn:
        succeeded = conn.execute("SELECT count(*) FROM scans WHERE status='succeeded'").fetchone()
        versions = conn.execute("SELECT count(*) FROM key_versions").fetchone()
    return (succeeded[0], versions[0])


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_hostile_export_line_is_one_line_and_exit_2(tmp_path: Path, case: str) -> None:
    lines, line, message = CASES[case]
    export = tmp_path / "org.jsonl"
    export.write_text("\n".join(lines) + "\n", encoding="utf-8", errors="surrogatepass")
    db_file = tmp_path / "h.db"
    code, out, err = keysentry("scan", "--db", f"sqlite:///{db_file}", "--from-export", str(export))
    assert code == 2 and out == ""
    assert err.startswith(f"keysentry: error: {export}:{line}: ") and err.count("\n") == 1
    assert message in err
    assert history(db_file) == (0, 0)


def test_files_that_never_end_are_refused(tmp_path: Path) -> None:
    too_long = "is longer than 16 MiB: not a file keysentry reads\n"
    db = f"sqlite:///{tmp_path}/h.db"
    code, _, err = keysentry("scan", "--db", db, "--from-export", "/dev/zero")
    assert code == 2 and err == f"keysentry: error: /dev/zero:1: the line {too_long}"
    code, _, err = keysentry("leaks", "import", "--db", db, "/dev/zero")
    assert code == 2 and err.endswith(f"keysentry: error: /dev/zero:1: an item {too_long}")


def test_deeply_nested_yaml_is_a_config_error(tmp_path: Path) -> None:
    config = tmp_path / "deep.yaml"
    config.write_text("a: " + "[" * 100_000 + "]" * 100_000 + "\n")
    code, _, err = keysentry("config", "check", str(config))
    assert (code, err) == (2, f"keysentry: error: {config}: invalid YAML: nested too deeply\n")


@pytest.mark.skipif(
    not Path("/dev/full").exists() or not stat.S_ISCHR(Path("/dev/full").stat().st_mode),
    reason="/dev/full is not the full device here",
)
def test_a_full_disk_is_exit_2_and_a_device_is_never_replaced(tmp_path: Path) -> None:
    export = str(REAL / "asset-export-keys.jsonl")
    db = f"sqlite:///{tmp_path}/h.db"
    code, _, err = keysentry("scan", "--db", db, "--from-export", export, "--output", "/dev/full")
    assert code == 2 and err.endswith(
        "keysentry: error: --output /dev/full: cannot write: No space left on device\n"
    )
    assert stat.S_ISCHR(Path("/dev/full").stat().st_mode)  # written to, not renamed over


def test_error_messages_are_scrubbed_and_neutralized() -> None:
    key = "AIza" + "S" * 35

    @click.command()
    @handle_errors
    def hostile() -> None:
        from scanner.core.errors import InputError

        raise InputError(f"f.json:3: duplicate key \x1b]8;;http://x\x07{key}\x1b[2J")

    result = CliRunner().invoke(hostile, [])
    assert result.exit_code == 2
    assert key not in result.stderr and "\x1b" not in result.stderr and "\x07" not in result.stderr
    assert result.stderr.startswith("keysentry: error: f.json:3: duplicate key")


def test_a_bug_exits_3_with_its_trace_in_a_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KEYSENTRY_CRASH_DIR", str(tmp_path))

    @click.command()
    @handle_errors
    def broken() -> None:
        raise RuntimeError("something keysentry did not expect")

    result = CliRunner().invoke(broken, [])
    assert result.exit_code == UNEXPECTED_EXIT == 3
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    (trace,) = tmp_path.glob("keysentry-crash-*.log")
    assert str(trace) in result.stderr
    assert "RuntimeError: something keysentry did not expect" in trace.read_text()


@pytest.mark.parametrize(
    ("yaml_text", "message"),
    [
        ("schedule: {interval: .inf}", "schedule.interval: not a duration: inf"),
        ("schedule: {cron: '0 0 31 2 *'}", "schedule.cron: the crontab line '0 0 31 2 *' never"),
        ("worker: {listen: '999.999.1.1:80'}", "worker.listen: '999.999.1.1' is not an IP"),
        ("rules: {rotation_days: 999999999}", "rules.rotation_days: Input should be less than"),
        (
            "alerts: {reminders: {offsets_days: [999999999]}}",
            "alerts.reminders.offsets_days: offsets are days before the deadline: 0 to 3650",
        ),
        ("schedule: {jitter: 400d}", "schedule.jitter: Input should be less than or equal"),
        ("inventory: {retry_deadline_seconds: .nan}", "inventory.retry_deadline_seconds"),
    ],
)
def test_config_check_rejects_what_run_would_crash_on(
    tmp_path: Path, yaml_text: str, message: str
) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(yaml_text + "\n")
    code, _, err = keysentry("config", "check", str(config))
    assert code == 2 and err.count("\n") == 1
    assert err.startswith(f"keysentry: error: {config}: {message}")


def test_a_key_listed_twice_is_named_with_its_line(tmp_path: Path) -> None:
    export = tmp_path / "org.jsonl"
    export.write_text("\n".join([*LINES, LINES[-1]]) + "\n")
    code, _, err = keysentry(
        "scan", "--db", f"sqlite:///{tmp_path}/h.db", "--from-export", str(export)
    )
    assert code == 2
    assert err.startswith(f"keysentry: error: {export}:{LAST + 1}: key projects/")
    assert "appears twice in the inventory" in err


def test_a_report_file_named_by_a_key_string_is_stored_scrubbed(tmp_path: Path) -> None:
    key = "AIza" + "Q" * 35
    report = tmp_path / f"leak-{key}.json"
    report.write_text("[]")
    db_file = tmp_path / "h.db"
    code, out, err = keysentry("leaks", "import", "--db", f"sqlite:///{db_file}", str(report))
    assert code == 0, err
    assert key not in out + err and key.encode() not in db_file.read_bytes()


def test_a_source_keyed_by_a_key_string_never_prints_it(tmp_path: Path) -> None:
    from tests import leakdata

    secret = leakdata.standard_key("keyed source")
    finding = leakdata.trufflehog_finding(leakdata.standard_key("the leaked one"))
    finding["SourceMetadata"]["Data"] = {secret: {"file": 3}, "Git": {"line": "x"}}
    report = leakdata.write_lines(tmp_path / "th.jsonl", [finding])
    db_file = tmp_path / "h.db"
    known = leakdata.write_json(tmp_path / "known.json", {"fingerprints": {}})
    db = f"sqlite:///{db_file}"
    code, out, err = keysentry(
        "leaks", "import", "--db", db, str(report), "--lookups-from", str(known)
    )
    assert code == 0, err
    assert "warning: evidence left out" in out
    assert secret not in out + err and secret.encode() not in db_file.read_bytes()


def test_a_database_that_accepts_and_never_answers_fails_in_bounded_time() -> None:
    import socket
    import threading

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    accepted: list[socket.socket] = []
    threading.Thread(target=lambda: accepted.append(listener.accept()[0]), daemon=True).start()
    port = listener.getsockname()[1]
    url = f"postgresql://keysentry@127.0.0.1:{port}/history?connect_timeout=2"
    try:
        code, _, err = keysentry("scans", "--db", url)  # run_installed gives up after 120 s
    finally:
        for conn in accepted:
            conn.close()
        listener.close()
    assert code == 2 and err.startswith("keysentry: error: database ")
    assert "timeout expired" in err and err.count("\n") == 1


USAGE = json.loads((REAL / "usage-timeseries.json").read_text())


def _usage_with(change: Any) -> dict[str, Any]:
    """The real saved usage with its first series changed by CHANGE."""
    saved = json.loads(json.dumps(USAGE))
    change(saved["timeSeries"][0])
    return saved


USAGE_CASES = {
    "points-a-number": (lambda s: s.update(points=5), "points: expected a list, not int"),
    "resource-labels-a-list": (
        lambda s: s["resource"].update(labels=[]),
        "resource.labels: expected an object, not list",
    ),
    "metric-labels-a-list": (
        lambda s: s["metric"].update(labels=["response_code_class"]),
        "metric.labels: expected an object, not list",
    ),
    "4000-digit-count": (
        lambda s: s["points"][0]["value"].update(int64Value="9" * 4000),
        "points[0]: value.int64Value: expected a count",
    ),
    "count-past-int64": (
        lambda s: s["points"][0]["value"].update(int64Value=2**63),
        "points[0]: value.int64Value: 9223372036854775808 is out of range",
    ),
    "point-a-string": (
        lambda s: s.update(points=["x"]),
        "points[0]: the point: expected an object, not str",
    ),
}


@pytest.mark.parametrize("case", sorted(USAGE_CASES))
def test_hostile_saved_usage_is_one_line_and_exit_2(tmp_path: Path, case: str) -> None:
    change, problem = USAGE_CASES[case]
    usage = tmp_path / "usage.json"
    usage.write_text(json.dumps(_usage_with(change)))
    db_file = tmp_path / "h.db"
    code, _, err = keysentry(
        "scan",
        "--db",
        f"sqlite:///{db_file}",
        "--from-export",
        str(REAL / "asset-export-keys.jsonl"),
        "--usage-from",
        str(usage),
    )
    assert code == 2, err
    assert err.startswith(f"keysentry: error: {usage}:1: series 1") and problem in err, err
    assert err.count("\n") == 1
    assert history(db_file) == (0, 0)


def test_unreadable_leak_evidence_is_left_out_not_a_failed_import(tmp_path: Path) -> None:
    findings = json.loads((REAL / "gitleaks-8.json").read_text())
    findings[0]["Date"] = "0001-01-01T00:00:00+14:00"  # before the first instant in UTC
    findings[0]["StartLine"] = 10**30  # no column holds it
    report = tmp_path / "gitleaks.json"
    report.write_text(json.dumps(findings))
    db = f"sqlite:///{tmp_path}/h.db"
    code, out, err = keysentry(
        "leaks", "import", "--db", db, str(report), "--lookups-from", str(known_lookups(tmp_path))
    )
    assert code == 0, err
    assert "gitleaks Date unreadable" in out and "gitleaks StartLine unreadable" in out
    code, out, err = keysentry("leaks", "list", "--db", db, "--format", "json")
    assert code == 0, err
    first = next(r for r in json.loads(out) if r["file"] == findings[0]["File"])
    assert first["line"] is None and first["first_reported"] is None


def test_every_input_is_capped_even_a_device_that_never_ends(tmp_path: Path) -> None:
    code, _, err = keysentry("config", "check", "/dev/zero")
    too_long = "is longer than 16 MiB: not a file keysentry reads\n"
    assert (code, err) == (2, f"keysentry: error: /dev/zero: the config {too_long}")
    config = tmp_path / "keysentry.yaml"
    config.write_text('exceptions:\n  files: ["/dev/zero"]\n')
    code, _, err = keysentry("config", "check", str(config))
    assert code == 2 and "/dev/zero: the exceptions file is longer than 16 MiB" in err
    db = f"sqlite:///{tmp_path}/h.db"
    report = str(REAL / "gitleaks-8.json")
    code, _, err = keysentry("leaks", "import", "--db", db, report, "--lookups-from", "/dev/zero")
    assert code == 2 and "/dev/zero: not a JSON fingerprints file: the document is longer" in err


def test_a_gzip_bomb_is_refused_before_it_is_read(tmp_path: Path) -> None:
    """200 KiB of gzip that inflates to 200 MiB of blank lines: an export of
    the real kind compresses about ten to one, never a thousand."""
    bomb = tmp_path / "org.jsonl.gz"
    with gzip.open(bomb, "wb", compresslevel=9) as handle:
        for _ in range(200):
            handle.write(b"\n" * (1 << 20))
    db_file = tmp_path / "h.db"
    code, _, err = keysentry("scan", "--db", f"sqlite:///{db_file}", "--from-export", str(bomb))
    assert code == 2
    assert err.startswith(f"keysentry: error: {bomb}: inflates to more than ")
    assert history(db_file) == (0, 0)
    real = tmp_path / "real.jsonl.gz"
    real.write_bytes(gzip.compress((REAL / "asset-export-keys.jsonl").read_bytes()))
    code, _, err = keysentry("scan", "--db", f"sqlite:///{db_file}", "--from-export", str(real))
    assert code == 0, err


DEMO = Path(__file__).parent.parent / "scanner" / "samples" / "demo-org.jsonl"


def _scan_stdin(tmp_path: Path, text: str) -> subprocess.CompletedProcess[str]:
    db = f"sqlite:///{tmp_path}/h.db"
    return subprocess.run(
        [str(BIN), "scan", "--db", db, "--from-export", "/dev/stdin", "--format", "json"],
        input=text,
        capture_output=True,
        text=True,
        check=False,
        env=env(),
    )


def test_an_export_from_a_pipe_is_read_once_and_whole(tmp_path: Path) -> None:
    piped = _scan_stdin(tmp_path, DEMO.read_text())
    assert piped.returncode == 0, piped.stderr
    assert "30 keys from 63 assets" in piped.stderr
    assert len(json.loads(piped.stdout)["keys"]) == 30
    # An error names the export as given, not the copy it was read from.
    lines = DEMO.read_text().splitlines()
    lines[5] = "{not json"
    (tmp_path / "again").mkdir()
    broken = _scan_stdin(tmp_path / "again", "\n".join(lines))
    assert broken.returncode == 2
    assert broken.stderr.startswith("keysentry: error: /dev/stdin:6: malformed JSON")


def test_a_directory_or_a_fifo_nobody_writes_to_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, _, err = keysentry(
        "scan", "--db", f"sqlite:///{tmp_path}/h.db", "--from-export", str(tmp_path)
    )
    assert (code, err) == (
        2,
        f"keysentry: error: {tmp_path}: is a directory: give the export files in it\n",
    )
    fifo = tmp_path / "export.fifo"
    os.mkfifo(fifo)
    monkeypatch.setattr(spool, "WRITER_WAIT_SECONDS", 0.5)
    with pytest.raises(InputError, match=r"nothing came within 0\.5s: a pipe nobody writes to"):
        ExportSource([fifo], [])
    # A writer that comes within the wait is read, once, whole.
    writer = threading.Thread(target=lambda: fifo.write_text(DEMO.read_text()))
    monkeypatch.setattr(spool, "WRITER_WAIT_SECONDS", 30)
    writer.start()
    source = ExportSource([fifo], [])
    writer.join()
    context = source.load_context()
    assert len(list(records(source, context))) == 30
