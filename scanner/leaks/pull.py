"""Pulling GitHub's secret scanning alerts into the leak history: what `leaks
pull github` runs once and the worker runs before each scan."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

from sqlalchemy import Engine

from scanner.config import Config
from scanner.core.errors import ConfigError
from scanner.core.secrets import Fingerprinter
from scanner.leaks.formats import github as github_format
from scanner.leaks.formats.common import Sighting, Skip
from scanner.leaks.github_api import GitHubAlerts
from scanner.leaks.importer import Importer, ImportStats
from scanner.leaks.lookup import ApiKeysLookup, KeyLookup, make_client


def github_token(variable: str) -> str:
    token = os.environ.get(variable, "")
    if not token:
        raise ConfigError(f"{variable} is not set: it must hold a GitHub token")
    return token


class GitHubPull:
    def __init__(
        self,
        engine: Engine,
        orgs: list[str],
        client: GitHubAlerts,
        fingerprinter: Fingerprinter,
        lookup: KeyLookup,
    ) -> None:
        self.orgs = orgs
        self.client = client
        self.lookup = lookup
        self._importer = Importer(engine, fingerprinter, lookup)

    def _parsed(self) -> Iterator[tuple[str, Sighting | Skip]]:
        for org in self.orgs:
            for where, alert in self.client.alerts(org):
                yield where, github_format.parse(Path(where), 0, alert)

    def run(self, at: datetime) -> ImportStats:
        source = ", ".join(f"github:{org}" for org in self.orgs)
        return self._importer.run(self._parsed(), source, at)


def configured_pull(config: Config, engine: Engine) -> GitHubPull | None:
    """The worker's pull, when leaks.github.orgs names organizations. Missing
    secrets are errors at start, not at the first scan."""
    settings = config.leaks.github
    if not settings.orgs:
        return None
    fingerprinter = Fingerprinter.from_environment()
    client = GitHubAlerts(
        github_token(settings.token_env),
        settings.api_url,
        settings.request_timeout_seconds,
        settings.max_rate_limit_wait,
    )
    lookup = ApiKeysLookup(
        make_client, config.leaks.lookup_timeout_seconds, config.leaks.lookup_retry_deadline_seconds
    )
    return GitHubPull(engine, settings.orgs, client, fingerprinter, lookup)
