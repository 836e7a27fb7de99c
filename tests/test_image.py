"""The image scripts/build-image built from the committed Dockerfile, run as
the Helm chart runs it (tests/image_root.py: user 10001, read-only root, a
writable /tmp only, no capabilities): the demo prints what the host's
prints; the worker scans, serves its endpoints and stops on SIGTERM; the
labels carry the version and revision; nothing outside /tmp is writable by
its user; no key string, test fixture or .git is in it; and the chart
renders with its digest and the security context the test ran with."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import tempfile
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.image_root import Image, built_image, writable_work
from tests.test_cli import run_installed
from tests.test_deploy import by_kind, render
from tests.test_worker_process import DEMO, http_get, running, write_config

ROOT = Path(__file__).parent.parent
# A Google API key string: AIza and 35 more characters (gitleaks' gcp-api-key rule).
KEY_STRING = re.compile(rb"AIza[0-9A-Za-z_\-]{35}")


@pytest.fixture(scope="module")
def image() -> Iterator[Image]:
    with built_image() as found:
        yield found


def summary(output: str) -> list[str]:
    """The demo's counts line and the lines about its scan."""
    return [line for line in output.splitlines() if line.strip().startswith("blocked:")]


def test_the_demo_prints_what_it_prints_on_the_host(image: Image, tmp_path: Path) -> None:
    work = writable_work(tmp_path)
    ran = image.run(["keysentry", "demo"], work)
    assert ran.returncode == 0, ran.stderr
    host = run_installed("demo", cwd=tmp_path)
    assert host.returncode == 0, host.stderr
    assert summary(ran.stdout) == summary(host.stdout) != []
    assert "Traceback" not in ran.stderr


def test_the_worker_scans_serves_and_stops_on_sigterm(image: Image, tmp_path: Path) -> None:
    work = writable_work(tmp_path)
    shutil.copy(DEMO, work / "org.jsonl")
    write_config(work)
    args = ["--", "--config", "/tmp/keysentry.yaml", "--db", "sqlite:////tmp/history.db",
            "--from-export", "/tmp/org.jsonl", "--listen", "127.0.0.1:0"]  # fmt: skip
    with tempfile.TemporaryDirectory() as mountpoint:
        env = image.environment(work, Path(mountpoint))
        with running(image.command(args, work), env) as child:
            base = "http://" + child.wait_for(r"listening on http://(\S+) ").group(1)
            assert http_get(base + "/healthz")[0] == 200
            child.wait_for(r"scan \d+ succeeded: 30 keys")
            assert http_get(base + "/readyz")[0] == 200
            status, body = http_get(base + "/metrics")
            assert status == 200
            assert 'keysentry_keys{key_type="standard",status="blocked"} 5.0' in body
            process = _worker_process(child.proc.pid)
            assert _status(process) == {
                "Uid": "10001",
                "Gid": "10001",
                "CapEff": "0000000000000000",
                "CapBnd": "0000000000000000",
                "NoNewPrivs": "1",
            }
            child.proc.send_signal(signal.SIGTERM)
            code, stderr = child.finish()
    assert code == 0, stderr
    assert json.loads(child.lines[-1])["message"] == "stopped"
    assert (work / "history.db").stat().st_uid == 10001  # written where it may write


def _worker_process(pid: int) -> int:
    """The keysentry process PID became (unshare, chroot and setpriv exec it)."""
    command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    assert any(part.endswith(b"keysentry") for part in command), command
    return pid


def _status(pid: int) -> dict[str, str]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        fields[name] = value.split()[0] if value.split() else ""
    wanted = ("Uid", "Gid", "CapEff", "CapBnd", "NoNewPrivs")
    return {name: fields[name] for name in wanted}


def test_the_labels_carry_the_version_and_the_revision(image: Image) -> None:
    labels = image.config["Labels"]
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    revision = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout.strip()
    assert labels["org.opencontainers.image.version"] == version
    assert labels["org.opencontainers.image.revision"] == revision
    assert image.config["User"] == "10001:10001"
    assert image.config["Entrypoint"] == ["keysentry", "run"]


def test_nothing_outside_tmp_is_writable_by_its_user(image: Image) -> None:
    uid, gid = image.user
    writable = []
    for top, dirs, files in os.walk(image.root):
        folder = Path(top)
        relative = "/" + str(folder.relative_to(image.root)).removeprefix(".")
        if relative in ("/proc", "/sys", "/dev", "/tmp"):
            dirs.clear()
            continue
        for name in [*dirs, *files]:
            if relative == "/" and name == "tmp":
                continue  # the one place it may write (an emptyDir under the chart)
            found = (folder / name).lstat()
            if stat.S_ISLNK(found.st_mode):
                continue
            mode = found.st_mode
            if (
                found.st_uid == uid
                or (found.st_gid == gid and mode & stat.S_IWGRP)
                or mode & stat.S_IWOTH
            ):
                writable.append(f"{relative.rstrip('/')}/{name}")
    assert writable == []


def test_no_key_string_test_fixture_or_git_in_it(image: Image) -> None:
    """The demo's sample leak reports carry two made-up strings marked
    NotReal (scanner/samples): any other string shaped like a key fails,
    as does a file of tests/ or a .git folder."""
    fixtures = {
        hashlib.sha256(p.read_bytes()).hexdigest(): p.name
        for p in (ROOT / "tests").rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.stat().st_size > 64
    }
    found: list[str] = []
    strings: set[bytes] = set()
    for top, dirs, files in os.walk(image.root):
        folder = Path(top)
        if folder in (image.root / "proc", image.root / "sys", image.root / "dev"):
            dirs.clear()
            continue
        if ".git" in dirs:
            found.append(f"{folder}/.git")
        for name in files:
            path = folder / name
            if path.is_symlink() or not path.is_file():
                continue
            data = path.read_bytes()
            if hashlib.sha256(data).hexdigest() in fixtures:
                found.append(str(path))
            strings.update(KEY_STRING.findall(data))
    assert found == []
    assert {s for s in strings if b"NotReal" not in s} == set()
    site = next((image.root / "opt" / "keysentry" / "lib").glob("python3*/site-packages"))
    assert (site / "scanner").is_dir() and not (site / "tests").exists()


def test_the_chart_renders_with_its_digest_and_the_security_context_tested(
    image: Image,
) -> None:
    digest = image.inspected["Digest"]
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", digest)
    manifests = by_kind(render({"image": {"digest": digest}}))
    pod = manifests["Deployment"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["image"] == f"ghcr.io/keysentry/keysentry@{digest}"
    uid, gid = image.user
    security = pod["securityContext"] | container["securityContext"]
    assert (security["runAsUser"], security["runAsGroup"]) == (uid, gid)
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False  # setpriv --no-new-privs
    assert security["capabilities"] == {"drop": ["ALL"]}  # setpriv --bounding-set=-all
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert "emptyDir" in volumes[mounts["/tmp"]]  # the one writable path, as tested
    assert image.config["WorkingDir"] == "/tmp"
