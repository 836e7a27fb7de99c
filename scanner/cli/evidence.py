"""`keysentry evidence`: the evidence pack for a window of history, signed
if asked; `keysentry evidence verify`: check a pack's files and signature."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from scanner.cli.common import common_options, handle_errors, open_store
from scanner.cli.history import window
from scanner.configfile import load_config
from scanner.core.errors import InputError


@click.group("evidence", invoke_without_command=True)
@common_options
@click.option("--since", metavar="DATE", help="From this date or instant (required).")
@click.option("--until", metavar="DATE", help="To this date (inclusive) or instant; default now.")
@click.option(
    "--output",
    type=click.Path(file_okay=False),
    help="The folder to create (it must not exist, or be empty; required).",
)
@click.option(
    "--sign-key",
    type=click.Path(dir_okay=False),
    help="Sign the manifest with this Ed25519 private key (PEM, unencrypted).",
)
@click.pass_context
@handle_errors
def evidence(
    ctx: click.Context,
    config_path: str | None,
    db_url: str | None,
    since: str | None,
    until: str | None,
    output: str | None,
    sign_key: str | None,
) -> None:
    """Write a self-contained evidence folder: an offline HTML report with
    charts, CSV and JSON of keys, changes, fixes and the rules in force, and a
    MANIFEST.json with each file's SHA-256 and the history chain's head,
    signed with --sign-key. `keysentry evidence verify DIR` checks a pack."""
    if ctx.invoked_subcommand is not None:
        return
    if since is None or output is None:
        raise InputError("evidence needs --since DATE and --output DIR (or: evidence verify DIR)")
    # Here, not at the top: only this command needs the pack's templates.
    from scanner.evidence.pack import write_pack
    from scanner.evidence.signing import ManifestSigner

    signer = ManifestSigner.from_pem(Path(sign_key)) if sign_key else None
    start, end = window(since, until)
    engine = open_store(load_config(config_path), db_url, create=False)
    manifest = write_pack(engine, start, end, Path(output), signer)
    chain = manifest["chain"]
    state = "intact" if chain["intact"] else f"BROKEN at scan {chain['broken_at']}"
    head = manifest["window_head"]
    signed = f"; signed by key {signer.keyid[:16]}" if signer else ""
    click.echo(
        f"{output}: {len(manifest['files'])} files for scans "
        f"{manifest['scans'][0]}-{manifest['scans'][-1]}; history chain {state}, "
        f"head of scan {head['scan']} {head['hash']}{signed}; open {output}/index.html"
    )


@evidence.command("verify")
@click.argument("directory", type=click.Path(file_okay=False))
@click.option(
    "--public-key",
    type=click.Path(dir_okay=False),
    help="The signer's Ed25519 public key (PEM); without it, the key in the pack.",
)
@handle_errors
def verify_pack_command(directory: str, public_key: str | None) -> None:
    """Check that every file of the pack is as its manifest lists it, no file
    was added, and the manifest's signature holds; exit 1 on any mismatch."""
    from scanner.evidence.verify import verify_pack

    result = verify_pack(Path(directory), Path(public_key) if public_key else None)
    for line in result.lines:
        click.echo(line)
    if not result.ok:
        sys.exit(1)
