"""`keysentry leaks`: import secret-scanner reports, pull GitHub's alerts, and
list what was reported. Every command needs KEYSENTRY_FINGERPRINT_KEY."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from scanner.cli.common import common_options, handle_errors, open_store
from scanner.cli.terminal import for_terminal
from scanner.config import Config
from scanner.configfile import load_config
from scanner.core.errors import ConfigError
from scanner.core.secrets import Fingerprinter, scrub
from scanner.leaks.formats.common import Sighting, Skip
from scanner.leaks.github_api import GitHubAlerts
from scanner.leaks.importer import Importer, ImportStats
from scanner.leaks.known import KnownFingerprints
from scanner.leaks.lookup import ApiKeysLookup, KeyLookup
from scanner.leaks.pull import GitHubPull, github_token
from scanner.leaks.reports import FORMATS, files_of, read
from scanner.report.documents import iso
from scanner.report.formats import csv_safe, csv_writer, terminal_safe
from scanner.store.leaks import report_rows


def lookup_for(config: Config, fingerprinter: Fingerprinter, known: str | None) -> KeyLookup:
    if known is not None:
        return KnownFingerprints(Path(known), fingerprinter)
    from scanner.leaks.lookup import make_client

    return ApiKeysLookup(
        make_client,
        config.leaks.lookup_timeout_seconds,
        config.leaks.lookup_retry_deadline_seconds,
    )


def lookups_option(func: Any) -> Any:
    return click.option(
        "--lookups-from",
        "known",
        type=click.Path(dir_okay=False),
        help="Resolve strings offline from a fingerprints file instead of LookupKey.",
    )(func)


def import_summary(stats: ImportStats, lookup: KeyLookup) -> list[str]:
    skipped = sum(stats.skipped.values())
    reasons = ", ".join(f"{n} {why}" for why, n in sorted(stats.skipped.items()))
    outcomes = ", ".join(f"{n} {o.replace('_', ' ')}" for o, n in sorted(stats.outcomes.items()))
    lines = [
        f"read {stats.items} item(s): {stats.sightings} Google key string(s), "
        f"{skipped} skipped" + (f" ({reasons})" if reasons else ""),
        f"{stats.new_reports} new report(s)"
        + (f": {outcomes}" if outcomes else "")
        + f"; {stats.duplicates} already known",
        f"lookups: {stats.lookups} asked of {lookup.description}, {stats.cached} from cache",
    ]
    if stats.warnings:
        dropped = ", ".join(f"{n} {what}" for what, n in sorted(stats.warnings.items()))
        lines.append(f"warning: evidence left out: {dropped}")
    if stats.newly_leaked_keys:
        lines.append(
            f"{stats.newly_leaked_keys} key(s) newly leaked: the next scan raises key-leaked "
            "and alerts their owners at once"
        )
    return lines


def echo_summary(stats: ImportStats, lookup: KeyLookup) -> None:
    for line in import_summary(stats, lookup):
        click.echo(f"leaks: {line}")


@click.group("leaks")
def leaks_group() -> None:
    """Leaked key strings: matched to inventory keys by fingerprint, never stored."""


@leaks_group.command("import")
@common_options
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option(
    "--format",
    "fmt",
    type=click.Choice(sorted(FORMATS)),
    help="The reports' format; default: detected from each file's first item.",
)
@lookups_option
@handle_errors
def import_command(
    config_path: str | None,
    db_url: str | None,
    paths: tuple[str, ...],
    fmt: str | None,
    known: str | None,
) -> None:
    """Import gitleaks, TruffleHog or GitHub secret scanning reports (files or
    directories). All of it is imported, or none of it."""
    fingerprinter = Fingerprinter.from_environment()  # refuse before reading anything
    config = load_config(config_path)
    files = files_of([Path(p) for p in paths])
    engine = open_store(config, db_url)

    def parsed() -> Iterator[tuple[str, Sighting | Skip]]:
        for path in files:
            yield from read(path, fmt)

    source = scrub(", ".join(str(p) for p in files))  # a file name may hold a key string
    click.echo(f"leaks: importing {len(files)} file(s)")
    lookup = lookup_for(config, fingerprinter, known)
    stats = Importer(engine, fingerprinter, lookup).run(parsed(), source, datetime.now(UTC))
    echo_summary(stats, lookup)


@leaks_group.group("pull")
def pull_group() -> None:
    """Fetch reports from a secret scanning service."""


@pull_group.command("github")
@common_options
@click.option(
    "--org", "orgs", multiple=True, help="Organization; repeatable [config leaks.github.orgs]."
)
@click.option("--api-url", help="API root [config leaks.github.api_url].")
@click.option("--token-env", help="Variable holding the token [config leaks.github.token_env].")
@lookups_option
@handle_errors
def pull_github(
    config_path: str | None,
    db_url: str | None,
    orgs: tuple[str, ...],
    api_url: str | None,
    token_env: str | None,
    known: str | None,
) -> None:
    """Import the organization's GitHub secret scanning alerts for Google keys."""
    fingerprinter = Fingerprinter.from_environment()
    config = load_config(config_path)
    settings = config.leaks.github
    names = list(orgs) or settings.orgs
    if not names:
        raise ConfigError("--org: no organization given (or set leaks.github.orgs)")
    token = github_token(token_env or settings.token_env)
    client = GitHubAlerts(
        token,
        api_url or settings.api_url,
        settings.request_timeout_seconds,
        settings.max_rate_limit_wait,
    )
    engine = open_store(config, db_url)
    lookup = lookup_for(config, fingerprinter, known)
    pull = GitHubPull(engine, names, client, fingerprinter, lookup)
    echo_summary(pull.run(datetime.now(UTC)), lookup)
    click.echo(f"leaks: {client.requests} GitHub request(s), {client.waited:.0f}s waited")


LIST_COLUMNS = (
    "outcome",
    "key_name",
    "redacted",
    "tool",
    "repository",
    "file",
    "line",
    "link",
    "commit",
    "first_reported",
    "verified",
    "publicly_leaked",
    "scanner_status",
    "parent",
)


def _document(row: Any) -> dict[str, Any]:
    doc = {column: getattr(row, column) for column in LIST_COLUMNS}
    doc["first_reported"] = iso(row.first_reported)
    return doc


@leaks_group.command("list")
@common_options
@click.option("--unmatched", is_flag=True, help="Only reports that matched no key.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json", "csv"]),
    default="table",
    show_default=True,
)
@handle_errors
def list_command(config_path: str | None, db_url: str | None, unmatched: bool, fmt: str) -> None:
    """Every imported report: which key it matched, or why none."""
    config = load_config(config_path)
    engine = open_store(config, db_url, create=False)
    with engine.connect() as conn:
        rows = report_rows(conn, unmatched_only=unmatched)
    documents = [_document(row) for row in rows]
    out = for_terminal(sys.stdout)
    if fmt == "json":
        json.dump(documents, out, indent=2, ensure_ascii=False)
        out.write("\n")
    elif fmt == "csv":
        writer = csv_writer(out)
        writer.writerow(LIST_COLUMNS)
        for doc in documents:
            writer.writerow([csv_safe("" if doc[c] is None else doc[c]) for c in LIST_COLUMNS])
    else:
        for doc in documents:
            where = doc["repository"] or ""
            if doc["file"]:
                where += f" {doc['file']}" + (f":{doc['line']}" if doc["line"] else "")
            target = doc["key_name"] or doc["parent"] or "-"
            click.echo(
                terminal_safe(
                    f"{doc['outcome']:<10} {doc['redacted']:<10} {doc['tool']:<10} "
                    f"{target}  {where.strip() or doc['link'] or ''}"
                )
            )
        click.echo(f"{len(documents)} report(s)")
