"""Every input in the shapes Google and the scanners really emit
(tests/data/real/, each file citing its public source), read through the
installed command as a user runs it."""

from __future__ import annotations

import codecs
import gzip
import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from scanner.core.secrets import Fingerprinter
from tests import leakdata
from tests.test_cli import run_installed

REAL = Path(__file__).parent / "data" / "real"
NOW = "2026-12-01T00:00:00Z"
P1, P2 = "314159265358", "271828182845"
CHOSEN = f"projects/{P1}/locations/global/keys/payments-gemini"
ALL_APIS = f"projects/{P1}/locations/global/keys/3d9e8f7a-1b2c-4d5e-9f0a-1b2c3d4e5f60"
YOUNG = f"projects/{P1}/locations/global/keys/a0b1c2d3-e4f5-4a6b-8c7d-9e0f1a2b3c4d"
OLD = f"projects/{P2}/locations/global/keys/0c1d2e3f-4a5b-4c6d-8e7f-8091a2b3c4d5"
AUTH = f"projects/{P2}/locations/global/keys/studio-auth"
PAYMENTS = leakdata.standard_key("real-shapes payments gemini")
STRINGS = [
    PAYMENTS,
    *(
        leakdata.standard_key(f"real-shapes {seed}")
        for seed in ("stranger", "trufflehog 3.0", "trufflehog 3.20", "trufflehog 3.80")
    ),
]


def env() -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("KEYSENTRY_", "GOOGLE_"))}
    return base | {"KEYSENTRY_FINGERPRINT_KEY": leakdata.FINGERPRINT_KEY, "NO_GCE_CHECK": "true"}


def keysentry(*args: str) -> tuple[int, str, str]:
    result = run_installed(*args, env=env())
    assert "Traceback" not in result.stderr
    return result.returncode, result.stdout, result.stderr


def known_lookups(tmp_path: Path) -> Path:
    """What LookupKey would answer, by fingerprint: our key by its project *id*
    (LookupKey's name may use either), the others unknown."""
    fingerprints = Fingerprinter(leakdata.FINGERPRINT_KEY.encode())
    chosen_by_id = "projects/acme-payments/locations/global/keys/payments-gemini"
    return leakdata.write_json(
        tmp_path / "fingerprints.json",
        {"fingerprints": {fingerprints.of(PAYMENTS): chosen_by_id}},
    )


def by_name(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {k["name"]: k for k in report["keys"]}


def rules_of(key: dict[str, Any]) -> set[str]:
    return {f["rule"] for f in key["findings"]}


def test_every_source_end_to_end(tmp_path: Path) -> None:
    db_file = tmp_path / "h.db"
    db = ["--db", f"sqlite:///{db_file}"]
    reports = [
        "gitleaks-8.json",
        "gitleaks-8-redact-50.json",
        "trufflehog-3.0-git.jsonl",
        "trufflehog-3.20-git.jsonl",
        "trufflehog-3.80-git.jsonl",
    ]
    code, out, err = keysentry(
        "leaks",
        "import",
        *db,
        *(str(REAL / r) for r in reports),
        "--lookups-from",
        str(known_lookups(tmp_path)),
    )
    assert code == 0, err
    # 3 + 1 + 2 + 1 + 2 items: the AWS line is not a Google key, the redacted one
    # is counted as such, and gitleaks' own "10-19-2003" date is left out.
    assert "read 9 item(s): 7 Google key string(s), 2 skipped" in out
    assert "1 partly redacted by the scanner" in out and "1 not a Google key" in out
    assert "warning: evidence left out: 1 gitleaks Date unreadable" in out

    code, out, err = keysentry(
        "scan",
        *db,
        "--from-export",
        str(REAL / "asset-export-keys.jsonl"),
        "--audit-from",
        str(REAL / "audit-apikeys-v2.json"),
        "--audit-from",
        str(REAL / "audit-apikeys-v1.json"),
        "--usage-from",
        str(REAL / "usage-timeseries.json"),
        "--now",
        NOW,
        "--format",
        "json",
    )
    assert code == 0, err
    report = json.loads(out)
    keys = by_name(report)
    assert set(keys) == {CHOSEN, ALL_APIS, YOUNG, OLD, AUTH}

    chosen = keys[CHOSEN]
    assert chosen["creator"] == "terraform@acme-payments.iam.gserviceaccount.com"
    assert "key-leaked" in rules_of(chosen)  # matched by name, though the id is not the uid
    assert {leak["tool"] for leak in chosen["leaks"]} == {"gitleaks", "trufflehog"}
    assert chosen["requests_7d"] == 2440  # the series named it by key id
    # GenerativeLanguage.googleapis.com is the Gemini API, whatever its case
    assert "gemini-standard-key" in rules_of(chosen)

    all_apis = keys[ALL_APIS]
    assert all_apis["status"] == "blocked"  # " CloudAPIs" restricts nothing
    assert "gemini-unrestricted-standard-key" in rules_of(all_apis)
    assert all_apis["restrictions_removed"]["by"] == "ops-oncall@example.com"
    assert all_apis["gemini_rejected_7d"] == 300  # by uid, mixed-case service

    assert keys[YOUNG]["creator"] == "lee@example.com"  # the v1 entry, by response.keyId
    assert "gemini-dormant-unrestricted-key" not in rules_of(keys[YOUNG])  # three days old
    assert "gemini-dormant-unrestricted-key" in rules_of(keys[OLD])
    assert keys[AUTH]["key_type"] == "auth"

    notes = " ".join(report["scan"]["notes"])
    assert "usage: 1 series of API key credentials matched no key" in notes  # apikey:UNKNOWN

    everything = out + err + db_file.read_bytes().decode("utf-8", "replace")
    for secret in STRINGS:
        assert secret not in everything


def test_each_operation_is_one_event(tmp_path: Path) -> None:
    db_file = tmp_path / "h.db"
    db = ["--db", f"sqlite:///{db_file}"]
    for _ in range(2):  # the same log read twice adds nothing
        code, _, err = keysentry(
            "scan",
            *db,
            "--from-export",
            str(REAL / "asset-export-keys.jsonl"),
            "--audit-from",
            str(REAL / "audit-apikeys-v2.json"),
            "--now",
            NOW,
        )
        assert code == 0, err
    import sqlite3

    with sqlite3.connect(db_file) as conn:
        rows = conn.execute("SELECT insert_id, key_name, method FROM key_events").fetchall()
    assert sorted((name, method) for _, name, method in rows) == [
        (ALL_APIS, "UpdateKey"),
        (CHOSEN, "CreateKey"),
    ]


@pytest.mark.parametrize(
    "encode",
    [
        lambda text: text.encode(),
        lambda text: codecs.BOM_UTF8 + text.encode(),
        lambda text: text.encode("utf-16"),  # PowerShell's `>` and Out-File
        lambda text: gzip.compress(text.encode("utf-16")),
    ],
    ids=["utf-8", "utf-8-bom", "utf-16", "gzip-utf-16"],
)
def test_exports_and_evidence_in_any_encoding(tmp_path: Path, encode: Any) -> None:
    files = {}
    for name in ("asset-list-resource.json", "audit-apikeys-v2.json", "usage-timeseries.json"):
        files[name] = tmp_path / name
        files[name].write_bytes(encode((REAL / name).read_text()))
    code, out, err = keysentry(
        "scan",
        "--db",
        f"sqlite:///{tmp_path}/h.db",
        "--from-export",
        str(files["asset-list-resource.json"]),
        "--audit-from",
        str(files["audit-apikeys-v2.json"]),
        "--usage-from",
        str(files["usage-timeseries.json"]),
        "--now",
        NOW,
        "--format",
        "json",
    )
    assert code == 0, err
    keys = by_name(json.loads(out))
    assert len(keys) == 5 and keys[CHOSEN]["creator"].startswith("terraform@")
    assert keys[CHOSEN]["requests_7d"] == 2440


def test_an_export_without_resource_data_is_refused(tmp_path: Path) -> None:
    db_file = tmp_path / "h.db"
    code, out, err = keysentry(
        "scan",
        "--db",
        f"sqlite:///{db_file}",
        "--from-export",
        str(REAL / "asset-list-no-content-type.json"),
    )
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "asset-list-no-content-type.json:2: item 1: key asset" in err
    assert "--content-type=resource" in err
    code, out, _ = keysentry("scans", "--db", f"sqlite:///{db_file}")
    assert "failed" in out and "succeeded" not in out  # recorded, and nothing else


def test_an_impossible_date_is_one_line_with_its_path(tmp_path: Path) -> None:
    config = tmp_path / "keysentry.yaml"
    config.write_text(
        "timeline:\n  - id: moved\n    date: 2026-02-30\n    rules: [gemini-standard-key]\n"
        "    effect: moved\n    status: announced\n"
    )
    for args in (["config", "check", str(config)], ["scan", "--config", str(config)]):
        code, _, err = keysentry(*args)
        assert code == 2, (args, err)
        assert err.startswith(f"keysentry: error: {config}: timeline[0].date: ")
        assert err.count("\n") == 1


def test_service_lists_in_the_config_are_case_insensitive(tmp_path: Path) -> None:
    config = tmp_path / "keysentry.yaml"
    config.write_text("gemini:\n  api_services: ['  GenerativeLanguage.GoogleAPIs.com ']\n")
    export = tmp_path / "org.jsonl"
    shutil.copy(REAL / "asset-export-keys.jsonl", export)
    code, out, err = keysentry(
        "scan",
        "--config",
        str(config),
        "--db",
        f"sqlite:///{tmp_path}/h.db",
        "--from-export",
        str(export),
        "--now",
        NOW,
        "--format",
        "json",
    )
    assert code == 0, err
    assert "gemini-standard-key" in rules_of(by_name(json.loads(out))[CHOSEN])


def test_console_links_name_the_key_by_its_id_not_its_uid() -> None:
    from scanner.alerts.content.payload import key_links
    from scanner.alerts.facts import KeyFacts
    from scanner.config.alerts import AlertsConfig

    key = KeyFacts(
        name=CHOSEN,
        uid="6f1c2a7e-3b4d-4e5f-8a9b-0c1d2e3f4a5b",
        display_name="payments gemini (terraform)",
        project="acme-payments",
        project_number=P1,
        key_type="standard",
        status="non_compliant",
        score=40,
    )
    link = key_links(AlertsConfig(), key)["console"]
    assert link == (
        "https://console.cloud.google.com/apis/credentials/key/payments-gemini"
        "?project=acme-payments"
    )
