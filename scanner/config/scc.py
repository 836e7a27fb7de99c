"""The `scc:` section: publishing findings to Security Command Center as a
custom source's findings."""

from __future__ import annotations

import re

from pydantic import Field, field_validator, model_validator

from scanner.config.types import Strict

# A source the organization's security team created for keysentry
# (`gcloud scc sources create` or the CreateSource API).
_SOURCE = re.compile(r"organizations/[0-9]+/sources/[0-9A-Za-z_-]+")
_LOCATION = re.compile(r"[a-z0-9-]{1,63}")


class SccConfig(Strict):
    enabled: bool = False
    source: str | None = None  # organizations/ORG/sources/SOURCE_ID
    location: str = "global"
    request_timeout_seconds: float = Field(default=30.0, gt=0, le=600)
    retry_deadline_seconds: float = Field(default=120.0, gt=0, le=3600)
    requests_per_second: float = Field(default=10.0, gt=0, le=1000)

    @field_validator("source")
    @classmethod
    def _source(cls, value: str | None) -> str | None:
        if value is not None and not _SOURCE.fullmatch(value):
            raise ValueError(f"expected organizations/ORG/sources/SOURCE_ID, got {value!r}")
        return value

    @field_validator("location")
    @classmethod
    def _location(cls, value: str) -> str:
        if not _LOCATION.fullmatch(value):
            raise ValueError(f"not a Security Command Center location: {value!r}")
        return value

    @model_validator(mode="after")
    def _needs_source(self) -> SccConfig:
        if self.enabled and self.source is None:
            raise ValueError("scc.enabled needs scc.source (organizations/ORG/sources/ID)")
        return self

    @property
    def parent(self) -> str:
        """Where the findings live: the source, at the location."""
        return f"{self.source}/locations/{self.location}"
