"""Loads and validates the YAML configuration. Every error names the file and
the config path (and the line, for YAML syntax errors)."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from scanner.errors import ConfigError

GEMINI_DOCS = "https://ai.google.dev/gemini-api/docs/api-key"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TimelineEntry(_Strict):
    id: str = Field(min_length=1)
    date: date
    rules: list[str] = Field(min_length=1, description="rule ids whose deadline this is")
    effect: str
    status: Literal["enforced", "announced"]
    source: str = GEMINI_DOCS


def default_timeline() -> list[TimelineEntry]:
    return [
        TimelineEntry(
            id="dormant-unrestricted-keys-blocked",
            date=date(2026, 5, 7),
            rules=["gemini-dormant-unrestricted-key"],
            effect="The Gemini API blocks unrestricted API keys that have been dormant for an "
            "extended period.",
            status="enforced",
        ),
        TimelineEntry(
            id="unrestricted-standard-keys-rejected",
            date=date(2026, 6, 19),
            rules=["gemini-unrestricted-standard-key"],
            effect="The Gemini API rejects requests from unrestricted standard keys.",
            status="enforced",
        ),
        TimelineEntry(
            id="standard-keys-rejected",
            date=date(2026, 9, 1),
            rules=["gemini-standard-key"],
            effect="The Gemini API rejects requests from all standard keys; callers need auth "
            "keys. Announced for September 2026 without a day.",
            status="announced",
        ),
    ]


class RulesConfig(_Strict):
    dormancy_days: int = Field(default=90, ge=1)
    rotation_days: int = Field(default=90, ge=1)
    warn_days: int = Field(default=30, ge=0)
    disabled: list[str] = Field(default_factory=list)


class GeminiConfig(_Strict):
    # Services that count as "the Gemini API" in a key's apiTargets.
    api_services: list[str] = Field(default_factory=lambda: ["generativelanguage.googleapis.com"])
    # Services whose enablement in a project counts as "Gemini is on" there.
    project_services: list[str] = Field(
        default_factory=lambda: [
            "generativelanguage.googleapis.com",
            "aiplatform.googleapis.com",
        ]
    )


class InventoryConfig(_Strict):
    page_size: int = Field(default=1000, ge=1, le=1000)
    quota_project: str | None = None
    retry_initial_seconds: float = Field(default=1.0, gt=0)
    retry_maximum_seconds: float = Field(default=30.0, gt=0)
    # Total time one page may spend in retries before the scan fails.
    retry_deadline_seconds: float = Field(default=300.0, gt=0)
    request_timeout_seconds: float = Field(default=60.0, gt=0)


class Config(_Strict):
    database_url: str | None = None
    timeline: list[TimelineEntry] = Field(default_factory=default_timeline)
    rules: RulesConfig = Field(default_factory=RulesConfig)
    gemini: GeminiConfig = Field(default_factory=GeminiConfig)
    inventory: InventoryConfig = Field(default_factory=InventoryConfig)

    @model_validator(mode="after")
    def _timeline_is_consistent(self) -> Config:
        from scanner.rules.catalog import RULE_IDS  # the catalog is the source of rule ids

        seen_ids: set[str] = set()
        owner: dict[str, str] = {}
        for index, entry in enumerate(self.timeline):
            if entry.id in seen_ids:
                raise ValueError(f"timeline[{index}].id: duplicate id {entry.id!r}")
            seen_ids.add(entry.id)
            for rule in entry.rules:
                if rule not in RULE_IDS:
                    raise ValueError(f"timeline[{index}].rules: unknown rule {rule!r}")
                if rule in owner:
                    raise ValueError(
                        f"timeline[{index}].rules: rule {rule!r} already has its deadline in "
                        f"entry {owner[rule]!r}"
                    )
                owner[rule] = entry.id
        for index, rule in enumerate(self.rules.disabled):
            if rule not in RULE_IDS:
                raise ValueError(f"rules.disabled[{index}]: unknown rule {rule!r}")
        return self

    def deadlines(self) -> dict[str, TimelineEntry]:
        """The timeline entry that gives each rule its deadline, by rule id."""
        return {rule: entry for entry in self.timeline for rule in entry.rules}


def _format_validation_error(source: str, error: ValidationError) -> str:
    lines = []
    for item in error.errors():
        path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in item["loc"])
        path = path.lstrip(".") or "(top level)"
        message = item["msg"]
        if item["type"] == "value_error":
            message = message.removeprefix("Value error, ")
            if not item["loc"]:
                lines.append(f"{source}: {message}")
                continue
        lines.append(f"{source}: {path}: {message}")
    return "\n".join(lines)


def parse_config(text: str, source: str) -> Config:
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark is not None else source
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{where}: invalid YAML: {problem}") from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: the top level must be a mapping, not {type(raw).__name__}")
    try:
        return Config.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_format_validation_error(source, exc)) from None


def load_config(path: str | Path | None) -> Config:
    """Load from PATH, else from $KEYSENTRY_CONFIG, else the defaults."""
    chosen = path if path is not None else os.environ.get("KEYSENTRY_CONFIG")
    if not chosen:
        return Config()
    file = Path(chosen)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{file}: cannot read config: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{file}: config is not UTF-8 text") from None
    return parse_config(text, str(file))
