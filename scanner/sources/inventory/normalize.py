"""Turns Cloud Asset envelopes (from the live API or an export file) into
records. An envelope is a plain dict with the snake_case fields of the export
format: name, asset_type, resource.data, ancestors, update_time."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from scanner.core.models import AppRestriction, KeyRecord, KeyType, ProjectRecord
from scanner.inputs.fields import AssetDataError, parse_time, service_name, text

KEY_TYPE = "apikeys.googleapis.com/Key"
PROJECT_TYPE = "cloudresourcemanager.googleapis.com/Project"
SERVICE_TYPE = "serviceusage.googleapis.com/Service"
# A target of this service restricts nothing: it stands for every Cloud API.
ALL_APIS_TARGET = "cloudapis.googleapis.com"


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
        if not isinstance(service, str) or not service.strip():
            raise AssetDataError(f"resource.data.restrictions.apiTargets[{index}].service: missing")
        services.add(service_name(service))
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
    uid = text(data.get("uid"), "resource.data.uid") or name.rsplit("/", 1)[-1]
    restrictions = _object(data, "restrictions", "resource.data")
    app_kind, app_values = _application_restriction(restrictions)
    service_account = text(data.get("serviceAccountEmail"), "resource.data.serviceAccountEmail")
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
        display_name=text(data.get("displayName"), "resource.data.displayName") or "",
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
        etag=text(data.get("etag"), "resource.data.etag"),
    )


def normalize_project(
    data: Mapping[str, Any], asset_name: str, ancestors: list[str] | None = None
) -> ProjectRecord:
    number = data.get("projectNumber")
    if number is None:
        number = asset_name.rsplit("/", 1)[-1]
    if not isinstance(number, str | int) or isinstance(number, bool):
        raise AssetDataError(f"projectNumber: expected a string, got {type(number).__name__}")
    labels = data.get("labels") or {}
    if not isinstance(labels, Mapping):
        raise AssetDataError("labels: expected an object")
    return ProjectRecord(
        number=str(number),
        project_id=text(data.get("projectId"), "projectId"),
        display_name=text(data.get("name") or data.get("displayName"), "name"),
        lifecycle_state=text(data.get("lifecycleState") or data.get("state"), "lifecycleState"),
        labels=tuple(sorted((str(k), str(v)) for k, v in labels.items())),
        ancestors=tuple(ancestors or ()),
    )


def enabled_gemini_project(
    data: Mapping[str, Any], asset_name: str, gemini_services: list[str]
) -> str | None:
    """The project number when this Service asset is an enabled Gemini service."""
    full_name = str(data.get("name") or asset_name.removeprefix("//serviceusage.googleapis.com/"))
    service = service_name(full_name.rsplit("/", 1)[-1])
    if service not in gemini_services or data.get("state") != "ENABLED":
        return None
    parent = str(data.get("parent") or full_name)
    return project_number_of(parent)
