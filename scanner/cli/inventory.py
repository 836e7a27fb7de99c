"""`keysentry inventory`: checks of the inventory sources themselves."""

from __future__ import annotations

import json
from dataclasses import asdict

import click

from scanner.cli.common import handle_errors
from scanner.configfile import load_config
from scanner.report.formats import terminal_safe


@click.group("inventory")
def inventory_group() -> None:
    """The inventory sources (Cloud Asset, the API Keys API)."""


@inventory_group.command("compare")
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    help="YAML config file [env KEYSENTRY_CONFIG].",
)
@click.option("--project", required=True, help="Project id whose keys to compare.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
@handle_errors
def inventory_compare(config_path: str | None, project: str, fmt: str) -> None:
    """List the keys of PROJECT whose type, restrictions or service account
    differ between Cloud Asset and the API Keys API (ListKeys). Needs
    roles/cloudasset.viewer and roles/serviceusage.apiKeysViewer on it."""
    from scanner.sources.inventory.apikeys import ApiKeysSource, KeyLister, make_session
    from scanner.sources.inventory.asset import CloudAssetSource, make_client, validate_scope
    from scanner.sources.inventory.compare import compare

    config = load_config(config_path)
    scope = validate_scope(f"projects/{project}")
    services = config.gemini.project_services
    asset = CloudAssetSource(make_client(config.inventory), scope, config.inventory, services)
    lister = KeyLister(make_session(), config.inventory)
    seen, found = compare(asset, ApiKeysSource(asset, lister, config.inventory))
    if fmt == "json":
        click.echo(json.dumps({"keys": seen, "differences": [asdict(d) for d in found]}, indent=2))
        return
    for d in found:
        click.echo(
            terminal_safe(f"{d.key_name}  {d.field}: Cloud Asset {d.asset} | API Keys {d.apikeys}")
        )
    keys = len({d.key_name for d in found})
    click.echo(f"{keys} of {seen} key(s) differ between Cloud Asset and the API Keys API")
