"""IAM from Cloud Asset: policies (content type IAM_POLICY) of the
organization, folders and projects; service accounts and custom roles
(content type RESOURCE). Both sources feed an IamBuilder."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from scanner.core.models import IamIndex, ServiceAccountRecord
from scanner.inputs.fields import AssetDataError

ORGANIZATION_TYPE = "cloudresourcemanager.googleapis.com/Organization"
FOLDER_TYPE = "cloudresourcemanager.googleapis.com/Folder"
SERVICE_ACCOUNT_TYPE = "iam.googleapis.com/ServiceAccount"
ROLE_TYPE = "iam.googleapis.com/Role"
POLICY_TYPES = (
    ORGANIZATION_TYPE,
    FOLDER_TYPE,
    "cloudresourcemanager.googleapis.com/Project",
)
_RESOURCE_PREFIX = "//cloudresourcemanager.googleapis.com/"


def policy_resource(asset_name: str) -> str | None:
    """organizations/N, folders/N or projects/N for a resource manager asset."""
    if not asset_name.startswith(_RESOURCE_PREFIX):
        return None
    resource = asset_name[len(_RESOURCE_PREFIX) :]
    kind, _, ident = resource.partition("/")
    if kind not in ("organizations", "folders", "projects") or not ident or "/" in ident:
        return None
    return resource


def policy_bindings(policy: Mapping[str, Any]) -> dict[str, frozenset[str]]:
    bindings = policy.get("bindings") or []
    if not isinstance(bindings, list):
        raise AssetDataError("iam_policy.bindings: expected a list")
    by_role: dict[str, set[str]] = {}
    for index, binding in enumerate(bindings):
        if not isinstance(binding, Mapping):
            raise AssetDataError(f"iam_policy.bindings[{index}]: expected an object")
        role = binding.get("role")
        members = binding.get("members") or []
        if not isinstance(role, str) or not isinstance(members, list):
            raise AssetDataError(f"iam_policy.bindings[{index}]: needs a role and members")
        # A conditional binding grants only under its condition: counted, since a
        # grant that can apply is a grant to report.
        by_role.setdefault(role, set()).update(str(m) for m in members)
    return {role: frozenset(members) for role, members in by_role.items()}


def service_account(asset_name: str, data: Mapping[str, Any]) -> ServiceAccountRecord:
    """An iam.googleapis.com/ServiceAccount asset's resource data."""
    email = data.get("email")
    if not isinstance(email, str) or "@" not in email:
        raise AssetDataError(f"service account {asset_name}: no email")
    project_id = data.get("projectId")
    return ServiceAccountRecord(
        email=email.lower(),
        project_id=project_id if isinstance(project_id, str) else None,
        disabled=bool(data.get("disabled", False)),
    )


def custom_role(asset_name: str, data: Mapping[str, Any]) -> tuple[str, frozenset[str] | None]:
    """An iam.googleapis.com/Role asset's name and permissions (None: deleted)."""
    name = data.get("name")
    permissions = data.get("includedPermissions") or []
    if not isinstance(name, str) or not isinstance(permissions, list):
        raise AssetDataError(f"role {asset_name}: needs a name and includedPermissions")
    if data.get("deleted"):
        return name, None
    return name, frozenset(str(p) for p in permissions)


class IamBuilder:
    def __init__(self) -> None:
        self.bindings: dict[str, dict[str, frozenset[str]]] = {}
        self.service_accounts: dict[str, ServiceAccountRecord] = {}
        self.service_account_projects: set[str] = set()
        self.custom_roles: dict[str, frozenset[str]] = {}
        self.policies_seen = False

    def add_policy(self, asset_name: str, policy: Mapping[str, Any]) -> None:
        resource = policy_resource(asset_name)
        if resource is None:
            return  # IAM on other resources does not decide who owns keys
        self.policies_seen = True
        self.bindings[resource] = policy_bindings(policy)

    def add_resource(self, asset_type: str, asset_name: str, data: Mapping[str, Any]) -> None:
        if asset_type == SERVICE_ACCOUNT_TYPE:
            account = service_account(asset_name, data)
            self.service_accounts[account.email] = account
            if account.project_id is not None:
                self.service_account_projects.add(account.project_id)
        elif asset_type == ROLE_TYPE:
            name, permissions = custom_role(asset_name, data)
            if permissions is not None:
                self.custom_roles[name] = permissions

    def note_projects(self, project_ids: set[str]) -> None:
        """The projects in scope: their service accounts were listed (live)."""
        self.service_account_projects |= project_ids

    def build(self) -> IamIndex | None:
        if not self.policies_seen:
            return None
        return IamIndex(
            bindings=self.bindings,
            service_accounts=self.service_accounts,
            service_account_projects=frozenset(self.service_account_projects),
            custom_roles=self.custom_roles,
        )
