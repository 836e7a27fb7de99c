"""The inventory context a scan judged with (projects, the Gemini services,
IAM), stored so that a feed scan judges the keys it changes with the same:
a key's owners, key admins and service-account checks come from it. A full
scan stores the context it read; a feed scan that changed it (a service
enabled, an IAM policy set) stores the context it judged with. Stored once
per distinct context, compressed."""

from __future__ import annotations

import hashlib
import zlib
from dataclasses import dataclass, field
from datetime import datetime
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
    # When a feed last changed each asset of the context (by asset name and
    # content): a feed message no newer changes nothing. Empty after a full scan.
    changed: dict[str, datetime] = field(default_factory=dict)


# The service of a Gemini project whose services a context stored before it
# named them: no feed message disables it, so the project stays Gemini-capable
# until the next full scan.
UNNAMED_SERVICE = "(unnamed)"


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
        "gemini_services": {
            number: sorted(names) for number, names in sorted(context.gemini_services.items())
        },
        "changed": {name: at.isoformat() for name, at in sorted(judged.changed.items())},
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
    gemini = frozenset(document["gemini_projects"])
    services = document.get("gemini_services")
    if services is None:
        services = {number: [UNNAMED_SERVICE] for number in gemini}
    context = InventoryContext(
        projects,
        gemini,
        document["services_known"],
        document["scope"],
        iam,
        {number: frozenset(names) for number, names in services.items()},
    )
    changed = {name: datetime.fromisoformat(at) for name, at in document.get("changed", {}).items()}
    return Judged(context, document["usage_read"], document["audit_read"], changed)


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


def last_judged(conn: Connection) -> Judged | None:
    """The context stored last: the last full scan's, as feed scans since
    have edited it."""
    query = select(InventoryContextRow.document).order_by(InventoryContextRow.scan_id.desc())
    data = conn.scalar(query.limit(1))
    return None if data is None else _judged(orjson.loads(zlib.decompress(data)))


def changed_since(conn: Connection, scan_id: int) -> bool:
    """Whether a context was stored after scan SCAN_ID: a feed scan judged
    keys with a context that scan did not read."""
    later = select(InventoryContextRow.scan_id).where(InventoryContextRow.scan_id > scan_id)
    return conn.scalar(later.limit(1)) is not None
