"""betterleaks reports (`betterleaks ... --report-format json`), a gitleaks
descendant. What its versions write:

- gitleaks' fields (RuleID, Secret, File, StartLine, Commit, ...) with an
  `Attributes` map (`git.sha`, `git.author_email`, `git.date`,
  `git.remote_url`, `path`) and `ValidationStatus` (valid, invalid,
  revoked, needs_validation, unknown, error): betterleaks/betterleaks
  report/finding.go and report/validation_status.go; DefectDojo's
  unittests/scans/betterleaks/betterleaks_one_finding.json. Early builds
  put the same facts in `Metadata` (`commit_sha`, `author_email`,
  `commit_date`, `path`).
- v1 in camelCase (`ruleID`, `secret`, `attributes`, `validation.status`)
  and v2 (a document with `schema_version` and `findings`, each with
  `match.value` and `location.path`): no public sample of either was found,
  so every field is read defensively and a missing one only drops evidence.

`--legacy` output is gitleaks' own shape and is read as gitleaks."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from scanner.leaks.formats.common import Item, Sighting, Skip, checked, objects, sighting
from scanner.leaks.formats.gitleaks import repository_of

NAME = "betterleaks"
# What a status says about the key; the rest (needs_validation, unknown,
# error, none) say nobody knows.
_STATUS = {"valid": True, "invalid": False, "revoked": False}


def looks_like(raw: Any) -> bool:
    if not isinstance(raw, dict):
        return False
    if "schema_version" in raw and isinstance(raw.get("findings"), list):
        return True
    if ("ruleID" in raw or "ruleId" in raw) and "secret" in raw:
        return True
    return "RuleID" in raw and any(f in raw for f in ("Attributes", "ValidationStatus", "Metadata"))


def findings(path: Path, line: int, raw: Any) -> Iterator[Sighting | Skip]:
    item = Item(path, line, raw, "betterleaks finding")
    if "schema_version" in raw:
        for entry in objects(item, "findings"):
            yield _v2(Item(path, line, entry, "betterleaks finding"))
    elif "RuleID" in raw:
        yield _flat(item, item.mapping("Attributes") or _from_metadata(item))
    elif "ruleID" in raw or "ruleId" in raw:
        yield _v1(item)
    else:
        raise item.fail("RuleID", "missing: not a betterleaks finding")


def _from_metadata(item: Item) -> dict[str, Any]:
    """The early `Metadata` map under the names `Attributes` uses."""
    metadata = item.mapping("Metadata")
    names = {"commit_sha": "git.sha", "author_email": "git.author_email", "commit_date": "git.date"}
    return {names.get(k, k): v for k, v in metadata.items()}


def _remote(url: str | None) -> str | None:
    """host/owner/repo of a git remote (https://host/owner/repo.git or git@host:owner/repo)."""
    if not url:
        return None
    if url.startswith("git@") and ":" in url:
        host, rest = url[4:].split(":", 1)
        url = f"https://{host}/{rest}"
    return repository_of(url.removesuffix(".git"))


def _sighting(item: Item, secret: Any, ref: list[Any], evidence: dict[str, Any]) -> Sighting | Skip:
    if secret is not None and not isinstance(secret, str):
        raise item.fail("secret", f"expected a string, not {type(secret).__name__}")
    found = checked((secret or "").strip() or None)
    if isinstance(found, Skip):
        return found
    return sighting(item, found, ref, NAME, **evidence)


def _flat(item: Item, attributes: dict[str, Any]) -> Sighting | Skip:
    link = item.text("Link")
    file = item.text("File") or item.text("path", within=attributes)
    commit = item.text("Commit") or item.text("git.sha", within=attributes)
    start = item.number("StartLine")
    ref = [item.text("Fingerprint"), commit, file, start]
    return _sighting(
        item,
        item.get("Secret"),
        ref,
        {
            "repository": repository_of(link)
            or _remote(item.text("git.remote_url", within=attributes)),
            "file": file,
            "line": start,
            "link": link,
            "commit": commit,
            "author": item.text("Email") or item.text("git.author_email", within=attributes),
            "first_reported": item.instant("Date") or item.instant("git.date", within=attributes),
            "verified": _STATUS.get(str(item.get("ValidationStatus") or "").lower()),
        },
    )


def _v1(item: Item) -> Sighting | Skip:
    attributes = item.mapping("attributes")
    validation = item.mapping("validation")
    file = item.text("file") or item.text("path", within=attributes)
    commit = item.text("commit") or item.text("git.sha", within=attributes)
    start = item.number("startLine")
    ref = [item.text("fingerprint"), commit, file, start]
    return _sighting(
        item,
        item.get("secret"),
        ref,
        {
            "repository": _remote(item.text("git.remote_url", within=attributes)),
            "file": file,
            "line": start,
            "link": item.text("link"),
            "commit": commit,
            "author": item.text("git.author_email", within=attributes),
            "first_reported": item.instant("git.date", within=attributes),
            "verified": _STATUS.get(str(validation.get("status") or "").lower()),
        },
    )


def _v2(item: Item) -> Sighting | Skip:
    match = item.mapping("match")
    location = item.mapping("location")
    git = item.mapping("git", within=location) or item.mapping("git")
    validation = item.mapping("validation")
    file = item.text("path", within=location)
    start = item.number("line", within=location) or item.number("start_line", within=location)
    commit = item.text("commit", within=git) or item.text("sha", within=git)
    ref = [item.text("fingerprint") or item.text("id"), commit, file, start]
    return _sighting(
        item,
        match.get("value"),
        ref,
        {
            "repository": _remote(item.text("remote_url", within=git)),
            "file": file,
            "line": start,
            "link": item.text("url", within=location),
            "commit": commit,
            "author": item.text("author_email", within=git),
            "first_reported": item.instant("date", within=git),
            "verified": _STATUS.get(str(validation.get("status") or "").lower()),
        },
    )
