"""GitHub secret scanning alerts as the REST API returns them (an array of
alerts with number, secret_type, secret, state, resolution, validity,
publicly_leaked, html_url, repository.full_name, first_location_detected)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from scanner.core.models import LeakEvidence
from scanner.core.secrets import redact
from scanner.leaks.formats.common import NOT_GOOGLE, Item, Sighting, Skip, checked

NAME = "github"
# GitHub's secret types for Google keys: standard, Gemini, and bound to a service account.
GOOGLE_SECRET_TYPES = frozenset(
    {"google_api_key", "google_gemini_api_key", "google_gcp_api_key_bound_service_account"}
)
# `unknown` means GitHub could not tell: not that the key is dead.
_VALIDITY = {"active": True, "inactive": False}


def looks_like(raw: Any) -> bool:
    return isinstance(raw, dict) and "secret_type" in raw and "number" in raw


def _closed_as(item: Item) -> str | None:
    """`resolved as revoked` (and the like) for a closed alert: the key is
    still judged by the inventory, so a revoked key that exists is news."""
    if item.text("state") != "resolved":
        return None
    resolution = item.text("resolution")
    return f"resolved as {resolution.replace('_', ' ')}" if resolution else "resolved"


def findings(path: Path, line: int, raw: Any) -> Iterator[Sighting | Skip]:
    """One finding per item."""
    yield parse(path, line, raw)


def parse(path: Path, line: int, raw: Any) -> Sighting | Skip:
    item = Item(path, line, raw, "GitHub secret scanning alert")
    number = item.number("number")
    secret_type = item.text("secret_type")
    if number is None or secret_type is None:
        raise item.fail("number", "missing: not a GitHub secret scanning alert")
    if secret_type not in GOOGLE_SECRET_TYPES:
        return NOT_GOOGLE
    secret = item.secret("secret")
    if not secret:
        return Skip("secret hidden by GitHub (the token cannot read alert secrets)")
    found = checked(secret)
    if isinstance(found, Skip):
        return found
    repository = item.text("full_name", within=item.mapping("repository"))
    html_url = item.text("html_url")
    location = item.mapping("first_location_detected")
    return Sighting(
        secret=secret,
        source_ref=f"{repository or html_url or ''}#{number}",
        evidence=LeakEvidence(
            tool=NAME,
            redacted=redact(secret),
            repository=repository,
            file=item.text("path", within=location),
            line=item.number("start_line", within=location),
            link=html_url,
            commit=item.text("commit_sha", within=location),
            first_reported=item.instant("created_at"),
            verified=_VALIDITY.get(str(raw.get("validity"))),
            publicly_leaked=item.flag("publicly_leaked"),
            scanner_status=_closed_as(item),
        ),
        warnings=tuple(item.warnings),
    )
