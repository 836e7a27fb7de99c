"""The export reader: both envelopes, gzip, and errors that name file and line."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from scanner.core.errors import InputError
from scanner.core.models import AppRestriction, KeyType
from scanner.sources.inventory.export import ExportSource
from scanner.sources.inventory.source import records
from tests import assets

GEMINI_SERVICES = ["generativelanguage.googleapis.com", "aiplatform.googleapis.com"]


def read(*paths: Path) -> dict[str, object]:
    source = ExportSource(list(paths), GEMINI_SERVICES)
    context = source.load_context()
    return {k.uid: k for k in records(source, context)}


def test_ndjson_envelope(tmp_path: Path) -> None:
    path = assets.write_ndjson(tmp_path / "org.jsonl", assets.small_org())
    keys = read(path)
    assert set(keys) == {"k-unrestricted", "k-gemini-std", "k-auth", "k-maps", "k-deleted"}
    unrestricted = keys["k-unrestricted"]
    assert unrestricted.api_targets == () and unrestricted.project_id == "alpha"
    assert unrestricted.gemini_enabled is True
    assert keys["k-maps"].gemini_enabled is False
    assert keys["k-maps"].application_restriction is AppRestriction.BROWSER
    assert keys["k-auth"].key_type is KeyType.AUTH
    assert keys["k-deleted"].deleted is not None


def test_gcloud_list_json_array_with_camel_case(tmp_path: Path) -> None:
    path = tmp_path / "list.json"
    path.write_text(json.dumps([assets.camel_case(e) for e in assets.small_org()], indent=2))
    ndjson = assets.write_ndjson(tmp_path / "org.jsonl", assets.small_org())
    assert read(path) == read(ndjson)


def test_gzip_by_content_not_name(tmp_path: Path) -> None:
    path = tmp_path / "export.data"
    with gzip.open(path, "wt") as handle:
        for envelope in assets.small_org():
            handle.write(json.dumps(envelope) + "\n")
    assert len(read(path)) == 5


def test_cloudapis_target_means_unrestricted(tmp_path: Path) -> None:
    path = assets.write_ndjson(
        tmp_path / "a.jsonl",
        [
            assets.project("100", "alpha"),
            assets.key("100", uid="all", targets=["cloudapis.googleapis.com"]),
            assets.key("100", uid="empty", targets=[]),
        ],
    )
    keys = read(path)
    assert keys["all"].api_targets == () and keys["empty"].api_targets == ()


def test_gemini_unknown_without_service_assets(tmp_path: Path) -> None:
    path = assets.write_ndjson(
        tmp_path / "a.jsonl", [assets.project("100", "alpha"), assets.key("100", uid="x")]
    )
    assert read(path)["x"].gemini_enabled is None


def test_nanosecond_timestamps(tmp_path: Path) -> None:
    envelope = assets.key("100", uid="ns", created="2025-01-02T03:04:05.123456789Z")
    keys = read(assets.write_ndjson(tmp_path / "a.jsonl", [envelope]))
    assert keys["ns"].created.isoformat() == "2025-01-02T03:04:05.123456+00:00"


def test_malformed_line_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    lines = [json.dumps(e) for e in assets.small_org()]
    lines.insert(3, '{"name": "//apikeys.googleapis.com/x", "asset_type": ')
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError, match=rf"^{path}:4: malformed JSON"):
        read(path)


def test_asset_missing_fields_names_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(assets.project("1", "p")) + "\n" + '{"foo": 1}\n')
    with pytest.raises(InputError, match=rf"^{path}:2: an asset needs 'name'"):
        read(path)


def test_bad_key_field_names_line_and_field(tmp_path: Path) -> None:
    envelope = assets.key("100", uid="x")
    envelope["resource"]["data"]["createTime"] = "yesterday"
    path = assets.write_ndjson(tmp_path / "a.jsonl", [assets.project("1", "p"), envelope])
    with pytest.raises(InputError, match=rf"^{path}:2: resource.data.createTime"):
        read(path)


def test_missing_file_and_not_utf8(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read"):
        read(tmp_path / "absent.jsonl")
    path = tmp_path / "latin1.jsonl"
    path.write_bytes(b'{"name": "\xff"}\n')
    with pytest.raises(InputError, match=rf"^{path}:1: not UTF-8 or UTF-16 text"):
        read(path)


def test_truncated_gzip(tmp_path: Path) -> None:
    path = tmp_path / "cut.jsonl.gz"
    blob = gzip.compress("".join(json.dumps(e) + "\n" for e in assets.small_org()).encode())
    path.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(InputError, match=rf"^{path}: cannot read"):
        read(path)


def test_array_error_names_line(tmp_path: Path) -> None:
    path = tmp_path / "list.json"
    path.write_text('[\n  {"name": "a",\n  "assetType": }\n]\n')
    with pytest.raises(InputError, match=rf"^{path}:3: invalid JSON: Expecting value"):
        read(path)


@pytest.mark.parametrize(
    ("restrictions", "field"),
    [
        (
            {"browserKeyRestrictions": ["*"]},
            "restrictions.browserKeyRestrictions: expected an object",
        ),
        ({"serverKeyRestrictions": {"allowedIps": "0.0.0.0/0"}}, "allowedIps: expected a list"),
        ({"androidKeyRestrictions": {"allowedApplications": ["x"]}}, "expected a list of objects"),
        ({"apiTargets": [{"methods": ["*"]}]}, "apiTargets[0].service: missing"),
        ("none", "resource.data.restrictions: expected an object"),
    ],
)
def test_odd_restriction_shapes_name_the_field(
    tmp_path: Path, restrictions: object, field: str
) -> None:
    envelope = assets.key("100", uid="odd")
    envelope["resource"]["data"]["restrictions"] = restrictions
    path = assets.write_ndjson(tmp_path / "a.jsonl", [envelope])
    with pytest.raises(InputError) as caught:
        read(path)
    assert str(caught.value).startswith(f"{path}:1: ") and field in str(caught.value)
