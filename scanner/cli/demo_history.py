"""The demo's day before: the sample organization as it stood one day
earlier, derived from the sample export (scanner/samples/demo-org.jsonl,
whose shapes cite their public samples), so that the demo's own scan has
news to send: a key created since, a key restricted since (resolved as
fixed) and a key whose API restrictions were removed since."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

NEW_SINCE = "checkout prod gemini"  # not there the day before
FIXED_SINCE = "checkout maps"  # unrestricted the day before
LOOSENED_SINCE = "pipeline unrestricted"  # limited to BigQuery the day before
BIGQUERY = "bigquery.googleapis.com"


def _yesterday(asset: dict[str, Any]) -> dict[str, Any] | None:
    resource = asset.get("resource") or {}
    data = resource.get("data") or {}
    name = data.get("displayName")
    if name == NEW_SINCE:
        return None
    if name == FIXED_SINCE:
        data["restrictions"] = {}
    elif name == LOOSENED_SINCE:
        data.setdefault("restrictions", {})["apiTargets"] = [{"service": BIGQUERY}]
    return asset


def day_before(export: Path, into: Path) -> Path:
    """Write the day-before export next to the demo database; its path."""
    lines = []
    for line in export.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        asset = _yesterday(json.loads(line))
        if asset is not None:
            lines.append(json.dumps(asset, ensure_ascii=False))
    into.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return into
