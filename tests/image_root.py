"""The built image's filesystem, run as the chart runs the container: the
image's user (10001), its environment and working directory, a read-only
root, a writable /tmp only, no capabilities and no new privileges. No OCI
runtime starts containers on these machines (crun refuses hybrid cgroups,
runc cannot set rlimits), so the root podman mounts is entered with
chroot, in a mount namespace of its own (unshare), as root: the tests run
as root in CI.

The image is the one KEYSENTRY_IMAGE names (scripts/build-image builds it;
.ci/run sets it); without it the tests skip, unless KEYSENTRY_REQUIRE_IMAGE
is set."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest


@dataclass(frozen=True)
class Image:
    name: str
    root: Path  # the mounted filesystem (read-only to the tests)
    inspected: dict[str, Any]  # `podman image inspect`

    @property
    def config(self) -> dict[str, Any]:
        return dict(self.inspected["Config"])

    @property
    def user(self) -> tuple[int, int]:
        uid, _, gid = str(self.config["User"]).partition(":")
        return int(uid), int(gid or uid)

    def command(self, args: list[str], work: Path) -> list[str]:
        """The command line that runs ARGS (after the image's entrypoint
        when they start with "--", else instead of it) in the image, with
        WORK as its /tmp."""
        config = self.config
        argv = [*config["Entrypoint"], *args[1:]] if args[:1] == ["--"] else args
        uid, gid = self.user
        env = ["/usr/bin/env", "-i", *config["Env"]]
        inner = f"cd {shlex.quote(config['WorkingDir'])} && exec {shlex.join(argv)}"
        setup = " && ".join(
            [
                'mount --bind "$IMAGE" "$ROOT"',
                'mount -o remount,bind,ro "$ROOT"',
                'mount -t proc proc "$ROOT/proc"',
                'mount --bind /dev "$ROOT/dev"',
                'mount --bind "$WORK" "$ROOT/tmp"',
                'exec chroot "$ROOT" /usr/bin/setpriv '
                f"--reuid={uid} --regid={gid} --clear-groups --inh-caps=-all "
                "--bounding-set=-all --no-new-privs " + shlex.join([*env, "/bin/sh", "-c", inner]),
            ]
        )
        return ["unshare", "--mount", "--propagation", "private", "--", "sh", "-euc", setup]

    def environment(self, work: Path, mountpoint: Path) -> dict[str, str]:
        return {**os.environ, "IMAGE": str(self.root), "ROOT": str(mountpoint), "WORK": str(work)}

    def run(self, args: list[str], work: Path) -> subprocess.CompletedProcess[str]:
        """ARGS run to the end in the image (see command)."""
        with tempfile.TemporaryDirectory() as mountpoint:
            return subprocess.run(
                self.command(args, work),
                env=self.environment(work, Path(mountpoint)),
                capture_output=True,
                text=True,
                timeout=300,
                check=False,
            )


def writable_work(base: Path) -> Path:
    """A directory the image's user may write: its /tmp."""
    work = base / "image-tmp"
    work.mkdir()
    work.chmod(0o777)
    return work


@contextmanager
def built_image() -> Iterator[Image]:
    name = os.environ.get("KEYSENTRY_IMAGE")
    problem = None
    if not name:
        problem = "no image to test (KEYSENTRY_IMAGE; scripts/build-image builds one)"
    elif os.geteuid() != 0 or shutil.which("podman") is None or shutil.which("unshare") is None:
        problem = "running the image's filesystem needs root, podman and unshare"
    if problem is not None:
        if os.environ.get("KEYSENTRY_REQUIRE_IMAGE"):
            pytest.fail(f"{problem}, and KEYSENTRY_REQUIRE_IMAGE is set")
        pytest.skip(problem)
    assert name is not None
    inspected = json.loads(
        subprocess.run(
            ["podman", "image", "inspect", name], check=True, capture_output=True, text=True
        ).stdout
    )[0]
    mounted = subprocess.run(
        ["podman", "image", "mount", name], check=True, capture_output=True, text=True
    ).stdout.strip()
    try:
        yield Image(name, Path(mounted), inspected)
    finally:
        subprocess.run(["podman", "image", "unmount", name], check=False, capture_output=True)
