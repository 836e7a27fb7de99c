"""gitleaks JSON reports (`gitleaks detect --report-format json`): an array of
findings with RuleID, Secret, Match, File, StartLine, Commit, Link, Author,
Date and Fingerprint."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from scanner.core.models import LeakEvidence
from scanner.core.secrets import GOOGLE_PREFIXES, redact
from scanner.leaks.formats.common import Item, Sighting, Skip, checked

NAME = "gitleaks"


def looks_like(raw: Any) -> bool:
    return isinstance(raw, dict) and "RuleID" in raw and "Secret" in raw


def findings(path: Path, line: int, raw: Any) -> Iterator[Sighting | Skip]:
    """One finding per item."""
    yield parse(path, line, raw)


def parse(path: Path, line: int, raw: Any) -> Sighting | Skip:
    item = Item(path, line, raw, "gitleaks finding")
    if item.get("RuleID") is None or "Secret" not in raw:
        raise item.fail("RuleID", "missing: not a gitleaks finding")
    secret = item.secret("Secret") or ""
    if secret == "REDACTED":  # noqa: S105  (what gitleaks --redact writes)
        return Skip("redacted by the scanner (run gitleaks without --redact)")
    if secret.endswith("...") and secret.startswith(GOOGLE_PREFIXES):
        # --redact=N keeps the first (100-N)% and adds "..." (gitleaks/gitleaks
        # report/finding.go, maskSecret): a Google key, but not one to match.
        return Skip("partly redacted by the scanner (run gitleaks without --redact=N)")
    secret_or_skip = checked(secret)
    if isinstance(secret_or_skip, Skip):
        return secret_or_skip
    link = item.text("Link")
    commit = item.text("Commit")
    file = item.text("File")
    start = item.number("StartLine")
    native = item.text("Fingerprint") or f"{commit or ''}:{file or ''}:{start or ''}"
    return Sighting(
        secret=secret,
        source_ref=native,
        evidence=LeakEvidence(
            tool=NAME,
            redacted=redact(secret),
            repository=repository_of(link),
            file=file,
            line=start,
            link=link,
            commit=commit,
            author=item.text("Email") or item.text("Author"),
            first_reported=item.instant("Date"),
        ),
        warnings=tuple(item.warnings),
    )


def repository_of(link: str | None) -> str | None:
    """host/owner/repo from a GitHub- or GitLab-style blob link."""
    if not link:
        return None
    parts = urlsplit(link)
    segments = [s for s in parts.path.split("/") if s]
    if parts.scheme not in ("http", "https") or len(segments) < 2:
        return None
    return f"{parts.hostname}/{segments[0]}/{segments[1]}"
