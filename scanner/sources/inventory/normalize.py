"""Turns Cloud Asset envelopes (from the live API or an export file) into
records. An envelope is a plain dict with the snake_case fields of the export
format: name, asset_type, resource.data, ancestors, update_time."""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from typing import Any

from scanner.core.models import AppRestriction, KeyRecord, KeyType, ProjectRecord
from scanner.core.restrictions import sha1_canonical
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


def _annotations(value: Any) -> Mapping[str, Any]:
    """An object; from a BigQuery export also a JSON string of one or a list
    of key/value records (its columns cannot hold a map)."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise AssetDataError("resource.data.annotations: expected an object") from None
    if isinstance(value, list) and all(isinstance(v, dict) and "key" in v for v in value):
        value = {v["key"]: v.get("value") for v in value}
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise AssetDataError("resource.data.annotations: expected an object")
    return value


def _application_restriction(
    restrictions: Mapping[str, Any],
) -> tuple[AppRestriction, tuple[str, ...]]:
    path = "resource.data.restrictions"
    if restrictions.get("browserKeyRestrictions") is not None:
        browser = _object(restrictions, "browserKeyRestrictions", path)
        refs = browser.get("allowedReferrers")
        return AppRestriction.BROWSER, _strings(refs, f"{path}.browserKeyRestrictions")
    if restrictions.get("serverKeyRestrictions") is not None:
        server = _object(restrictions, "serverKeyRestrictions", path)
        return AppRestriction.SERVER, _strings(
            server.get("allowedIps"), f"{path}.serverKeyRestrictions.allowedIps"
        )
    if restrictions.get("androidKeyRestrictions") is not None:
        android = _object(restrictions, "androidKeyRestrictions", path)
        apps = android.get("allowedApplications") or []
        if not isinstance(apps, list) or not all(isinstance(a, dict) for a in apps):
            raise AssetDataError(
                f"{path}.androidKeyRestrictions.allowedApplications: expected a list of objects"
            )
        # One spelling of each fingerprint, so that a key reads the same from
        # every source and the rule sees an app without one as `package:`.
        return AppRestriction.ANDROID, tuple(
            f"{a.get('packageName', '')}:{sha1_canonical(str(a.get('sha1Fingerprint') or ''))}"
            for a in apps
        )
    if restrictions.get("iosKeyRestrictions") is not None:
        ios = _object(restrictions, "iosKeyRestrictions", path)
        bundles = _strings(
            ios.get("allowedBundleIds"), f"{path}.iosKeyRestrictions.allowedBundleIds"
        )
        # `"iosKeyRestrictions": {}` names no app: the key works from anywhere.
        return (AppRestriction.IOS, bundles) if bundles else (AppRestriction.NONE, ())
    return AppRestriction.NONE, ()


def _api_targets(
    restrictions: Mapping[str, Any],
) -> tuple[tuple[str, ...], tuple[tuple[str, tuple[str, ...]], ...]]:
    """The services the key may call, and the methods of those whose target
    names any (resources.proto ApiTarget: "methods", e.g. GenerateContent)."""
    targets = restrictions.get("apiTargets") or []
    if not isinstance(targets, list):
        raise AssetDataError("resource.data.restrictions.apiTargets: expected a list")
    services: set[str] = set()
    methods: dict[str, set[str]] = {}
    for index, target in enumerate(targets):
        where = f"resource.data.restrictions.apiTargets[{index}]"
        service = target.get("service") if isinstance(target, dict) else None
        if not isinstance(service, str) or not service.strip():
            raise AssetDataError(f"{where}.service: missing")
        name = service_name(service)
        services.add(name)
        named = _strings(target.get("methods"), f"{where}.methods")
        if named:
            methods.setdefault(name, set()).update(m.strip() for m in named if m.strip())
    if ALL_APIS_TARGET in services:
        return (), ()
    return tuple(sorted(services)), tuple((s, tuple(sorted(m))) for s, m in sorted(methods.items()))


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
    api_targets, api_methods = _api_targets(restrictions)
    service_account = text(data.get("serviceAccountEmail"), "resource.data.serviceAccountEmail")
    annotations = _annotations(data.get("annotations"))
    project = projects.get(number)
    gemini = gemini_of(number, projects, gemini_projects, services_known)
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
        api_targets=api_targets,
        application_restriction=app_kind,
        application_values=app_values,
        annotations=tuple(sorted((str(k), str(v)) for k, v in annotations.items())),
        gemini_enabled=gemini,
        etag=text(data.get("etag"), "resource.data.etag"),
        api_methods=api_methods,
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


def gemini_service(
    data: Mapping[str, Any], asset_name: str, gemini_services: Collection[str]
) -> tuple[str, str, bool] | None:
    """(project number, service, whether enabled) when this Service asset is
    one of GEMINI_SERVICES; None for any other service."""
    full_name = str(data.get("name") or asset_name.removeprefix("//serviceusage.googleapis.com/"))
    service = service_name(full_name.rsplit("/", 1)[-1])
    if service not in gemini_services:
        return None
    parent = str(data.get("parent") or full_name)
    return project_number_of(parent), service, data.get("state") == "ENABLED"


def gemini_of(
    number: str, projects: Mapping[str, ProjectRecord], gemini_projects: frozenset[str],
    services_known: bool,
) -> bool | None:  # fmt: skip
    """Whether project NUMBER has a Gemini service enabled; None when the
    source did not say (it listed no services, or not the project)."""
    if number in gemini_projects:
        return True
    return False if services_known and number in projects else None
