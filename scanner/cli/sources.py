"""Where a command's inventory, usage and key events come from: the options,
else the worker's configuration."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from scanner.config import Config
from scanner.core.errors import ConfigError
from scanner.sources.audit.source import AuditSource
from scanner.sources.inventory.export import ExportSource
from scanner.sources.inventory.source import InventorySource, Progress
from scanner.sources.usage.source import UsageSource


def source_factory(
    config: Config,
    org: str | None,
    folder: str | None,
    project: str | None,
    exports: tuple[str, ...] | list[str],
    config_path: str,
) -> Callable[[Progress | None], InventorySource]:
    """What to scan, from the options, else (for the worker, CONFIG_PATH set)
    from worker.scope / worker.exports. A live scope needs credentials now."""
    scopes = [
        s
        for s in (
            org and f"organizations/{org}",
            folder and f"folders/{folder}",
            project and f"projects/{project}",
        )
        if s
    ]
    if not scopes and not exports and config_path:
        scopes = [config.worker.scope] if config.worker.scope else []
        exports = config.worker.exports
    if len(scopes) + bool(exports) != 1:
        where = f"{config_path}: worker.scope or worker.exports, or " if config_path else ""
        raise ConfigError(f"give exactly one of {where}--org, --folder, --project or --from-export")
    services = config.gemini.project_services
    if exports:
        if config.inventory.keys_from == "apikeys":
            raise ConfigError(
                "inventory.keys_from: apikeys lists keys live; an export scan reads the keys "
                "in its export (set keys_from: asset, or scan a live scope)"
            )
        paths = [Path(p) for p in exports]
        return lambda progress: ExportSource(paths, services, progress)
    from scanner.sources.inventory.asset import CloudAssetSource, make_client, validate_scope

    scope = validate_scope(scopes[0])
    client = make_client(config.inventory)
    if config.inventory.keys_from == "asset":
        return lambda progress: CloudAssetSource(
            client, scope, config.inventory, services, progress
        )
    from scanner.sources.inventory.apikeys import ApiKeysSource, KeyLister, make_session

    lister = KeyLister(make_session(), config.inventory)
    return lambda progress: ApiKeysSource(
        CloudAssetSource(client, scope, config.inventory, services, progress),
        lister,
        config.inventory,
        progress,
    )


def usage_factory(
    config: Config, exports: Sequence[str], files: Sequence[str] = ()
) -> Callable[[], UsageSource | None]:
    """Usage from saved timeSeries FILES; else Cloud Monitoring for live scans
    when usage.enabled (an export scan stays offline). Credentials are checked
    now, not at the first scan."""
    if files:
        from scanner.sources.usage.files import FileUsageSource

        paths = [Path(f) for f in files]
        services = config.gemini.api_services
        return lambda: FileUsageSource(paths, config.usage, services)
    if not config.usage.enabled or exports:
        return lambda: None
    from scanner.sources.usage.monitoring import UsageCollector, make_client

    client = make_client()
    services = config.gemini.api_services
    return lambda: UsageCollector(client, config.usage, services)


def audit_factory(
    config: Config, exports: Sequence[str], files: Sequence[str] = ()
) -> Callable[[], AuditSource | None]:
    """Key events from saved audit log FILES; else from Cloud Audit Logs for
    live scans when audit.enabled."""
    if files:
        from scanner.sources.audit.files import FileAuditSource

        paths = [Path(f) for f in files]
        return lambda: FileAuditSource(paths)
    if not config.audit.enabled or exports:
        return lambda: None
    from scanner.sources.audit.logs import AuditLogReader, make_client

    client = make_client()
    return lambda: AuditLogReader(client, config.audit)
