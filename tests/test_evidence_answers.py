"""An evidence pack an auditor reads in five minutes: what was fixed comes
first, the first scan is counted rather than listed, every row is in the
files and the page says how many it shows, dates read as dates, the chain
head cited is the window's, a CIS view per scan, and a signature that
`evidence verify` checks (exit 1 on any mismatch)."""

from __future__ import annotations

import csv
import hashlib
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from sqlalchemy import Engine

from scanner.cli import main
from tests.auditor_org import History, build_history


@pytest.fixture
def history(engine: Engine, db_url: str, tmp_path: Path) -> History:
    return build_history(engine, db_url, tmp_path)


def pack(history: History, out: Path, since: int, until: int, *extra: str) -> Result:
    return history.cli(
        "evidence",
        "--since",
        history.at(since).date().isoformat(),
        "--until",
        history.at(until).date().isoformat(),
        "--output",
        str(out),
        *extra,
    )


def verify(folder: Path, *extra: str) -> Result:
    return CliRunner().invoke(main, ["evidence", "verify", str(folder), *extra])


def ed25519_pem(folder: Path, name: str) -> tuple[Path, Path]:
    """A key pair as `openssl genpkey -algorithm ed25519` writes it (PKCS#8
    PEM) and its public half as `openssl pkey -pubout` does."""
    private, public = folder / f"{name}.pem", folder / f"{name}.pub.pem"
    openssl = shutil.which("openssl")
    if openssl:
        subprocess.run([openssl, "genpkey", "-algorithm", "ed25519", "-out", private], check=True)
        subprocess.run([openssl, "pkey", "-in", private, "-pubout", "-out", public], check=True)
        return private, public
    key = ed25519.Ed25519PrivateKey.generate()
    private.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return private, public


def read_json(path: Path) -> Any:
    return json.loads(path.read_text())


def test_what_was_fixed_comes_first_and_every_row_is_in_the_files(
    history: History, tmp_path: Path
) -> None:
    out = tmp_path / "pack"
    assert pack(history, out, 2, 6).exit_code == 0
    changes = read_json(out / "changes.json")
    # Every finding that closed in the window: resolved, or accepted while open.
    closed = {
        (c["key"], c["rule"], c["scan"]) for c in changes if c["kind"] in ("resolved", "accepted")
    }
    fixed = list(csv.DictReader((out / "fixed.csv").open()))
    assert closed and {(f["key"], f["rule"], int(f["scan"])) for f in fixed} == closed
    assert read_json(out / "fixed.json") and len(read_json(out / "fixed.json")) == len(fixed)
    for f in fixed:
        assert float(f["days_open"]) >= 0 and f["reason"] and f["opened_at"] <= f["resolved_at"]
    page = (out / "index.html").read_text()
    order = [page.index(s) for s in ('id="fixed"', 'id="status-changes"', 'id="compliance"')]
    assert order == sorted(order) and order[0] < page.index("<h2>Charts</h2>")
    assert f"All {len(fixed)} findings" in page
    # Status changes say from what to what, and whose key it was.
    statuses = [c for c in changes if c["kind"] == "status_changed" and c["from"] and c["to"]]
    assert statuses
    for c in statuses:
        assert f'{c["from"]}</span> → <span class="status-{c["to"]}">{c["to"]}' in page
        for owner in c["owners"]:
            assert owner in page


def test_the_page_says_how_many_rows_it_shows(
    history: History, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("scanner.evidence.files.HTML_ROWS", 2)
    monkeypatch.setattr("scanner.evidence.pack.HTML_ROWS", 2)
    out = tmp_path / "pack"
    assert pack(history, out, 2, 6).exit_code == 0
    page = (out / "index.html").read_text()
    fixed = read_json(out / "fixed.json")
    assert len(fixed) > 2 and f"The first 2 of {len(fixed)} findings" in page
    other = [
        c
        for c in read_json(out / "changes.json")
        if c["kind"] not in ("status_changed", "key_added", "left_inventory")
    ]
    assert len(other) > 2 and f"The first 2 of {len(other)}" in page


def test_the_first_scan_is_counted_not_listed(history: History, tmp_path: Path) -> None:
    out = tmp_path / "pack"
    assert pack(history, out, 1, 3).exit_code == 0
    changes = read_json(out / "changes.json")
    first = history.outcomes[1].scan_id
    arrived = [c for c in changes if c["scan"] == first]
    added = sum(1 for c in arrived if c["kind"] == "key_added")
    opened = sum(1 for c in arrived if c["kind"] == "opened")
    assert added and opened
    page = (out / "index.html").read_text()
    baseline = page[page.index('id="baseline"') : page.index("<h2>Keys at the start")]
    assert f"{added} key_added" in baseline and f"{opened} opened" in baseline
    status = page[page.index('id="status-changes"') : page.index('id="compliance"')]
    assert "(new)" not in status  # the first scan's keys are not listed as changes


def test_the_chain_head_is_the_windows_last_scans(history: History, tmp_path: Path) -> None:
    out = tmp_path / "pack"
    assert pack(history, out, 2, 4).exit_code == 0
    manifest = read_json(out / "MANIFEST.json")
    fourth = history.outcomes[4]
    assert manifest["window_head"] == {"scan": fourth.scan_id, "hash": fourth.chain_head}
    assert manifest["chain"]["head"] == history.outcomes[6].chain_head  # the whole chain checked
    page = (out / "index.html").read_text()
    assert f'<code id="window-head">{fourth.chain_head}</code>' in page
    # Dates read as dates: the window's days, not instants with microseconds.
    title = page[page.index("<h1>") : page.index("</h1>")]
    since, until = history.at(2).date().isoformat(), history.at(4).date().isoformat()
    assert title == f"<h1>API key evidence, {since} to {until}"
    assert "999999" not in page and "T00:00:00" not in page


def test_the_cis_view_is_the_reports_at_each_scan(history: History, tmp_path: Path) -> None:
    out = tmp_path / "pack"
    assert pack(history, out, 2, 6).exit_code == 0
    compliance = read_json(out / "compliance.json")
    assert [s["scan"] for s in compliance] == [history.outcomes[n].scan_id for n in range(2, 7)]
    for s in compliance:
        shown = history.cli(
            "report", "--scan", str(s["scan"]), "--framework", "cis-gcp", "--format", "json"
        )
        assert shown.exit_code == 0, shown.output
        controls = {c["id"]: c for c in json.loads(shown.output)["controls"]}
        assert [c["id"] for c in s["controls"]] == ["1.13", "1.14", "1.15", "1.16"]
        for c in s["controls"]:
            assert c["failing"] == len(controls[c["id"]]["failing"]), (s["scan"], c["id"])
            assert c["accepted"] == len(controls[c["id"]]["accepted"]), (s["scan"], c["id"])
            assert c["result"] == controls[c["id"]]["result"], (s["scan"], c["id"])
    rows = list(csv.DictReader((out / "compliance.csv").open()))
    assert len(rows) == 4 * len(compliance)


def test_report_framework_names_the_failing_keys(history: History) -> None:
    report = json.loads(history.reports[6])
    shown = history.cli("report", "--framework", "cis-gcp", "--format", "json")
    view = json.loads(shown.output)
    assert view["framework"]["title"] == "CIS Google Cloud Platform Foundation Benchmark v5.0.0"
    controls = {c["id"]: c for c in view["controls"]}
    live = [k for k in report["keys"] if k["status"] != "deleted"]
    for control, rules in (("1.15", {"key-api-unrestricted"}), ("1.16", {"key-not-rotated"})):
        expected = {k["name"] for k in live if rules & {f["rule"] for f in k["findings"]}}
        assert {k["name"] for k in controls[control]["failing"]} == expected
        assert controls[control]["result"] == ("fail" if expected else "pass")
    unused = {k["name"] for k in live if k["in_use"] is False}
    assert {k["name"] for k in controls["1.13"]["failing"]} == unused
    assert controls["1.13"]["not_assessed"] == sum(1 for k in live if k["in_use"] is None)
    table = history.cli("report", "--framework", "cis-gcp")
    assert table.exit_code == 0 and "1.15" in table.output and "Ensure API Keys" in table.output


def test_a_signed_pack_verifies_and_any_change_is_caught(history: History, tmp_path: Path) -> None:
    private, public = ed25519_pem(tmp_path, "signer")
    _, stranger = ed25519_pem(tmp_path, "stranger")
    out = tmp_path / "pack"
    made = pack(history, out, 2, 6, "--sign-key", str(private))
    assert made.exit_code == 0, made.output
    assert "signed by key" in made.output
    good = verify(out, "--public-key", str(public))
    assert good.exit_code == 0, good.output
    listed = len(read_json(out / "MANIFEST.json")["files"])
    assert f"ok: {listed} files match MANIFEST.json" in good.output
    assert "signature valid" in good.output
    assert verify(out).exit_code == 0  # with the key the pack carries, and says so
    assert "give --public-key" in verify(out).output
    wrong = verify(out, "--public-key", str(stranger))
    assert wrong.exit_code == 1 and "no valid signature" in wrong.output

    def tampered(change: Any) -> Result:
        copy = tmp_path / f"copy-{len(list(tmp_path.iterdir()))}"
        shutil.copytree(out, copy)
        change(copy)
        return verify(copy, "--public-key", str(public))

    edited = tampered(lambda p: (p / "fixed.csv").write_text("resolved_at\n"))
    assert edited.exit_code == 1 and "MISMATCH fixed.csv" in edited.output
    added = tampered(lambda p: (p / "extra.txt").write_text("x"))
    assert added.exit_code == 1 and "extra.txt: not in the manifest" in added.output
    gone = tampered(lambda p: (p / "changes.json").unlink())
    assert gone.exit_code == 1 and "changes.json: listed in the manifest, missing" in gone.output

    def rehashed(p: Path) -> None:
        # An editor who also rewrites the manifest to match: the signature no longer does.
        (p / "fixed.csv").write_text("resolved_at\n")
        manifest = json.loads((p / "MANIFEST.json").read_text())
        for f in manifest["files"]:
            if f["path"] == "fixed.csv":
                f["sha256"] = hashlib.sha256(b"resolved_at\n").hexdigest()
                f["bytes"] = len(b"resolved_at\n")
        (p / "MANIFEST.json").write_text(json.dumps(manifest))

    forged = tampered(rehashed)
    assert forged.exit_code == 1 and "signs another manifest" in forged.output


def test_an_unsigned_pack_is_not_taken_for_a_signed_one(history: History, tmp_path: Path) -> None:
    _, public = ed25519_pem(tmp_path, "signer")
    out = tmp_path / "pack"
    assert pack(history, out, 2, 6).exit_code == 0
    plain = verify(out)
    assert plain.exit_code == 0 and "not signed" in plain.output
    asked = verify(out, "--public-key", str(public))
    assert asked.exit_code == 1 and "the pack is not signed" in asked.output
    not_a_pack = verify(tmp_path)
    assert not_a_pack.exit_code == 2 and "not an evidence pack" in not_a_pack.output


def test_a_key_that_cannot_sign_is_refused_before_anything_is_written(
    history: History, tmp_path: Path
) -> None:
    rsa_key = tmp_path / "rsa.pem"
    rsa_key.write_bytes(
        rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    locked = tmp_path / "locked.pem"
    locked.write_bytes(
        ed25519.Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"secret"),
        )
    )
    for key, message in (
        (rsa_key, "not an Ed25519 key"),
        (locked, "not an unencrypted PEM private key"),
        (tmp_path / "missing.pem", "No such file"),
    ):
        out = tmp_path / "pack"
        result = pack(history, out, 2, 6, "--sign-key", str(key))
        assert result.exit_code == 2 and message in result.output, result.output
        assert str(key) in result.output
        assert not out.exists()
        assert not [p for p in tmp_path.iterdir() if p.name.startswith(".pack.")]
