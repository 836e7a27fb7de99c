"""Loads a configuration file: YAML into scanner.config's models, then the
checks that need the rule catalog. Every error is one line per problem naming
the file and the config path (and the line, for YAML syntax errors)."""

from __future__ import annotations

import os
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from scanner.config import Config
from scanner.configfile.exceptions import (
    ExceptionFileProblems,
    Origin,
    exception_problems,
    included_entries,
    lapsed_problems,
)
from scanner.core.errors import ConfigError, InputError
from scanner.inputs.textfiles import read_small_text
from scanner.rules.catalog import RULE_IDS


class _Loader(yaml.SafeLoader):
    """SafeLoader without YAML's implicit timestamps: `2026-02-30` stays text, so
    the model rejects it with its config path instead of the YAML library raising
    a bare ValueError while it builds the document."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _format_validation_error(source: str, error: ValidationError, prefix: str = "") -> str:
    lines = []
    for item in error.errors():
        path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in item["loc"])
        path = (prefix + path).lstrip(".") or "(top level)"
        message = item["msg"]
        if item["type"] == "value_error":
            message = message.removeprefix("Value error, ")
            if not item["loc"] and not prefix:
                lines.append(f"{source}: {message}")
                continue
        lines.append(f"{source}: {path}: {message}")
    return "\n".join(lines)


def rule_id_problems(config: Config) -> list[str]:
    """Timeline entries and disabled rules that name no rule, or a rule twice."""
    problems = []
    seen_ids: set[str] = set()
    owner: dict[str, str] = {}
    for index, entry in enumerate(config.timeline):
        if entry.id in seen_ids:
            problems.append(f"timeline[{index}].id: duplicate id {entry.id!r}")
        seen_ids.add(entry.id)
        for rule in entry.rules:
            if rule not in RULE_IDS:
                problems.append(f"timeline[{index}].rules: unknown rule {rule!r}")
            elif rule in owner:
                problems.append(
                    f"timeline[{index}].rules: rule {rule!r} already has its deadline in "
                    f"entry {owner[rule]!r}"
                )
            else:
                owner[rule] = entry.id
    for index, rule in enumerate(config.rules.disabled):
        if rule not in RULE_IDS:
            problems.append(f"rules.disabled[{index}]: unknown rule {rule!r}")
    return problems


def _load_yaml(text: str, source: str) -> Any:
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506  (a SafeLoader subclass)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark is not None else source
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{where}: invalid YAML: {problem}") from None
    except RecursionError:
        raise ConfigError(f"{source}: invalid YAML: nested too deeply") from None


def today_utc() -> date:
    return datetime.now(UTC).date()


def _with_exceptions(
    config: Config, source: str, today: date, lapsed_too: bool
) -> tuple[Config, list[str]]:
    """CONFIG with the entries of the files it names, and the exceptions'
    problems; LAPSED_TOO: an expiry that has come is one (`config check`)."""
    entries = list(config.exceptions.entries)
    origins: list[Origin] = [(source, f"exceptions.entries[{i}]") for i in range(len(entries))]
    if config.exceptions.files:
        try:
            more, where = included_entries(
                config.exceptions, source, _load_yaml, _format_validation_error
            )
        except ExceptionFileProblems as exc:
            return config, exc.problems
        entries += more
        origins += where
        merged = config.exceptions.model_copy(update={"entries": entries})
        config = config.model_copy(update={"exceptions": merged})
    problems = exception_problems(entries, origins, config.exceptions, today)
    if lapsed_too:
        problems += lapsed_problems(entries, origins, today)
    return config, problems


def parse_config(
    text: str, source: str, today: date | None = None, *, lapsed_is_error: bool = False
) -> Config:
    """The configuration in TEXT (from SOURCE). An exception further than
    exceptions.max_days ahead of TODAY is an error; one whose expiry has come is
    one only with LAPSED_IS_ERROR: a scan treats it as lapsed, with an alert."""
    raw = _load_yaml(text, source)
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: the top level must be a mapping, not {type(raw).__name__}")
    try:
        config = Config.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_format_validation_error(source, exc)) from None
    problems = [f"{source}: {p}" for p in rule_id_problems(config)]
    config, exception_lines = _with_exceptions(
        config, source, today or today_utc(), lapsed_is_error
    )
    problems += exception_lines
    if problems:
        raise ConfigError("\n".join(problems))
    return config


def load_config(path: str | Path | None, *, lapsed_is_error: bool = False) -> Config:
    """Load from PATH, else from $KEYSENTRY_CONFIG, else the defaults."""
    chosen = path if path is not None else os.environ.get("KEYSENTRY_CONFIG")
    if not chosen:
        return Config()
    file = Path(chosen)
    try:
        text = read_small_text(file, "the config")
    except OSError as exc:
        raise ConfigError(f"{file}: cannot read config: {exc.strerror}") from None
    except InputError as exc:
        raise ConfigError(str(exc)) from None
    return parse_config(text, str(file), lapsed_is_error=lapsed_is_error)
