"""Inputs real organizations and scanners produce beyond the common shapes
(tests/data/real/README.md names each file's public source): Cloud Asset
search results and BigQuery rows, restrictions that admit everyone, API
targets with methods, Data Access reads of key strings, more scanners, and
key strings where no key string belongs. Read through the installed command."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from scanner.core import restrictions
from scanner.core.models import KeyState
from scanner.core.secrets import Fingerprinter
from scanner.fixes.apply import Change
from scanner.sources.inventory.asset import CloudAssetSource
from scanner.sources.inventory.compare import compare
from tests import assets, leakdata
from tests.fakes.api_keys_rest import FakeListKeys, FakeListKeysServer
from tests.fakes.cloud_asset import serve
from tests.test_inventory_apikeys import FAST, SCOPE, source
from tests.test_real_shapes import REAL, by_name, keysentry, rules_of

NOW = "2026-12-01T00:00:00Z"
P = "555000111222"
KEY = f"projects/{P}/locations/global/keys/"
WEB = KEY + "3b0c1d2e-0001-4a5b-8c7d-000000000001"
ANDROID = KEY + "3b0c1d2e-0002-4a5b-8c7d-000000000002"
IOS = KEY + "3b0c1d2e-0003-4a5b-8c7d-000000000003"
GEMINI = KEY + "gemini-generate-only"
AUTH = KEY + "studio-auth"
EVERY_KEY = {WEB, ANDROID, IOS, GEMINI, AUTH}
# The strings of the scanner fixtures, by the seed tests.leakdata made them from.
GGSHIELD = leakdata.standard_key("field ggshield")
NOSEYPARKER = leakdata.auth_key("field noseyparker")
KINGFISHER = leakdata.standard_key("field kingfisher")
BETTERLEAKS = leakdata.standard_key("field betterleaks")
BETTERLEAKS_V1 = leakdata.standard_key("field betterleaks v1")
BETTERLEAKS_V2 = leakdata.auth_key("field betterleaks v2")
GITHUB = leakdata.standard_key("field github revoked")
TRUFFLEHOG = leakdata.standard_key("field trufflehog error")
# Which key each string is, as LookupKey would answer.
OWNER_OF = {
    GGSHIELD: WEB,
    NOSEYPARKER: AUTH,
    KINGFISHER: ANDROID,
    BETTERLEAKS: GEMINI,
    BETTERLEAKS_V1: IOS,
    BETTERLEAKS_V2: AUTH,
    GITHUB: GEMINI,
    TRUFFLEHOG: IOS,
}
SCANNER_FILES = (
    "ggshield-1.json",
    "noseyparker-0.22.jsonl",
    "kingfisher-1.110.json",
    "betterleaks-1.json",
    "betterleaks-v1-camel.json",
    "betterleaks-v2.json",
)


def db(tmp_path: Path) -> list[str]:
    return ["--db", f"sqlite:///{tmp_path / 'h.db'}"]


def scan_json(tmp_path: Path, *args: str) -> dict[str, Any]:
    code, out, err = keysentry("scan", *db(tmp_path), *args, "--now", NOW, "--format", "json")
    assert code == 0, err
    return json.loads(out)  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    "export", ["asset-search-keys.json", "bigquery-assets-table.json", "bigquery-apikeys-key.jsonl"]
)
def test_search_results_and_bigquery_rows_are_exports(tmp_path: Path, export: str) -> None:
    keys = by_name(scan_json(tmp_path, "--from-export", str(REAL / export)))
    assert set(keys) == EVERY_KEY
    # Referrers only of this machine, an Android app without its SHA-1: weak.
    assert "key-weak-application-restriction" in rules_of(keys[WEB])
    android = [
        f for f in keys[ANDROID]["findings"] if f["rule"] == "key-weak-application-restriction"
    ]
    assert [f["summary"] for f in android] == [
        "Android app without a SHA-1 fingerprint admits any app of that name: com.acme.mobile."
    ]
    # `"iosKeyRestrictions": {}` names no app: no application restriction at all.
    assert "key-application-unrestricted" in rules_of(keys[IOS])
    assert "key-weak-application-restriction" not in rules_of(keys[IOS])
    # Limited to two methods of the Gemini API: restricted, and the methods shown.
    gemini = keys[GEMINI]
    assert gemini["api_targets"] == ["generativelanguage.googleapis.com"]
    assert gemini["api_methods"] == {
        "generativelanguage.googleapis.com": ["GenerateContent", "StreamGenerateContent"]
    }
    assert "key-api-unrestricted" not in rules_of(gemini)
    assert keys[AUTH]["key_type"] == "auth"
    # The project id comes from the search result's parent, or the Project row;
    # a per-asset-type table has no Project row beside it.
    expected = P if export.startswith("bigquery-apikeys") else "acme-mobile"
    assert {k["project"] for k in keys.values()} == {expected}


def test_a_search_result_beside_an_export_of_its_project(tmp_path: Path) -> None:
    """The search result names the keys; an export beside it adds what a search
    does not carry (the project's labels, the services it has on)."""
    beside = assets.write_ndjson(
        tmp_path / "projects.jsonl",
        [
            assets.project(P, "acme-mobile"),
            assets.service(P, assets.GEMINI),
        ],
    )
    report = scan_json(
        tmp_path,
        "--from-export",
        str(REAL / "asset-search-keys.json"),
        "--from-export",
        str(beside),
    )
    keys = by_name(report)
    assert set(keys) == EVERY_KEY
    assert all(k["gemini_enabled"] for k in keys.values())
    alone = by_name(scan_json(tmp_path, "--from-export", str(REAL / "asset-search-keys.json")))
    assert all(k["gemini_enabled"] is None for k in alone.values())  # a search says nothing


def test_a_search_without_the_read_mask_says_how_to_get_the_keys(tmp_path: Path) -> None:
    results = json.loads((REAL / "asset-search-keys.json").read_text())
    for result in results:
        del result["versionedResources"]
    bare = tmp_path / "search.json"
    bare.write_text(json.dumps(results))
    code, out, err = keysentry("scan", *db(tmp_path), "--from-export", str(bare))
    assert code == 2 and out == "" and err.count("\n") == 1
    assert f"{bare}:1: item 1: key asset" in err and "--read-mask='*'" in err


def lookups(tmp_path: Path) -> Path:
    fingerprints = Fingerprinter(leakdata.FINGERPRINT_KEY.encode())
    return leakdata.write_json(
        tmp_path / "fingerprints.json",
        {"fingerprints": {fingerprints.of(s): name for s, name in OWNER_OF.items()}},
    )


def import_reports(tmp_path: Path, *files: Path) -> str:
    code, out, err = keysentry(
        "leaks", "import", *db(tmp_path), *map(str, files), "--lookups-from", str(lookups(tmp_path))
    )
    assert code == 0, err
    return out


def test_each_scanner_detected_from_its_first_item(tmp_path: Path) -> None:
    out = import_reports(tmp_path, *(REAL / name for name in SCANNER_FILES))
    # ggshield 3 occurrences (one masked Google key, one Django secret), Nosey
    # Parker 2 findings (one AWS), Kingfisher 3 (one AIza string 37 characters
    # long, one AWS; its summary document is no finding), betterleaks 1 + 1 + 1.
    assert "read 11 item(s): 6 Google key string(s), 5 skipped" in out
    assert "1 masked by the scanner (run ggshield with --show-secrets)" in out
    assert "3 not a Google key" in out
    assert "1 shaped like a Google key but not 39 (AIza) or 53 (AQ.) characters" in out
    assert "6 new report(s): 6 matched" in out

    keys = by_name(scan_json(tmp_path, "--from-export", str(REAL / "asset-search-keys.json")))
    found = {(leak["tool"], name): leak for name, key in keys.items() for leak in key["leaks"]}
    assert set(found) == {
        ("ggshield", WEB),
        ("noseyparker", AUTH),
        ("kingfisher", ANDROID),
        ("betterleaks", GEMINI),
        ("betterleaks", IOS),
        ("betterleaks", AUTH),
    }
    ggshield = found["ggshield", WEB]
    assert (ggshield["file"], ggshield["line"], ggshield["verified"]) == (
        "web/settings.py",
        12,
        True,
    )
    assert ggshield["commit"] == "8f388be3452f8d9f20ed788c94ebc11faa8ae7b6"
    assert ggshield["first_reported"] == "2021-07-05T07:24:43Z"  # git's date, +0530
    nosey = found["noseyparker", AUTH]
    assert (nosey["file"], nosey["line"], nosey["author"]) == (
        "studio/app.env",
        7,
        "dana@example.com",
    )
    assert nosey["first_reported"] == "2024-07-05T08:21:52Z"  # epoch seconds, +0200 aside
    assert found["kingfisher", ANDROID]["verified"] is True  # "Active Credential"
    flat = found["betterleaks", GEMINI]
    assert flat["repository"] == "github.com/acme/maps-web"  # from git.remote_url
    assert flat["verified"] is None  # needs_validation: nobody knows yet
    assert found["betterleaks", IOS]["verified"] is True  # v1 validation.status valid
    assert found["betterleaks", AUTH]["file"] == "studio/.env"  # v2 location.path
    for key in (WEB, AUTH, ANDROID, GEMINI, IOS):
        assert "key-leaked" in rules_of(keys[key])


def test_unknown_verification_is_unknown_and_revoked_is_a_contradiction(tmp_path: Path) -> None:
    truffle = leakdata.trufflehog_finding(TRUFFLEHOG) | {
        "VerificationError": "lookup googleapis.com: i/o timeout"
    }
    github = leakdata.github_alert(
        GITHUB, 7, state="resolved", resolution="revoked", validity="unknown"
    )
    import_reports(
        tmp_path,
        leakdata.write_lines(tmp_path / "th.jsonl", [truffle]),
        leakdata.write_json(tmp_path / "gh.json", [github]),
    )
    keys = by_name(scan_json(tmp_path, "--from-export", str(REAL / "asset-search-keys.json")))
    (truffled,) = keys[IOS]["leaks"]
    assert truffled["tool"] == "trufflehog" and truffled["verified"] is None  # not False
    (alerted,) = keys[GEMINI]["leaks"]
    assert alerted["verified"] is None and alerted["scanner_status"] == "resolved as revoked"
    (leaked,) = [f for f in keys[GEMINI]["findings"] if f["rule"] == "key-leaked"]
    assert "GitHub says resolved as revoked, but the key still exists" in leaked["summary"]
    assert keys[GEMINI]["status"] != "compliant"


@pytest.mark.parametrize(
    ("secret", "counted"),
    [
        (leakdata.auth_key("auth 53"), "1 Google key string(s), 0 skipped"),
        (leakdata.auth_key("auth 53")[:-1], "0 Google key string(s), 1 skipped"),
        (leakdata.auth_key("auth 53") + "x", "0 Google key string(s), 1 skipped"),
        (leakdata.standard_key("aiza 39")[:-2], "0 Google key string(s), 1 skipped"),
    ],
)
def test_a_key_is_39_or_53_characters(tmp_path: Path, secret: str, counted: str) -> None:
    report = leakdata.write_json(tmp_path / "g.json", [leakdata.gitleaks_finding(secret)])
    out = import_reports(tmp_path, report)
    assert f"read 1 item(s): {counted}" in out
    if counted.startswith("0"):
        assert "not 39 (AIza) or 53 (AQ.) characters" in out


def test_who_read_a_key_string_and_the_older_methods(tmp_path: Path) -> None:
    import_reports(tmp_path, REAL / "ggshield-1.json", REAL / "kingfisher-1.110.json")
    report = scan_json(
        tmp_path,
        "--from-export",
        str(REAL / "asset-search-keys.json"),
        "--audit-from",
        str(REAL / "audit-apikeys-field.json"),
    )
    keys = by_name(report)
    # The web key's string was read in 2026, years after the commit ggshield
    # dates its leak to; Kingfisher's report has no date: neither read is named.
    assert all("string was read" not in f["summary"] for k in keys.values() for f in k["findings"])

    code, out, err = keysentry("history", "key", *db(tmp_path), "Web dev (localhost)")
    assert code == 0, err
    assert "event GetKeyString" in out and "key string read from 198.51.100.23" in out
    assert "dana@example.com" in out
    code, out, err = keysentry("history", "key", *db(tmp_path), IOS, "--format", "json")
    assert code == 0, err
    methods = [e["method"] for e in json.loads(out)["events"]]
    assert methods == ["RegenerateKey", "RevertKey"]
    code, out, err = keysentry(
        "changes", *db(tmp_path), "--since", "2026-06-01", "--kind", "event", "--format", "json"
    )
    assert code == 0, err
    events = json.loads(out)["changes"]
    reads = [c for c in events if c["kind"] == "event:GetKeyString"]
    assert {(c["display_name"], c["actor"], c["reason"]) for c in reads} == {
        ("Web dev (localhost)", "dana@example.com", "key string read from 198.51.100.23"),
        (
            "Android app",
            "ci-deployer@acme-mobile.iam.gserviceaccount.com",
            "key string read from 203.0.113.9",
        ),
    }
    updated = [c for c in events if c["kind"] == "event:UpdateKey"]
    assert [(c["key"], c["to"]) for c in updated] == [(GEMINI, None)]  # v2beta1, methods kept


def test_a_string_read_shortly_before_its_leak_is_in_the_leak_finding(tmp_path: Path) -> None:
    leak = leakdata.gitleaks_finding(TRUFFLEHOG, Date="2026-11-24T09:00:00Z")
    import_reports(tmp_path, leakdata.write_json(tmp_path / "g.json", [leak]))
    entries = json.loads((REAL / "audit-apikeys-field.json").read_text())
    (read,) = [e for e in entries if e["protoPayload"]["resourceName"] == ANDROID]
    read["protoPayload"]["resourceName"] = IOS
    read["protoPayload"]["request"]["name"] = IOS
    export = ("--from-export", str(REAL / "asset-search-keys.json"))
    # A scan that read the audit log before the read was in it, then one after:
    # the second must not keep the first's judgement of the key.
    before = leakdata.write_json(tmp_path / "before.json", [])
    first = by_name(scan_json(tmp_path, *export, "--audit-from", str(before)))
    assert all("string was read" not in f["summary"] for f in first[IOS]["findings"])
    audit = leakdata.write_json(tmp_path / "audit.json", [read])
    keys = by_name(scan_json(tmp_path, *export, "--audit-from", str(audit)))
    (leaked,) = [f for f in keys[IOS]["findings"] if f["rule"] == "key-leaked"]
    assert leaked["summary"].endswith(
        ". Its string was read by ci-deployer@acme-mobile.iam.gserviceaccount.com"
        " from 203.0.113.9 on 2026-11-20."
    )
    config = alerts_config(tmp_path)
    code, out, err = keysentry("alerts", "preview", *db(tmp_path), "--config", config)
    assert code == 0, err
    assert "Its string was read by ci-deployer@acme-mobile" in out


def alerts_config(tmp_path: Path) -> str:
    """Alerts to the security team, for previews (which send nothing)."""
    path = tmp_path / "alerts.yaml"
    path.write_text(
        "alerts:\n"
        "  route: {receiver: security}\n"
        "  receivers:\n"
        "    - name: security\n"
        "      email: {to: [security@example.com]}\n"
        "  smtp: {sender: keysentry@example.com}\n"
    )
    return str(path)


def test_custom_roles_with_the_older_permissions_administer_keys(tmp_path: Path) -> None:
    role = "organizations/900000000001/roles/keyRotator"
    export = assets.write_ndjson(
        tmp_path / "org.jsonl",
        [
            assets.project(P, "acme-mobile"),
            assets.custom_role(
                role, ["serviceusage.apiKeys.regenerate", "serviceusage.apiKeys.get"]
            ),
            assets.iam_policy(f"projects/{P}", {role: ["allAuthenticatedUsers"]}),
            assets.key(P, uid="k1", targets=["maps-backend.googleapis.com"], server=["192.0.2.1"]),
        ],
    )
    report = scan_json(tmp_path, "--from-export", str(export))
    projects = [f for f in report["project_findings"] if f["rule"] == "key-admin-granted-broadly"]
    assert len(projects) == 1 and "allAuthenticatedUsers" in projects[0]["summary"]


def test_a_key_string_in_the_credential_label_is_never_kept(tmp_path: Path) -> None:
    usage = json.loads((REAL / "usage-timeseries.json").read_text())
    series = json.loads(json.dumps(usage["timeSeries"][0]))
    series["resource"]["labels"] |= {
        "project_id": "acme-mobile",
        "credential_id": f"apikey:{GGSHIELD}",
    }
    usage["timeSeries"] = [series]
    usage_file = leakdata.write_json(tmp_path / "usage.json", usage)
    pack = tmp_path / "pack"
    code, out, err = keysentry(
        "scan",
        *db(tmp_path),
        "--from-export",
        str(REAL / "asset-search-keys.json"),
        "--usage-from",
        str(usage_file),
        "--now",
        NOW,
        "--format",
        "json",
    )
    assert code == 0, err
    notes = " ".join(json.loads(out)["scan"]["notes"])
    assert "usage: 1 series of API key credentials matched no key" in notes
    outputs = [out, err]
    for command, *options in (
        (("report",), "--format", "table"),
        (("alerts", "preview"), "--config", alerts_config(tmp_path), "--format", "json"),
        (("changes",), "--since", "2026-01-01", "--format", "json"),
        (("history", "key"), "Android app"),
        (("evidence",), "--output", str(pack), "--since", "2026-11-01"),
    ):
        code, out, err = keysentry(*command, *db(tmp_path), *options)
        assert code == 0, err
        outputs += [out, err]
    written = [p for p in tmp_path.rglob("*") if p.is_file() and p != usage_file]
    assert len(written) > 3
    everything = "".join(outputs) + "".join(
        p.read_bytes().decode("utf-8", "replace") for p in written
    )
    assert GGSHIELD not in everything and GGSHIELD[4:20] not in everything


COLONS = "da:39:a3:ee:5e:6b:4b:0d:32:55:bf:ef:95:60:18:90:af:d8:07:09"


def test_sha1_fingerprints_compare_in_both_spellings() -> None:
    colons = {
        "androidKeyRestrictions": {
            "allowedApplications": [
                {
                    "packageName": "com.acme.mobile",
                    "sha1Fingerprint": COLONS,
                }
            ]
        },
        "apiTargets": [{"service": "maps-android-backend.googleapis.com"}],
    }
    plain = json.loads(
        json.dumps(colons).replace(COLONS, "DA39A3EE5E6B4B0D3255BFEF95601890AFD80709")
    )
    other = json.loads(json.dumps(plain).replace("DA39", "DB39"))
    assert restrictions.same(colons, plain) and not restrictions.same(colons, other)
    # A rollback of a fix that may not have been made: the key read back in the
    # API's spelling is the state the journal wrote in the other.
    undo = Change(ANDROID, 'W/"e1"', None, restrictions={}, expected=colons)
    assert undo.refusal(KeyState(ANDROID, 'W/"e2"', plain)) is None
    assert undo.refusal(KeyState(ANDROID, 'W/"e2"', other)) == (
        "the key changed since the fix was attempted"
    )


def test_restricting_keeps_the_methods_a_kept_target_had() -> None:
    current = {
        "serverKeyRestrictions": {"allowedIps": ["203.0.113.7"]},
        "apiTargets": [
            {"service": "GenerativeLanguage.googleapis.com", "methods": ["GenerateContent"]},
            {"service": "maps-backend.googleapis.com"},
        ],
    }
    change = Change(GEMINI, 'W/"e1"', api_targets=("generativelanguage.googleapis.com",))
    assert change.target(current) == {
        "serverKeyRestrictions": {"allowedIps": ["203.0.113.7"]},
        "apiTargets": [
            {"service": "generativelanguage.googleapis.com", "methods": ["GenerateContent"]}
        ],
    }


def test_inventory_compare_reads_both_spellings_of_a_fingerprint() -> None:
    """Cloud Asset over gRPC with the fingerprint as it was written (colons),
    ListKeys over REST as the API outputs it (plain): the same key. A key
    whose fingerprints really differ is still a difference."""

    def android(uid: str, sha1: str) -> dict[str, Any]:
        envelope = assets.key(P, uid=uid, targets=["maps-android-backend.googleapis.com"])
        envelope["resource"]["data"]["restrictions"]["androidKeyRestrictions"] = {
            "allowedApplications": [{"packageName": "com.acme.mobile", "sha1Fingerprint": sha1}]
        }
        return envelope

    plain = "DA39A3EE5E6B4B0D3255BFEF95601890AFD80709"
    envelopes = [
        assets.project(P, "acme-mobile"),
        android("same", COLONS),
        android("moved", COLONS),
    ]
    listed = [android("same", plain), android("moved", plain.replace("DA39", "DB39"))]
    fake = FakeListKeys(keys={P: [e["resource"]["data"] for e in listed]})
    with serve(envelopes) as cai, FakeListKeysServer(fake) as api:
        apikeys, _, _ = source(cai, api)
        cloud_asset = CloudAssetSource(cai.client(), SCOPE, FAST, [assets.GEMINI])
        seen, found = compare(cloud_asset, apikeys)
    assert seen == 2
    assert [(d.key_name.rsplit("/", 1)[-1], d.field) for d in found] == [
        ("moved", "application_values")
    ]
