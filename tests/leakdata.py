"""Key strings and scanner reports for the leak tests. The strings are made
from a seed, so every test knows exactly which strings must never appear in
what keysentry writes."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

FINGERPRINT_KEY = "test-fingerprint-secret-0123456789"
_URLSAFE = str.maketrans("+/", "-_")


def _body(seed: str, length: int) -> str:
    raw = base64.b64encode(hashlib.sha512(seed.encode()).digest()).decode()
    return raw.translate(_URLSAFE).replace("=", "A")[:length]


def standard_key(seed: str) -> str:
    return "AIza" + _body(seed, 35)


def auth_key(seed: str) -> str:
    return "AQ.Ab8RN6" + _body(seed, 44)


def gitleaks_finding(
    secret: str, file: str = "app/config.js", line: int = 12, **extra: Any
) -> dict[str, Any]:
    commit = hashlib.sha1(f"{file}{line}".encode()).hexdigest()
    return {
        "Description": "GCP API key",
        "StartLine": line,
        "EndLine": line,
        "StartColumn": 7,
        "EndColumn": 46,
        "Match": f'key = "{secret}"',
        "Secret": secret,
        "File": file,
        "SymlinkFile": "",
        "Commit": commit,
        "Entropy": 4.8,
        "Author": "Dana Dev",
        "Email": "dana@example.com",
        "Date": "2026-11-10T08:00:00Z",
        "Message": "add config",
        "Tags": [],
        "RuleID": "gcp-api-key",
        "Fingerprint": f"{commit}:{file}:gcp-api-key:{line}",
        "Link": f"https://github.com/acme/web/blob/{commit}/{file}#L{line}",
        **extra,
    }


def trufflehog_finding(secret: str, file: str = "deploy/env.yaml", line: int = 4) -> dict[str, Any]:
    return {
        "SourceMetadata": {
            "Data": {
                "Git": {
                    "commit": "0123456789abcdef0123456789abcdef01234567",
                    "file": file,
                    "email": "Robin <robin@example.com>",
                    "repository": "https://github.com/acme/infra.git",
                    "timestamp": "2026-11-12 10:27:56 -0700",
                    "line": line,
                }
            }
        },
        "SourceID": 1,
        "SourceType": 16,
        "SourceName": "trufflehog - git",
        "DetectorType": 16,
        "DetectorName": "GCP",
        "DecoderName": "PLAIN",
        "Verified": True,
        "Raw": secret,
        "RawV2": "",
        "Redacted": secret[:8],
        "ExtraData": None,
        "StructuredData": None,
    }


def github_alert(
    secret: str, number: int, secret_type: str = "google_api_key", **extra: Any
) -> dict[str, Any]:
    return {
        "number": number,
        "created_at": "2026-11-14T12:00:00Z",
        "url": f"https://api.github.com/repos/acme/site/secret-scanning/alerts/{number}",
        "html_url": f"https://github.com/acme/site/security/secret-scanning/{number}",
        "locations_url": f"https://api.github.com/repos/acme/site/secret-scanning/alerts/{number}/locations",
        "state": "open",
        "resolution": None,
        "secret_type": secret_type,
        "secret_type_display_name": "Google API Key",
        "secret": secret,
        "validity": "active",
        "publicly_leaked": True,
        "multi_repo": False,
        "repository": {"id": 1, "name": "site", "full_name": "acme/site"},
        "first_location_detected": {
            "path": "public/index.html",
            "start_line": 40,
            "end_line": 40,
            "commit_sha": "89abcdef0123456789abcdef0123456789abcdef",
        },
        **extra,
    }


def write_json(path: Path, value: Any) -> Path:
    path.write_text(json.dumps(value, indent=2), encoding="utf-8")
    return path


def write_lines(path: Path, values: list[Any]) -> Path:
    path.write_text("".join(json.dumps(v) + "\n" for v in values), encoding="utf-8")
    return path
