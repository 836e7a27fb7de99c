"""Headless Chromium (Debian's `chromium`) for the tests that look at what
people see: the evidence pack and the digest email."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium")


def need_chromium() -> str:
    if CHROMIUM is None:
        if os.environ.get("KEYSENTRY_REQUIRE_CHROMIUM"):
            pytest.fail("chromium is required (KEYSENTRY_REQUIRE_CHROMIUM) but not installed")
        pytest.skip("chromium is not installed")
    return CHROMIUM


def chromium(
    page: Path, proxy: str, *extra: str, window: str = "1200,2400"
) -> subprocess.CompletedProcess[str]:
    """Open PAGE with every request sent through PROXY (on loopback), so that
    nothing a page fetches leaves the machine."""
    return subprocess.run(
        [
            need_chromium(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-default-apps",
            f"--proxy-server={proxy}",
            "--proxy-bypass-list=<-loopback>",
            f"--window-size={window}",
            *extra,
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
