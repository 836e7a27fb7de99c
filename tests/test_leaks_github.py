"""`leaks pull github` against a GitHub API on loopback: pages, the
secret_type filter, rate limits waited out as the headers say, refusals, and
the worker pulling before each scan."""

from __future__ import annotations

import os
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine

from scanner.config import Config
from scanner.core.errors import SourceError
from scanner.leaks.github_api import GitHubAlerts
from scanner.leaks.lookup import ApiKeysLookup
from scanner.leaks.pull import GitHubPull
from scanner.service.worker import Worker
from scanner.sources.inventory.export import ExportSource
from tests import assets, leakdata
from tests.conftest import NOW
from tests.fakes.api_keys import FakeApiKeysServer
from tests.fakes.github import FakeGitHub
from tests.test_worker import age_scans
from tests.test_worker_process import KEYSENTRY, ROOT

TOKEN = "ghs_test-token-value"
KEYS = [leakdata.standard_key(f"gh-{n}") for n in range(5)]


def alerts() -> dict[str, list[dict[str, object]]]:
    google = [leakdata.github_alert(k, n) for n, k in enumerate(KEYS, start=1)]
    other = leakdata.github_alert("xoxb-not-google", 99, "slack_api_token")
    return {"acme": [*google, other]}


class Sleeps:
    """Records the waits instead of sleeping them: the waits are the behaviour
    under test, and the fake's clock is the wall clock."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def test_pages_are_followed_with_the_filter_and_rate_limits_waited_out() -> None:
    with FakeGitHub(alerts(), TOKEN, page_size=2) as github:
        github.limits = ["403", "429"]
        github.remaining_zero_after = 4  # the third page's answer says the quota is spent
        sleeps = Sleeps()
        client = GitHubAlerts(TOKEN, github.url, sleep=sleeps)
        found = [alert["number"] for _, alert in client.alerts("acme")]
    assert found == [1, 2, 3, 4, 5]  # the Slack token was filtered by GitHub
    assert client.requests == 5 == len(github.seen)  # 2 refused, 3 pages
    assert all(s.authorization == f"Bearer {TOKEN}" for s in github.seen)
    assert all(s.api_version == "2022-11-28" for s in github.seen)
    types = set(github.seen[0].query["secret_type"][0].split(","))
    assert types == {
        "google_api_key",
        "google_gemini_api_key",
        "google_gcp_api_key_bound_service_account",
    }
    assert [s.query.get("after") for s in github.seen] == [None, None, None, ["2"], ["4"]]
    # 403 with remaining 0: until the reset (about 30 s away); 429: Retry-After.
    assert 25 <= sleeps.waits[0] <= 32 and sleeps.waits[1] == 7
    assert len(sleeps.waits) == 3 and 25 <= sleeps.waits[2] <= 32  # spent quota before page 3


def test_refusals_are_one_clear_error() -> None:
    with FakeGitHub(alerts(), TOKEN) as github:
        with pytest.raises(SourceError, match="401 the token was refused: Bad credentials"):
            list(GitHubAlerts("wrong", github.url).alerts("acme"))
        with pytest.raises(SourceError, match="404: Not Found; the token needs read access"):
            list(GitHubAlerts(TOKEN, github.url).alerts("nobody"))
        github.limits = ["403"] * 3
        patient = GitHubAlerts(TOKEN, github.url, max_wait_seconds=40, sleep=Sleeps())
        with pytest.raises(SourceError, match="rate limited; waiting"):
            list(patient.alerts("acme"))


def test_the_pull_command_imports_the_alerts(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEYSENTRY_")}
    env.update({"KEYSENTRY_FINGERPRINT_KEY": leakdata.FINGERPRINT_KEY, "GH_TOKEN_FOR_TEST": TOKEN})
    known = leakdata.write_json(tmp_path / "known.json", {"fingerprints": {}})
    url = f"sqlite:///{tmp_path}/h.db"
    with FakeGitHub(alerts(), TOKEN) as github:
        args = [
            str(KEYSENTRY),
            "leaks",
            "pull",
            "github",
            "--db",
            url,
            "--org",
            "acme",
            "--api-url",
            github.url,
            "--token-env",
            "GH_TOKEN_FOR_TEST",
            "--lookups-from",
            str(known),
        ]
        first = subprocess.run(args, capture_output=True, text=True, cwd=ROOT, env=env, check=False)
        again = subprocess.run(args, capture_output=True, text=True, cwd=ROOT, env=env, check=False)
        missing = subprocess.run(
            args,
            capture_output=True,
            text=True,
            cwd=ROOT,
            check=False,
            env={k: v for k, v in env.items() if k != "GH_TOKEN_FOR_TEST"},
        )
    assert first.returncode == 0, first.stderr
    assert "5 new report(s): 5 not found" in first.stdout
    assert "0 new report(s); 5 already known" in again.stdout
    assert missing.returncode == 2 and "GH_TOKEN_FOR_TEST is not set" in missing.stderr
    for key in KEYS:
        assert key not in first.stdout + first.stderr
    assert TOKEN not in first.stdout + first.stderr


def test_the_worker_pulls_before_each_scan_and_a_failed_pull_does_not_stop_it(
    engine: Engine, tmp_path: Path
) -> None:
    from tests.test_leaks import FINGERPRINTER, OURS, fake_api_keys, open_findings, org

    export = assets.write_ndjson(tmp_path / "org.jsonl", org())
    config = Config()
    alerts = {"acme": [leakdata.github_alert(OURS, 1)]}
    with FakeGitHub(alerts, TOKEN) as github, FakeApiKeysServer(fake_api_keys()) as api_keys:
        client = GitHubAlerts(TOKEN, github.url, sleep=Sleeps())
        lookup = ApiKeysLookup(api_keys.client, timeout_seconds=5)
        pull = GitHubPull(engine, ["acme"], client, FINGERPRINTER, lookup)
        worker = Worker(
            config,
            engine,
            lambda: ExportSource([export], config.gemini.project_services),
            evaluated_at=lambda: NOW,
            leak_pull=pull,
        )
        assert worker.scan_once() == "succeeded"
        assert [f.key_name.rsplit("/", 1)[-1] for f in open_findings(engine, "key-leaked")] == [
            "k-ours"
        ]
        github.token = "rotated"  # the next pull is refused: the scan still runs
        age_scans(engine, timedelta(days=1))  # past the recent-scan check
        assert worker.scan_once() == "succeeded"
    assert len(open_findings(engine, "key-leaked")) == 1
