"""The checks of exceptions that need more than their own fields: the rule
catalog, the other entries, today's date and the files `exceptions.files`
names. Each problem is one line naming its file and config path."""

from __future__ import annotations

import glob
import re
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from scanner.config.exceptions import ExceptionEntry, ExceptionsConfig
from scanner.core.errors import InputError
from scanner.inputs.textfiles import read_small_text
from scanner.rules.catalog import RULE_IDS
from scanner.rules.key_leaked import META as LEAK_META

# (source, config path prefix) of each entry, in order: for error messages.
Origin = tuple[str, str]
LEAK_RULE = LEAK_META.id
FormatError = Callable[[str, ValidationError, str], str]


def included_entries(
    exceptions: ExceptionsConfig,
    source: str,
    load_yaml: Callable[[str, str], Any],
    format_error: FormatError,
) -> tuple[list[ExceptionEntry], list[Origin]]:
    """The entries of the files `exceptions.files` names (globs relative to
    the config file SOURCE), in file name order, with where each came from."""
    base = Path(source).parent
    entries: list[ExceptionEntry] = []
    origins: list[Origin] = []
    problems: list[str] = []
    for index, pattern in enumerate(exceptions.files):
        matched = sorted(glob.glob(str(base / pattern)))
        if not matched:
            problems.append(f"{source}: exceptions.files[{index}]: no file matches {pattern!r}")
        for name in matched:
            try:
                text = read_small_text(Path(name), "the exceptions file")
            except OSError as exc:
                problems.append(f"{name}: cannot read exceptions: {exc.strerror or exc}")
                continue
            except InputError as exc:
                problems.append(str(exc))
                continue
            raw = load_yaml(text, name)
            if raw is None:
                continue
            if not isinstance(raw, list):
                problems.append(f"{name}: must be a list of exceptions, not {type(raw).__name__}")
                continue
            for position, item in enumerate(raw):
                try:
                    entries.append(ExceptionEntry.model_validate(item))
                except ValidationError as exc:
                    problems.append(format_error(name, exc, f"[{position}]"))
                    continue
                origins.append((name, f"[{position}]"))
    if problems:
        raise ExceptionFileProblems(problems)
    return entries, origins


class ExceptionFileProblems(Exception):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def exception_problems(
    entries: list[ExceptionEntry], origins: list[Origin], config: ExceptionsConfig, today: date
) -> list[str]:
    """Unknown rules, an id used twice, expiries further ahead than max_days,
    and exceptions wider than their scope allows."""
    problems = []
    seen: dict[str, str] = {}
    approvers = {a.strip().lower() for a in config.organization_approvers}
    for entry, (source, path) in zip(entries, origins, strict=True):
        where = f"{source}: {path}"
        if entry.id in seen:
            problems.append(f"{where}.id: {entry.id!r} is already the id of {seen[entry.id]}")
        else:
            seen[entry.id] = path
        for index, rule in enumerate(entry.rules):
            if rule not in RULE_IDS:
                problems.append(f"{where}.rules[{index}]: unknown rule {rule!r}")
            if rule == LEAK_RULE and not entry.keys:
                problems.append(
                    f"{where}.rules[{index}]: {LEAK_RULE} is accepted only for keys named in "
                    "`keys`: a leaked key is an incident wherever it lives"
                )
        ahead = (entry.expires - today).days
        if ahead > config.max_days:
            problems.append(
                f"{where}.expires: {entry.expires} is {ahead} days ahead; "
                f"exceptions.max_days allows {config.max_days}"
            )
        problems += _scope_problems(entry, where, approvers)
    return problems


def _universal(glob: str) -> bool:
    """Whether GLOB has no literal character: it matches every id or name
    (project ids all start with a letter, so even `[a-z]*` does)."""
    return not re.sub(r"\[[^]]*\]|[*?]", "", glob)


def organization_wide(entry: ExceptionEntry) -> str | None:
    """What in ENTRY selects every key of the organization, or None when a
    selector bounds it: named keys, folders, or a glob with a literal part."""
    if entry.keys or entry.folders:
        return None
    selectors = []
    if entry.projects:
        selectors.append(("projects", [g for g in entry.projects if _universal(g)]))
    if entry.display_names:
        selectors.append(("display_names", [g for g in entry.display_names if _universal(g)]))
    selectors += [(f"labels.{n}", [g] if _universal(g) else []) for n, g in entry.labels.items()]
    if any(not universal for _, universal in selectors):
        return None
    return ", ".join(f"{name}: {universal[0]!r}" for name, universal in selectors)


def _scope_problems(entry: ExceptionEntry, where: str, approvers: set[str]) -> list[str]:
    wide = organization_wide(entry)
    if entry.scope == "organization":
        if entry.approved_by.lower() not in approvers:
            return [
                f"{where}.approved_by: {entry.approved_by!r} is not one of "
                "exceptions.organization_approvers, who alone approve an exception with "
                "scope: organization"
            ]
        return []
    if wide is not None:
        return [
            f"{where}: {wide} selects every key of the organization; an exception this wide "
            "needs `scope: organization` and an approver named in "
            "exceptions.organization_approvers"
        ]
    return []


def lapsed_problems(entries: list[ExceptionEntry], origins: list[Origin], today: date) -> list[str]:
    """Exceptions whose expiry has come (for `config check`: a scan treats them as lapsed)."""
    return [
        f"{source}: {path}.expires: {entry.expires} has come; renew the exception "
        "(a new expiry, approved again) or remove it"
        for entry, (source, path) in zip(entries, origins, strict=True)
        if entry.expires <= today
    ]
