"""Turns Cloud Asset envelopes (from the live API or an export file) into
records. An envelope is a plain dict with the snake_case fields of the export
format: name, asset_type, resource.data, ancestors, update_time."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from scanner.models import AppRestriction, InventoryContext, KeyRecord, KeyType, ProjectRecord

KEY_TYPE = "apikeys.googleapis.com/Key"
PROJECT_TYPE = "cloudresourcemanager.googleapis.com/Project"
SERVICE_TYPE = "serviceusage.googleapis.com/Service"
# A target of this service restricts nothing: it stands for every Cloud API.
ALL_APIS_TARGET = "cloudapis.googleapis.com"


class AssetDataError(ValueError):
    """An asset lacks a field keysentry needs; the message names the field."""


def parse_time(value: Any, field: str) -> datetime | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise AssetDataError(f"{field}: expected an RFC 3339 timestamp, got {value!r}")
    try:
        # Python 3.11+ reads "Z" and truncates nanoseconds to microseconds.
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise AssetDataError(f"{field}: not an RFC 3339 timestamp: {value!r}") from None
    if parsed.tzinfo is None:
        raise AssetDataError(f"{field}: timestamp has no time zone: {value!r}")
    return parsed


def _strings(values: Any, field: str) -> tuple[str, ...]:
    if values is None:
        return ()
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise AssetDataError(f"{field}: expected a list of strings")
    return tuple(values)


def _object(parent: Mapping[str, Any], field: str, path: str) -> Mapping[str, Any]:
    value = parent.get(field) or {}
    if not isinstance(value, dict):
        raise AssetDataError(f"{path}.{field}: expected an object")
    return value


def _application_restriction(
    restrictions: Mapping[str, Any],
) -> tuple[AppRestriction, tuple[str, ...]]:
    path = "resource.data.restrictions"
    if "browserKeyRestrictions" in restrictions:
        browser = _object(restrictions, "browserKeyRestrictions", path)
        refs = browser.get("allowedReferrers")
        return AppRestriction.BROWSER, _strings(refs, f"{path}.browserKeyRestrictions")
    if "serverKeyRestrictions" in restrictions:
        server = _object(restrictions, "serverKeyRestrictions", path)
        return AppRestriction.SERVER, _strings(
            server.get("allowedIps"), f"{path}.serverKeyRestrictions.allowedIps"
        )
    if "androidKeyRestrictions" in restrictions:
        android = _object(restrictions, "androidKeyRestrictions", path)
        apps = android.get("allowedApplications") or []
        if not isinstance(apps, list) or not all(isinstance(a, dict) for a in apps):
            raise AssetDataError(
                f"{path}.androidKeyRestrictions.allowedApplications: expected a list of objects"
            )
        return AppRestriction.ANDROID, tuple(
            f"{a.get('packageName', '')}:{a.get('sha1Fingerprint', '')}" for a in apps
        )
    if "iosKeyRestrictions" in restrictions:
        ios = _object(restrictions, "iosKeyRestrictions", path)
        return AppRestriction.IOS, _strings(
            ios.get("allowedBundleIds"), f"{path}.iosKeyRestrictions.allowedBundleIds"
        )
    return AppRestriction.NONE, ()


def _api_targets(restrictions: Mapping[str, Any]) -> tuple[str, ...]:
    targets = restrictions.get("apiTargets") or []
    if not isinstance(targets, list):
        raise AssetDataError("resource.data.restrictions.apiTargets: expected a list")
    services = set()
    for index, target in enumerate(targets):
        service = target.get("service") if isinstance(target, dict) else None
        if not isinstance(service, str) or not service:
            raise AssetDataError(f"resource.data.restrictions.apiTargets[{index}].service: missing")
        services.add(service)
    if ALL_APIS_TARGET in services:
        return ()
    return tuple(sorted(services))


def project_number_of(name: str) -> str:
    """The project number in a key or service name such as projects/123/..."""
    parts = name.split("/")
    if len(parts) < 2 or parts[0] != "projects" or not parts[1]:
        raise AssetDataError(f"name: expected projects/<number>/..., got {name!r}")
    return parts[1]


def normalize_key(
    data: Mapping[str, Any],
    projects: Mapping[str, ProjectRecord],
    gemini_projects: frozenset[str],
    services_known: bool,
) -> KeyRecord:
    name = data.get("name")
    if not isinstance(name, str) or not name:
        raise AssetDataError("resource.data.name: missing")
    number = project_number_of(name)
    uid = data.get("uid") or name.rsplit("/", 1)[-1]
    restrictions = _object(data, "restrictions", "resource.data")
    app_kind, app_values = _application_restriction(restrictions)
    service_account = data.get("serviceAccountEmail") or None
    annotations = _object(data, "annotations", "resource.data")
    project = projects.get(number)
    if number in gemini_projects:
        gemini: bool | None = True
    else:
        gemini = False if services_known and project is not None else None
    return KeyRecord(
        name=name,
        uid=str(uid),
        project_number=number,
        project_id=project.project_id if project else None,
        display_name=str(data.get("displayName") or ""),
        created=parse_time(data.get("createTime"), "resource.data.createTime"),
        updated=parse_time(data.get("updateTime"), "resource.data.updateTime"),
        deleted=parse_time(data.get("deleteTime"), "resource.data.deleteTime"),
        key_type=KeyType.AUTH if service_account else KeyType.STANDARD,
        service_account=service_account,
        api_targets=_api_targets(restrictions),
        application_restriction=app_kind,
        application_values=app_values,
        annotations=tuple(sorted((str(k), str(v)) for k, v in annotations.items())),
        gemini_enabled=gemini,
    )


def normalize_project(
    data: Mapping[str, Any], asset_name: str, ancestors: list[str] | None = None
) -> ProjectRecord:
    number = data.get("projectNumber")
    if number is None:
        number = asset_name.rsplit("/", 1)[-1]
    labels = data.get("labels") or {}
    if not isinstance(labels, Mapping):
        raise AssetDataError("labels: expected an object")
    return ProjectRecord(
        number=str(number),
        project_id=data.get("projectId"),
        display_name=data.get("name") or data.get("displayName"),
        lifecycle_state=data.get("lifecycleState") or data.get("state"),
        labels=tuple(sorted((str(k), str(v)) for k, v in labels.items())),
        ancestors=tuple(ancestors or ()),
    )


def enabled_gemini_project(
    data: Mapping[str, Any], asset_name: str, gemini_services: list[str]
) -> str | None:
    """The project number when this Service asset is an enabled Gemini service."""
    service_name = str(
        data.get("name") or asset_name.removeprefix("//serviceusage.googleapis.com/")
    )
    service = service_name.rsplit("/", 1)[-1]
    if service not in gemini_services or data.get("state") != "ENABLED":
        return None
    parent = str(data.get("parent") or service_name)
    return project_number_of(parent)


class ContextBuilder:
    """Collects projects and enabled Gemini services, whichever source reads them."""

    def __init__(self, gemini_services: list[str]) -> None:
        from scanner.inventory.iam import IamBuilder  # iam.py uses this module's errors

        self._gemini_services = gemini_services
        self.iam = IamBuilder()
        self.projects: dict[str, ProjectRecord] = {}
        self.gemini_projects: set[str] = set()
        self.services_seen = False
        self.scope: str | None = None

    def add(
        self, asset_type: str, name: str, data: Mapping[str, Any], ancestors: list[str] | None
    ) -> None:
        """Take one asset; raises AssetDataError when it is unreadable."""
        if asset_type == PROJECT_TYPE:
            project = normalize_project(data, name, ancestors)
            self.projects[project.number] = project
            # The outermost ancestor (organizations/N or folders/N) is the scope.
            if self.scope is None and ancestors:
                self.scope = ancestors[-1]
        elif asset_type == SERVICE_TYPE:
            self.services_seen = True
            number = enabled_gemini_project(data, name, self._gemini_services)
            if number is not None:
                self.gemini_projects.add(number)
        else:
            self.iam.add_resource(asset_type, name, data)

    def add_policy(self, name: str, policy: Mapping[str, Any]) -> None:
        self.iam.add_policy(name, policy)

    def build(
        self, services_known: bool, scope: str | None, service_accounts_listed: bool = False
    ) -> InventoryContext:
        if service_accounts_listed:
            self.iam.note_projects({p.project_id for p in self.projects.values() if p.project_id})
        return InventoryContext(
            self.projects, frozenset(self.gemini_projects), services_known, scope, self.iam.build()
        )
