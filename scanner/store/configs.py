"""The configuration, timeline and rule catalog in force at each scan:
stored once per distinct digest, named by each scan that was judged under it."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from sqlalchemy import Connection, insert, select

from scanner.store.tables import ScanConfig


def document_digest(document: dict[str, Any]) -> str:
    text = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def record_config(conn: Connection, scan_id: int, document: dict[str, Any]) -> str:
    """Store DOCUMENT unless a scan already did; return its digest."""
    digest = document_digest(document)
    known = conn.scalar(select(ScanConfig.digest).where(ScanConfig.digest == digest))
    if known is None:
        conn.execute(
            insert(ScanConfig).values(digest=digest, first_scan_id=scan_id, document=document)
        )
    return digest


def config_document(conn: Connection, digest: str | None) -> dict[str, Any] | None:
    if digest is None:
        return None
    document = conn.scalar(select(ScanConfig.document).where(ScanConfig.digest == digest))
    return dict(document) if document is not None else None
