"""The report parsers and the streaming reader: each format's fields, skips
with reasons, errors that name file and line, and properties that must hold
for any input (hypothesis)."""

from __future__ import annotations

import gzip
import json
import string
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scanner.core.errors import ConfigError, InputError
from scanner.core.secrets import Fingerprinter, kind_of, redact, scrub
from scanner.inputs import jsonstream
from scanner.leaks.formats.common import Sighting, Skip
from scanner.leaks.reports import FORMATS, files_of, read
from tests import leakdata

KEY = leakdata.standard_key("formats")
AUTH = leakdata.auth_key("formats")


def results(path: Path, fmt: str | None = None) -> list[Sighting | Skip]:
    return [result for _, result in read(path, fmt)]


def test_gitleaks_fields_and_skips(tmp_path: Path) -> None:
    report = [
        leakdata.gitleaks_finding(KEY),
        leakdata.gitleaks_finding("ghp_" + "x" * 36, RuleID="github-pat"),
        leakdata.gitleaks_finding("REDACTED"),
    ]
    found = results(leakdata.write_json(tmp_path / "gl.json", report))
    sighting = found[0]
    assert isinstance(sighting, Sighting)
    assert sighting.secret == KEY and sighting.evidence.tool == "gitleaks"
    assert sighting.evidence.repository == "github.com/acme/web"
    assert (sighting.evidence.file, sighting.evidence.line) == ("app/config.js", 12)
    assert sighting.evidence.first_reported == datetime(2026, 11, 10, 8, tzinfo=UTC)
    assert sighting.evidence.author == "dana@example.com"
    assert found[1] == Skip("not a Google key")
    assert isinstance(found[2], Skip) and "--redact" in found[2].reason
    assert KEY not in repr(sighting)


def test_trufflehog_fields(tmp_path: Path) -> None:
    path = leakdata.write_lines(
        tmp_path / "th.jsonl",
        [leakdata.trufflehog_finding(AUTH), leakdata.trufflehog_finding("AKIA" + "A" * 16)],
    )
    first, second = results(path)
    assert isinstance(first, Sighting)
    assert first.secret == AUTH and first.evidence.verified is True
    assert first.evidence.repository == "https://github.com/acme/infra.git"
    assert first.evidence.first_reported == datetime(2026, 11, 12, 17, 27, 56, tzinfo=UTC)
    assert second == Skip("not a Google key")


def test_github_alerts_fields_and_skips(tmp_path: Path) -> None:
    alerts = [
        leakdata.github_alert(KEY, 1),
        leakdata.github_alert(
            AUTH, 2, "google_gcp_api_key_bound_service_account", validity="inactive"
        ),
        leakdata.github_alert("xoxb-123", 3, "slack_api_token"),
        {**leakdata.github_alert(KEY, 4), "secret": None},
    ]
    found = results(leakdata.write_json(tmp_path / "gh.json", alerts))
    first, second = found[0], found[1]
    assert isinstance(first, Sighting) and isinstance(second, Sighting)
    assert first.evidence.publicly_leaked is True and first.evidence.verified is True
    assert (first.evidence.repository, first.evidence.file, first.evidence.line) == (
        "acme/site",
        "public/index.html",
        40,
    )
    assert first.source_ref == "acme/site#1"
    assert second.secret == AUTH and second.evidence.verified is False
    assert found[2] == Skip("not a Google key")
    assert isinstance(found[3], Skip) and "hidden" in found[3].reason


def test_format_detection_and_errors_name_file_and_line(tmp_path: Path) -> None:
    unknown = leakdata.write_json(tmp_path / "other.json", [{"foo": 1}])
    with pytest.raises(InputError, match=r"other.json:2: not an item of a report keysentry reads"):
        results(unknown)
    wrong = leakdata.write_json(tmp_path / "gl.json", [leakdata.gitleaks_finding(KEY)])
    with pytest.raises(InputError, match=r"gl.json:2: number: missing"):
        results(wrong, "github")
    bad_line = leakdata.write_json(
        tmp_path / "bad.json",
        [leakdata.gitleaks_finding(KEY), leakdata.gitleaks_finding(KEY, StartLine="twelve")],
    )
    # An unreadable evidence field is left out and counted, never a failed import.
    first, second = results(bad_line)
    assert isinstance(second, Sighting) and second.evidence.line is None
    assert second.warnings == ("gitleaks StartLine unreadable",)
    assert isinstance(first, Sighting) and first.warnings == () and first.evidence.line == 12
    truncated = tmp_path / "cut.json"
    truncated.write_text(json.dumps([leakdata.gitleaks_finding(KEY)] * 2)[:-40])
    with pytest.raises(InputError, match=r"cut.json:1: invalid JSON: truncated"):
        results(truncated)
    with pytest.raises(InputError, match="no such file"):
        files_of([tmp_path / "missing.json"])


def test_gzip_and_directories(tmp_path: Path) -> None:
    folder = tmp_path / "reports"
    folder.mkdir()
    with gzip.open(folder / "a.json.gz", "wt") as handle:
        json.dump([leakdata.gitleaks_finding(KEY)], handle)
    leakdata.write_lines(folder / "b.jsonl", [leakdata.trufflehog_finding(AUTH)])
    (folder / ".hidden").write_text("not a report")
    files = files_of([folder])
    assert [p.name for p in files] == ["a.json.gz", "b.jsonl"]
    secrets = [r.secret for p in files for r in results(p) if isinstance(r, Sighting)]
    assert secrets == [KEY, AUTH]


def test_fingerprints_need_a_long_enough_secret() -> None:
    with pytest.raises(ConfigError, match="KEYSENTRY_FINGERPRINT_KEY is not set"):
        Fingerprinter.from_environment({})
    with pytest.raises(ConfigError, match="too short"):
        Fingerprinter.from_environment({"KEYSENTRY_FINGERPRINT_KEY": "short"})
    one = Fingerprinter.from_environment({"KEYSENTRY_FINGERPRINT_KEY": leakdata.FINGERPRINT_KEY})
    other = Fingerprinter(b"another secret of enough length")
    assert one.of(KEY) != other.of(KEY) and one.key_id != other.key_id
    assert one.of(KEY) == one.of(KEY) and KEY not in one.of(KEY)
    assert leakdata.FINGERPRINT_KEY not in repr(one)


# --- properties -----------------------------------------------------------

URLSAFE = string.ascii_letters + string.digits + "-_"
standard_keys = st.text(URLSAFE, min_size=35, max_size=35).map(lambda s: "AIza" + s)
auth_keys = st.text(URLSAFE, min_size=44, max_size=44).map(lambda s: "AQ.Ab8RN6" + s)
any_key = standard_keys | auth_keys
json_scalars = st.none() | st.booleans() | st.integers() | st.text(max_size=20)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=10,
)


@given(key=any_key)
def test_keys_are_recognized_and_redaction_keeps_only_four_characters(key: str) -> None:
    assert kind_of(key) in ("standard", "auth")
    shown = redact(key)
    assert shown.endswith(key[-4:]) and len(shown) <= 9
    assert key[4:-4] not in shown


@given(text=st.text(max_size=60), key=any_key, tail=st.text(max_size=60))
def test_scrub_leaves_no_key_in_any_text(text: str, key: str, tail: str) -> None:
    cleaned = scrub(text + key + tail)
    assert key not in cleaned
    assert key[:-4] not in cleaned


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=60)
@given(
    items=st.lists(st.dictionaries(st.text(max_size=6), json_values, max_size=4), max_size=8),
    indent=st.sampled_from([None, 0, 2]),
    chunk=st.integers(min_value=1, max_value=64),
)
def test_the_streaming_reader_reads_any_array_whatever_the_chunk_size(
    tmp_path: Path, items: list[dict[str, Any]], indent: int | None, chunk: int
) -> None:
    path = tmp_path / "items.json"
    path.write_text(json.dumps(items, indent=indent), encoding="utf-8")
    assert [value for _, value in jsonstream.items(path, chunk)] == items
    lines = tmp_path / "items.jsonl"
    lines.write_text("".join(json.dumps(i) + "\n" for i in items), encoding="utf-8")
    read_back = list(jsonstream.items(lines, chunk))
    assert [value for _, value in read_back] == items
    assert [line for line, _ in read_back] == list(range(1, len(items) + 1))


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=60)
@given(
    items=st.lists(
        st.dictionaries(st.text(max_size=6), json_values, min_size=1), min_size=1, max_size=5
    ),
    cut=st.floats(min_value=0.05, max_value=0.95),
)
def test_a_truncated_report_is_an_error_never_a_shorter_report(
    tmp_path: Path, items: list[dict[str, Any]], cut: float
) -> None:
    text = json.dumps(items, indent=1)
    path = tmp_path / "cut.json"
    path.write_text(text[: max(1, int(len(text) * cut))], encoding="utf-8")
    with pytest.raises(InputError, match=r"cut.json:\d+: invalid JSON"):
        list(jsonstream.items(path, 16))


field_values = json_values | st.floats(allow_nan=False) | any_key


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=150)
@given(
    fmt=st.sampled_from(["gitleaks", "trufflehog", "github"]),
    fields=st.dictionaries(
        st.sampled_from(
            [
                "RuleID",
                "Secret",
                "File",
                "StartLine",
                "Commit",
                "Link",
                "Date",
                "Email",
                "Raw",
                "SourceMetadata",
                "Verified",
                "DetectorName",
                "number",
                "secret_type",
                "secret",
                "validity",
                "publicly_leaked",
                "repository",
                "first_location_detected",
                "created_at",
                "html_url",
            ]
        ),
        field_values,
    ),
)
def test_parsers_fail_only_with_input_errors_that_never_show_a_key(
    tmp_path: Path, fmt: str, fields: dict[str, Any]
) -> None:
    path = leakdata.write_json(tmp_path / "r.json", [fields])
    try:
        parsed = results(path, fmt)
    except InputError as exc:
        assert "r.json:" in str(exc)
        for value in fields.values():
            if isinstance(value, str) and kind_of(value):
                assert value not in str(exc)
        return
    assert len(parsed) == 1


evidence_fields = {
    "gitleaks": ["File", "StartLine", "Commit", "Link", "Date", "Email", "Author", "Fingerprint"],
    "trufflehog": ["timestamp", "line", "file", "commit", "repository", "link", "email"],
}


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=150)
@given(
    fmt=st.sampled_from(sorted(evidence_fields)),
    values=st.lists(field_values, min_size=7, max_size=8),
)
def test_unreadable_evidence_is_left_out_and_counted_never_a_failed_import(
    tmp_path: Path, fmt: str, values: list[Any]
) -> None:
    names = evidence_fields[fmt]
    changes = dict(zip(names, values, strict=False))
    if fmt == "gitleaks":
        finding = leakdata.gitleaks_finding(KEY) | changes
    else:
        finding = leakdata.trufflehog_finding(KEY)
        finding["SourceMetadata"]["Data"]["Git"] |= changes
    path = leakdata.write_json(tmp_path / "r.json", [finding])
    (parsed,) = results(path, fmt)
    assert isinstance(parsed, Sighting) and parsed.secret == KEY
    for warning in parsed.warnings:
        assert warning.startswith(fmt) and warning.endswith("unreadable")
        assert KEY not in warning


def _shaped_like(fmt: str) -> st.SearchStrategy[Any]:
    """Items with the names each format reads, holding any JSON values."""
    names = {
        "ggshield": [
            "type",
            "total_incidents",
            "scans",
            "entities_with_incidents",
            "incidents",
            "occurrences",
            "match",
            "filename",
            "validity",
            "extra_info",
            "id",
        ],
        "noseyparker": [
            "rule_name",
            "matches",
            "groups",
            "match_content",
            "provenance",
            "first_commit",
            "commit_metadata",
            "location",
            "finding_id",
        ],
        "kingfisher": [
            "rule",
            "finding",
            "findings",
            "metadata",
            "snippet",
            "path",
            "line",
            "validation",
            "git_metadata",
            "status",
        ],
        "betterleaks": [
            "RuleID",
            "Secret",
            "Attributes",
            "ValidationStatus",
            "Metadata",
            "ruleID",
            "secret",
            "attributes",
            "validation",
            "schema_version",
            "findings",
            "match",
            "value",
            "location",
        ],
    }.get(fmt, ["RuleID", "Secret", "SourceMetadata", "Raw", "number", "secret_type"])
    keyish = st.sampled_from(names) | st.text(max_size=4)
    values = st.recursive(
        json_scalars | any_key,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keyish, inner, max_size=4),
        max_leaves=12,
    )
    return st.dictionaries(keyish, values, max_size=6)


@settings(max_examples=150)
@given(data=st.data(), fmt=st.sampled_from(sorted(FORMATS)))
def test_any_item_is_findings_skips_or_one_input_error(data: st.DataObject, fmt: str) -> None:
    """Whatever an item holds, a format gives what it found or one error that
    names the file and line: never another exception, never a key in the error."""
    item = data.draw(_shaped_like(fmt))
    try:
        results = list(FORMATS[fmt].findings(Path("r.json"), 3, item))
    except InputError as exc:
        assert str(exc).startswith("r.json:3: ")
        assert "AIza" not in str(exc) and "AQ." not in str(exc)
        return
    assert all(isinstance(r, Sighting | Skip) for r in results)
