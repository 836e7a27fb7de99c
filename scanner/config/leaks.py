"""The `leaks:` section: how key strings are looked up, and which GitHub
organizations the worker pulls secret scanning alerts from before each scan."""

from __future__ import annotations

import re

from pydantic import Field, field_validator

from scanner.config.types import Duration, EnvName, Strict

_ORG = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})")


class GitHubConfig(Strict):
    orgs: list[str] = Field(default_factory=list)
    api_url: str = "https://api.github.com"  # GitHub Enterprise Server: https://HOST/api/v3
    token_env: EnvName = "GITHUB_TOKEN"  # noqa: S105  (the variable holding the token)
    request_timeout_seconds: float = Field(default=30.0, gt=0, le=3600)
    max_rate_limit_wait: Duration = 900.0

    @field_validator("orgs")
    @classmethod
    def _org_names(cls, value: list[str]) -> list[str]:
        for name in value:
            if not _ORG.fullmatch(name):
                raise ValueError(f"not a GitHub organization name: {name!r}")
        return value

    @field_validator("api_url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError("must start with https:// (or http:// for a local endpoint)")
        return value


class LeaksConfig(Strict):
    lookup_timeout_seconds: float = Field(default=30.0, gt=0, le=3600)
    lookup_retry_deadline_seconds: float = Field(default=120.0, gt=0, le=86400)
    github: GitHubConfig = Field(default_factory=GitHubConfig)
