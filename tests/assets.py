"""Builders for Cloud Asset envelopes (export format) used across the tests."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

ORG = "organizations/900000000001"
GEMINI = "generativelanguage.googleapis.com"
_counter = itertools.count(1)


def project(
    number: str,
    project_id: str,
    name: str = "A project",
    labels: dict[str, str] | None = None,
    folder: str | None = None,
) -> dict[str, Any]:
    ancestors = [f"projects/{number}", *([folder] if folder else []), ORG]
    return {
        "name": f"//cloudresourcemanager.googleapis.com/projects/{number}",
        "asset_type": "cloudresourcemanager.googleapis.com/Project",
        "resource": {
            "version": "v1",
            "discovery_name": "Project",
            "data": {
                "projectNumber": number,
                "projectId": project_id,
                "name": name,
                "lifecycleState": "ACTIVE",
                **({"labels": labels} if labels else {}),
            },
        },
        "ancestors": ancestors,
    }


def iam_policy(resource: str, bindings: dict[str, list[str]], org: str = ORG) -> dict[str, Any]:
    """An IAM_POLICY asset for organizations/N, folders/N or projects/N of ORG."""
    kind = {"organizations": "Organization", "folders": "Folder", "projects": "Project"}[
        resource.split("/", maxsplit=1)[0]
    ]
    return {
        "name": f"//cloudresourcemanager.googleapis.com/{resource}",
        "asset_type": f"cloudresourcemanager.googleapis.com/{kind}",
        "iam_policy": {
            "bindings": [{"role": role, "members": members} for role, members in bindings.items()]
        },
        "ancestors": [resource, org] if resource != org else [org],
    }


def service_account(
    number: str, project_id: str, account: str, disabled: bool = False
) -> dict[str, Any]:
    email = f"{account}@{project_id}.iam.gserviceaccount.com"
    return {
        "name": f"//iam.googleapis.com/projects/{project_id}/serviceAccounts/{email}",
        "asset_type": "iam.googleapis.com/ServiceAccount",
        "resource": {
            "version": "v1",
            "discovery_name": "ServiceAccount",
            "data": {
                "email": email,
                "name": f"projects/{project_id}/serviceAccounts/{email}",
                "projectId": project_id,
                "disabled": disabled,
            },
        },
        "ancestors": [f"projects/{number}", ORG],
    }


def custom_role(name: str, permissions: list[str]) -> dict[str, Any]:
    return {
        "name": f"//iam.googleapis.com/{name}",
        "asset_type": "iam.googleapis.com/Role",
        "resource": {
            "version": "v1",
            "discovery_name": "Role",
            "data": {"name": name, "includedPermissions": permissions},
        },
        "ancestors": [ORG],
    }


def service(number: str, service_name: str, state: str = "ENABLED") -> dict[str, Any]:
    return {
        "name": f"//serviceusage.googleapis.com/projects/{number}/services/{service_name}",
        "asset_type": "serviceusage.googleapis.com/Service",
        "resource": {
            "version": "v1",
            "discovery_name": "Service",
            "data": {
                "name": f"projects/{number}/services/{service_name}",
                "parent": f"projects/{number}",
                "state": state,
            },
        },
        "ancestors": [f"projects/{number}", ORG],
    }


def key(
    number: str = "100",
    *,
    uid: str | None = None,
    display_name: str = "a key",
    created: str = "2026-11-01T00:00:00Z",
    targets: list[str] | None = None,
    browser: list[str] | None = None,
    server: list[str] | None = None,
    service_account: str | None = None,
    deleted: str | None = None,
) -> dict[str, Any]:
    uid = uid or f"uid-{next(_counter)}"
    restrictions: dict[str, Any] = {}
    if targets is not None:
        restrictions["apiTargets"] = [{"service": t} for t in targets]
    if browser is not None:
        restrictions["browserKeyRestrictions"] = {"allowedReferrers": browser}
    if server is not None:
        restrictions["serverKeyRestrictions"] = {"allowedIps": server}
    data: dict[str, Any] = {
        "name": f"projects/{number}/locations/global/keys/{uid}",
        "uid": uid,
        "displayName": display_name,
        "createTime": created,
        "updateTime": created,
        "restrictions": restrictions,
    }
    if service_account:
        data["serviceAccountEmail"] = service_account
    if deleted:
        data["deleteTime"] = deleted
    return {
        "name": f"//apikeys.googleapis.com/{data['name']}",
        "asset_type": "apikeys.googleapis.com/Key",
        "resource": {"version": "v2", "discovery_name": "Key", "data": data},
        "ancestors": [f"projects/{number}", ORG],
    }


def write_ndjson(path: Path, envelopes: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(e) + "\n" for e in envelopes), encoding="utf-8")
    return path


def camel_case(envelope: dict[str, Any]) -> dict[str, Any]:
    """The `gcloud asset list --format=json` shape of an envelope."""
    out = {k: v for k, v in envelope.items() if k != "asset_type"}
    out["assetType"] = envelope["asset_type"]
    resource = dict(envelope["resource"])
    resource["discoveryName"] = resource.pop("discovery_name", "")
    out["resource"] = resource
    return out


def small_org() -> list[dict[str, Any]]:
    """Two projects (Gemini on in one), five keys across the main cases."""
    return [
        project("100", "alpha"),
        project("200", "beta"),
        service("100", GEMINI),
        service("200", "maps-backend.googleapis.com"),
        key("100", uid="k-unrestricted", display_name="unrestricted std"),
        key("100", uid="k-gemini-std", targets=[GEMINI], server=["192.0.2.1/32"]),
        key(
            "100",
            uid="k-auth",
            targets=[GEMINI],
            server=["192.0.2.2/32"],
            service_account="sa@alpha.iam.gserviceaccount.com",
        ),
        key("200", uid="k-maps", targets=["maps-backend.googleapis.com"], browser=["*"]),
        key("200", uid="k-deleted", deleted="2026-10-01T00:00:00Z"),
    ]
