"""The inventory context a full scan judged with (projects, the Gemini
services, IAM), stored so that a feed scan judges the keys it changes with
the same: a key's owners, key admins and service-account checks come from
it. Stored once per distinct context, compressed."""

from __future__ import annotations

import hashlib
import zlib
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Connection, insert, select

from scanner.core.models import IamIndex, InventoryContext, ProjectRecord, ServiceAccountRecord
from scanner.store.side_tables import InventoryContextRow


@dataclass(frozen=True)
class Judged:
    """What a full scan judged its keys with: the context, and whether it
    read usage and the audit log (which rules ran, and whose figures count)."""

    context: InventoryContext
    usage_read: bool
    audit_read: bool


def _document(judged: Judged) -> dict[str, Any]:
    context = judged.context
    iam = context.iam
    return {
        "usage_read": judged.usage_read,
        "audit_read": judged.audit_read,
        "projects": [
            [p.number, p.project_id, p.display_name, p.lifecycle_state, p.labels, p.ancestors]
            for p in sorted(context.projects.values(), key=lambda p: p.number)
        ],
        "gemini_projects": sorted(context.gemini_projects),
        "services_known": context.services_known,
        "scope": context.scope,
        "iam": None
        if iam is None
        else {
            "bindings": {
                resource: {role: sorted(members) for role, members in sorted(roles.items())}
                for resource, roles in sorted(iam.bindings.items())
            },
            "service_accounts": [
                [a.email, a.project_id, a.disabled] for _, a in sorted(iam.service_accounts.items())
            ],
            "service_account_projects": sorted(iam.service_account_projects),
            "custom_roles": {
                role: sorted(permissions) for role, permissions in sorted(iam.custom_roles.items())
            },
        },
    }


def _judged(document: dict[str, Any]) -> Judged:
    projects = {
        row[0]: ProjectRecord(
            row[0],
            row[1],
            row[2],
            row[3],
            tuple((k, v) for k, v in row[4]),
            tuple(row[5]),
        )
        for row in document["projects"]
    }
    raw = document["iam"]
    iam = None
    if raw is not None:
        iam = IamIndex(
            bindings={
                resource: {role: frozenset(members) for role, members in roles.items()}
                for resource, roles in raw["bindings"].items()
            },
            service_accounts={
                email: ServiceAccountRecord(email, project_id, disabled)
                for email, project_id, disabled in raw["service_accounts"]
            },
            service_account_projects=frozenset(raw["service_account_projects"]),
            custom_roles={role: frozenset(p) for role, p in raw["custom_roles"].items()},
        )
    context = InventoryContext(
        projects,
        frozenset(document["gemini_projects"]),
        document["services_known"],
        document["scope"],
        iam,
    )
    return Judged(context, document["usage_read"], document["audit_read"])


def record_context(conn: Connection, scan_id: int, judged: Judged) -> None:
    """JUDGED as scan SCAN_ID's, unless the last one stored is the same."""
    data = orjson.dumps(_document(judged))
    digest = hashlib.sha256(data).hexdigest()
    last = conn.scalar(
        select(InventoryContextRow.digest)
        .where(InventoryContextRow.scan_id < scan_id)
        .order_by(InventoryContextRow.scan_id.desc())
        .limit(1)
    )
    if last == digest:
        return
    row = {"scan_id": scan_id, "digest": digest, "document": zlib.compress(data, 6)}
    conn.execute(insert(InventoryContextRow).values(**row))


def judged_as_of(conn: Connection, scan_id: int) -> Judged | None:
    """What scan SCAN_ID judged with: the last stored at or before it."""
    data = conn.scalar(
        select(InventoryContextRow.document)
        .where(InventoryContextRow.scan_id <= scan_id)
        .order_by(InventoryContextRow.scan_id.desc())
        .limit(1)
    )
    return None if data is None else _judged(orjson.loads(zlib.decompress(data)))
