"""The shape of accepted-risk exceptions: who accepted which findings of
which keys, why, and until when. The checks that need the rule catalog or
today's date are in scanner.configfile.exceptions."""

from __future__ import annotations

from datetime import date
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator

from scanner.config.types import Strict

# Short enough for a transition row and a label; safe in a URL and a file name.
EXCEPTION_ID = r"^[a-z0-9][a-z0-9._-]{0,62}$"


class ExceptionEntry(Strict):
    """One accepted risk. Every selector given must match (within a list, any
    item may); at least one selector besides the rules is required, so that an
    exception never covers a rule for the whole organization (that is
    `rules.disabled`)."""

    id: str = Field(pattern=EXCEPTION_ID)
    rules: list[str] = Field(min_length=1, description="rule ids this exception accepts")
    keys: list[str] = Field(default_factory=list, description="key resource names or uids")
    display_names: list[str] = Field(default_factory=list, description="display name globs")
    projects: list[str] = Field(default_factory=list, description="project id or number globs")
    folders: list[str] = Field(default_factory=list, description="folders/N among ancestors")
    labels: dict[str, str] = Field(default_factory=dict, description="project label value globs")
    reason: str = Field(min_length=1, max_length=2000)
    approved_by: str = Field(min_length=1, max_length=320)
    ticket: str | None = Field(default=None, max_length=2000)
    # The exception lapses at the start of this day (UTC): a scan evaluated on
    # or after it treats the findings as open again.
    expires: date
    # "organization": its selectors may select every key of the organization,
    # with an approver of exceptions.organization_approvers (exceptions.checks).
    scope: Literal["selected", "organization"] = "selected"

    @field_validator("reason", "approved_by")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value.strip()

    @field_validator("ticket")
    @classmethod
    def _web_address(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("https", "http") or not parts.netloc:
            raise ValueError(f"not an http(s) URL: {value!r}")
        return value

    @field_validator("folders")
    @classmethod
    def _folder_names(cls, values: list[str]) -> list[str]:
        names = []
        for value in values:
            number = value.removeprefix("folders/")
            if not number.isdigit():
                raise ValueError(f"not a folder (folders/NUMBER or NUMBER): {value!r}")
            names.append(f"folders/{number}")
        return names

    @model_validator(mode="after")
    def _some_selector(self) -> ExceptionEntry:
        if not (self.keys or self.display_names or self.projects or self.folders or self.labels):
            raise ValueError(
                "name what it covers: keys, display_names, projects, folders or labels "
                "(to switch a rule off everywhere, use rules.disabled)"
            )
        return self


class ExceptionsConfig(Strict):
    # The longest an exception may run: its expiry at most this many days ahead.
    max_days: int = Field(default=180, ge=1, le=3650)
    # Remind the owners and the approver this many days before an exception lapses.
    remind_days: list[int] = Field(default_factory=lambda: [14, 3])
    # More entries in YAML files (globs, relative to the config file), each a list.
    files: list[str] = Field(default_factory=list)
    # Who alone may approve an exception with `scope: organization`: named here,
    # in the configuration, not in the exception files teams may edit.
    organization_approvers: list[str] = Field(default_factory=list)
    entries: list[ExceptionEntry] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _a_bare_list(cls, data: Any) -> Any:
        # `exceptions:` may be the list itself when the defaults suit.
        return {"entries": data} if isinstance(data, list) else data

    @field_validator("remind_days")
    @classmethod
    def _days(cls, values: list[int]) -> list[int]:
        if any(not 0 <= v <= 3650 for v in values):
            raise ValueError("each must be between 0 and 3650 days")
        return sorted(set(values), reverse=True)
