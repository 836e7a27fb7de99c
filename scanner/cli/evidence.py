"""`keysentry evidence`: the evidence pack for a window of history."""

from __future__ import annotations

from pathlib import Path

import click

from scanner.cli.common import common_options, handle_errors, open_store
from scanner.cli.history import window, window_options
from scanner.configfile import load_config


@click.command("evidence")
@common_options
@window_options
@click.option(
    "--output",
    required=True,
    type=click.Path(file_okay=False),
    help="The folder to create (it must not exist, or be empty).",
)
@handle_errors
def evidence(
    config_path: str | None, db_url: str | None, since: str, until: str | None, output: str
) -> None:
    """Write a self-contained evidence folder: an offline HTML report with
    charts, CSV and JSON of keys, changes and the rules in force, and a
    MANIFEST.json with each file's SHA-256 and the history chain's head."""
    # Here, not at the top: matplotlib takes a second to import, and only this command needs it.
    from scanner.evidence.pack import write_pack

    start, end = window(since, until)
    engine = open_store(load_config(config_path), db_url, create=False)
    manifest = write_pack(engine, start, end, Path(output))
    chain = manifest["chain"]
    state = "intact" if chain["intact"] else f"BROKEN at scan {chain['broken_at']}"
    click.echo(
        f"{output}: {len(manifest['files'])} files for scans "
        f"{manifest['scans'][0]}-{manifest['scans'][-1]}; history chain {state}, "
        f"head {chain['head']}; open {output}/index.html"
    )
