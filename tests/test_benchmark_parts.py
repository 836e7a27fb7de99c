"""The benchmark's synthetic organization and fake-server process: the figures in
benchmarks/README.md are only as good as these."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from google.cloud import asset_v1

from benchmarks.harness import ROOT, fake_server
from benchmarks.synth import ORG, organization, write_export
from scanner.config import Config
from scanner.core.models import AppRestriction, KeyType
from scanner.sources.inventory.export import ExportSource
from scanner.sources.inventory.source import records
from tests.fakes.cloud_asset import client_for


def keys_of(path: Path) -> list[object]:
    source = ExportSource([path], Config().gemini.project_services)
    return list(records(source, source.load_context()))


def test_deterministic_from_the_seed() -> None:
    assert list(organization(200, 10, seed=3)) == list(organization(200, 10, seed=3))
    assert list(organization(200, 10, seed=3)) != list(organization(200, 10, seed=4))


def test_mix_of_key_kinds_and_restrictions(tmp_path: Path) -> None:
    path = tmp_path / "org.jsonl.gz"
    write_export(path, organization(4000, 100, seed=1))
    keys = keys_of(path)
    assert len(keys) == 4000
    kinds: Counter[str] = Counter()
    for k in keys:
        if k.deleted is not None:
            kinds["deleted"] += 1
        elif k.key_type is KeyType.AUTH:
            kinds["auth"] += 1
        elif not k.api_targets:
            kinds["unrestricted"] += 1
        elif "generativelanguage.googleapis.com" in k.api_targets:
            kinds["gemini"] += 1
        else:
            kinds["other"] += 1
    share = {kind: count / len(keys) for kind, count in kinds.items()}
    expected = {"unrestricted": 0.40, "gemini": 0.30, "auth": 0.15, "other": 0.10, "deleted": 0.05}
    assert all(abs(share[kind] - value) < 0.03 for kind, value in expected.items()), share
    assert {k.application_restriction for k in keys} == set(AppRestriction)
    gemini_on = {k.project_number for k in keys if k.gemini_enabled}
    gemini_off = {k.project_number for k in keys if k.gemini_enabled is False}
    assert gemini_on and gemini_off and not gemini_on & gemini_off
    years = {k.created.year for k in keys}
    assert len(years) >= 6


def test_changed_fraction_changes_that_many_keys() -> None:
    base = [e for e in organization(1000, 20, seed=1) if e["asset_type"].endswith("/Key")]
    changed = [
        e
        for e in organization(1000, 20, seed=1, changed_fraction=0.01)
        if e["asset_type"].endswith("/Key")
    ]
    assert sum(a != b for a, b in zip(base, changed, strict=True)) == 10


def test_fake_server_process_pages_the_organization() -> None:
    with fake_server(2500, 50, seed=1) as address:
        client = client_for(address)
        request = asset_v1.ListAssetsRequest(
            parent=ORG,
            asset_types=["apikeys.googleapis.com/Key"],
            content_type=asset_v1.ContentType.RESOURCE,
            page_size=1000,
        )
        pages = list(client.list_assets(request=request).pages)
    assert [len(p.assets) for p in pages] == [1000, 1000, 500]


def test_the_sources_benchmark_inputs_are_read_as_the_scan_reads_them(tmp_path: Path) -> None:
    """benchmarks.sources' audit log names every tenth key's creator and its
    JSON array export lists the same assets as its newline-delimited one."""
    from benchmarks.sources import write_inputs
    from scanner.sources.audit.files import FileAuditSource

    write_inputs(tmp_path, 400, 20, 3)
    services = Config().gemini.project_services
    lines, array = (
        ExportSource([tmp_path / "org.jsonl"], services),
        ExportSource([tmp_path / "org.json"], services),
    )
    keys = list(records(lines, lines.load_context()))
    assert keys == list(records(array, array.load_context()))
    context = lines.load_context()
    events = FileAuditSource([tmp_path / "audit.json"]).read(
        context.projects.values(), datetime(2000, 1, 1, tzinfo=UTC), datetime.now(UTC)
    )
    assert {e.method for e in events} == {"CreateKey"}
    assert {e.key_name for e in events} <= {k.name for k in keys}
    assert len(events) == len({e.key_name for e in events}) >= 30
    assert all(e.principal and e.principal.endswith("@example.com") for e in events)


def test_compare_runs_an_earlier_commit_beside_this_tree() -> None:
    """benchmarks.compare against HEAD: both sides run every round, the same
    code queues the same outbox on both, and the worktree goes away."""
    before = _worktrees()
    command = [sys.executable, "-m", "benchmarks.compare", "HEAD", "--what", "next-day"]
    command += ["--keys", "300", "--projects", "15", "--rounds", "2"]
    output = subprocess.run(command, cwd=ROOT, check=True, capture_output=True, text=True)
    result = json.loads(output.stdout)
    assert [len(result["seconds"][side]) for side in ("old", "new")] == [2, 2]
    assert len(result["outboxes"]["new"]) == 1
    assert result["outboxes"]["old"] == result["outboxes"]["new"]
    assert _worktrees() == before


def _worktrees() -> str:
    listed = subprocess.run(
        ["git", "worktree", "list"], cwd=ROOT, check=True, capture_output=True, text=True
    )
    return listed.stdout
