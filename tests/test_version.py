"""One version, written once (pyproject.toml): the package reports it, the
worker's metrics and every scan row carry it, and the image and the chart
are built with it."""

from __future__ import annotations

import importlib.metadata
import re
import tomllib
from pathlib import Path

import yaml
from click.testing import CliRunner

import scanner
from scanner.cli import main

ROOT = Path(__file__).parent.parent


def test_the_version_is_the_release_s_everywhere() -> None:
    released = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert scanner.__version__ == importlib.metadata.version("keysentry") == released
    shown = CliRunner().invoke(main, ["--version"])
    assert shown.output.strip() == f"keysentry, version {released}"
    chart = yaml.safe_load((ROOT / "helm" / "keysentry" / "Chart.yaml").read_text())
    assert chart["appVersion"] == released
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^ARG VERSION=(\S+)$", dockerfile, re.M).group(1) == released  # type: ignore[union-attr]
    assert 'org.opencontainers.image.version="${VERSION}"' in dockerfile
