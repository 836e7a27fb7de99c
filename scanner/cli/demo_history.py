"""The demo's earlier days: the sample organization as it stood some days
before, derived from the sample export (scanner/samples/demo-org.jsonl, whose
shapes cite their public samples), so that the demo's own scan has news to
send and `demo --days N` leaves a history of N daily scans with a story:

- 4 days before and earlier, "student key" was limited to the Gemini API; its
  API restrictions were removed since (it turns blocked 3 days before);
- 3 days before and earlier, "sandbox broad (auth, unrestricted)" had no IP
  restriction (added since: its finding is fixed 2 days before);
- 2 days before and earlier, "maps web key" admitted every referrer (narrowed
  since: fixed the day before);
- the day before, "checkout prod gemini" did not exist, "checkout maps" had no
  restriction (fixed on the demo's day) and "pipeline unrestricted" was limited
  to BigQuery (loosened on the demo's day);
- a key created after a day (its createTime) is not there that day."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any

NEW_SINCE = "checkout prod gemini"  # not there the day before
FIXED_SINCE = "checkout maps"  # unrestricted the day before
LOOSENED_SINCE = "pipeline unrestricted"  # limited to BigQuery the day before
BIGQUERY = "bigquery.googleapis.com"
GEMINI = "generativelanguage.googleapis.com"

Change = Callable[[dict[str, Any]], dict[str, Any] | None]


def _absent(data: dict[str, Any]) -> None:
    return None


def _unrestricted(data: dict[str, Any]) -> dict[str, Any]:
    return data | {"restrictions": {}}


def _bigquery_only(data: dict[str, Any]) -> dict[str, Any]:
    restrictions = dict(data.get("restrictions") or {})
    return data | {"restrictions": restrictions | {"apiTargets": [{"service": BIGQUERY}]}}


def _gemini_only(data: dict[str, Any]) -> dict[str, Any]:
    return data | {"restrictions": {"apiTargets": [{"service": GEMINI}]}}


def _no_ip_restriction(data: dict[str, Any]) -> dict[str, Any]:
    restrictions = {k: v for k, v in (data.get("restrictions") or {}).items()}
    restrictions.pop("serverKeyRestrictions", None)
    return data | {"restrictions": restrictions}


def _any_referrer(data: dict[str, Any]) -> dict[str, Any]:
    restrictions = dict(data.get("restrictions") or {})
    restrictions["browserKeyRestrictions"] = {"allowedReferrers": ["*"]}
    return data | {"restrictions": restrictions}


# (days before the demo's day from which it applies, display name, change)
CHANGES: tuple[tuple[int, str, Change], ...] = (
    (1, NEW_SINCE, _absent),
    (1, FIXED_SINCE, _unrestricted),
    (1, LOOSENED_SINCE, _bigquery_only),
    (2, "maps web key", _any_referrer),
    (3, "sandbox broad (auth, unrestricted)", _no_ip_restriction),
    (4, "student key", _gemini_only),
)


def _then(asset: dict[str, Any], days: int, day: date) -> dict[str, Any] | None:
    resource = asset.get("resource") or {}
    data = resource.get("data") or {}
    name = data.get("displayName")
    created = data.get("createTime")
    if created and datetime.fromisoformat(created.replace("Z", "+00:00")).date() > day:
        return None
    for since, display_name, change in CHANGES:
        if name == display_name and days >= since:
            changed = change(dict(data))
            if changed is None:
                return None
            data = changed
    if data is not (resource.get("data") or {}):
        asset = asset | {"resource": resource | {"data": data}}
    return asset


def days_before(export: Path, into: Path, days: int, today: date) -> Path:
    """Write the organization as it stood DAYS before TODAY to INTO; its path."""
    day = date.fromordinal(today.toordinal() - days)
    lines = []
    for line in export.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        asset = _then(json.loads(line), days, day)
        if asset is not None:
            lines.append(json.dumps(asset, ensure_ascii=False))
    into.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return into
