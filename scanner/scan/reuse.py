"""Whether a scan may keep a key's last judgement instead of judging it again.

A key's findings, status and score follow from the key as the sources describe
it (the key and usage digests on its open version), from what the scan judges
it in (the rules in force, the code that judges and the schema it keeps them
in, the projects and IAM, which sources were read), and from the clock. A
scan keeps them when the key's digests are those of its open version, what
it judges in is what the last succeeded scan judged in (the judging digest,
kept in that scan's counts), and no change of the clock (scanner.rules.clock)
falls between that scan and this one. Keeping writes nothing: the open
version stays as it is, in the chain as it was."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from scanner.config import Config
from scanner.core.key_views import ClockFacts, KeyClock, ListedIdent
from scanner.core.models import InventoryContext, KeyRecord, KeyUsage
from scanner.exceptions.matching import ExceptionsInForce
from scanner.rules.base import Rule, VerdictRule
from scanner.rules.clock import key_changes, scan_changes, unchanged_between
from scanner.scan.code_digest import code_digest
from scanner.scan.enrich import Enricher
from scanner.scan.figures_tally import FiguresTally
from scanner.sources.inventory.listed import ListedKey
from scanner.store.db import head_revision
from scanner.store.history.rows import key_digest, usage_digest
from scanner.store.history.state import OpenKey, display_names, open_finding_facts, packed
from scanner.store.history.writer import HistoryWriter
from scanner.store.tables import Scan

COUNTS_ENTRY = "judging"


# The modules whose import closure judges a key, besides the sources a scan
# is handed (their modules are added): the scan itself, and through it the
# rules, the exceptions, the models and their helpers, the configuration and
# its defaults, and the store that holds the judgements kept.
JUDGING_ROOTS = ("scanner.scan.engine",)


def judging_code(sources: tuple[object, ...]) -> str:
    """The code that judges, with the schema judgements are kept in: a change
    to any of it (an upgrade, a migration) judges every key again. SOURCES are
    the objects a scan reads keys, usage and the audit log through."""
    modules = {type(source).__module__ for source in sources if source is not None}
    return f"{code_digest((*JUDGING_ROOTS, *sorted(modules)))}:{head_revision()}"


def _context_values(context: InventoryContext) -> tuple[Any, ...]:
    """What rules and exceptions read of the organization, in a stable order
    (frozensets have none of their own)."""
    projects = tuple(context.projects[n] for n in sorted(context.projects))
    iam: tuple[Any, ...] = ()
    if context.iam is not None:
        index = context.iam
        bindings = tuple(
            (resource, tuple((role, tuple(sorted(m))) for role, m in sorted(roles.items())))
            for resource, roles in sorted(index.bindings.items())
        )
        accounts = tuple(index.service_accounts[e] for e in sorted(index.service_accounts))
        roles = tuple((r, tuple(sorted(p))) for r, p in sorted(index.custom_roles.items()))
        iam = (bindings, accounts, tuple(sorted(index.service_account_projects)), roles)
    return (projects, iam, context.services_known, tuple(sorted(context.gemini_projects)))


def judging_digest(
    code: str,
    config_digest: str,
    config: Config,
    context: InventoryContext,
    rules: tuple[Rule | VerdictRule, ...],
    sources: tuple[bool, ...],
) -> str:
    """One digest of everything besides the key and the clock that a judgement
    depends on: CODE (judging_code), RULES are those enabled, SOURCES which
    sources were read (usage, IAM, audit log)."""
    values = (
        code,
        config_digest,
        tuple(rule.meta.id for rule in rules),
        # key-orphaned and ownership read the owners map, which the rules in force leave out
        tuple(sorted((glob, tuple(people)) for glob, people in config.alerts.owners.items())),
        sources,
        _context_values(context),
    )
    return hashlib.blake2b(repr(values).encode(), digest_size=16).hexdigest()


@dataclass(frozen=True, slots=True)
class Kept:
    """A key whose last judgement stands: its open version, recorded as seen."""

    name: str
    version: OpenKey


@dataclass(frozen=True, slots=True)
class Judge:
    """A key to judge: decoded and completed, with its digest as listed."""

    record: KeyRecord
    source_hash: bytes | None


class ClockWindow:
    """Says of each key whether the clock left its judgement as it was between
    the last succeeded scan and this one."""

    def __init__(self, config: Config, rules: tuple[Rule, ...], since: datetime, at: datetime):
        self._config = config
        self._rules = tuple(r for r in rules if r.changes_at is not None)
        self._since = since
        self._at = at

    def holds(self, key: KeyClock) -> bool:
        changes = key_changes(key, self._rules, self._config)
        return unchanged_between(changes, self._since, self._at)


class Reuse:
    """The one place that decides, key by key, whether a scan keeps a key's
    last judgement or judges it: before decoding it (its digest as listed,
    its usage and the clock against its open version), else once decoded and
    completed (its record's and usage's digests and the clock). WINDOW is
    None when nothing may be kept (the judging digest moved, or a change of
    the clock common to every key fell between the scans): every key is then
    decoded and judged. A key kept is recorded with the WRITER as unchanged."""

    def __init__(self, window: ClockWindow | None, enrich: Enricher, writer: HistoryWriter):
        self._window = window
        self._enrich = enrich
        self._writer = writer
        self.undecoded = 0  # keys kept without being decoded

    def consider(self, listed: ListedKey) -> Kept | Judge:
        source_hash = self.source_hash(listed)
        if self._window is not None and source_hash is not None:
            kept = self._kept_as_listed(listed, source_hash)
            if kept is not None:
                self.undecoded += 1
                return kept
        record = self._enrich(listed.record())
        if self._window is not None and self._window.holds(record):
            kept = self._kept_as_decoded(record, source_hash)
            if kept is not None:
                return kept
        return Judge(record, source_hash)

    def source_hash(self, listed: ListedKey) -> bytes | None:
        """A digest of LISTED as its source gave it and of what is added to it
        by name (creator, leaks, the read of a leaked string): what its key
        digest follows from besides what every key is judged in and its
        usage, which moves daily and is compared on its own. None when the
        source gives no digest."""
        name, raw = listed.name, listed.raw_digest
        if name is None or raw is None:
            return None
        creator, leaks, string_read = self._enrich.added_by_name(name)
        if creator is None and not leaks:
            return raw
        added = repr((creator, leaks) + ((string_read,) if string_read else ())).encode()
        return hashlib.blake2b(raw + added, digest_size=16).digest()

    def _kept_as_listed(self, listed: ListedKey, source_hash: bytes) -> Kept | None:
        """LISTED's open version, when it was written from the same listing (or
        held equal to it by the last scan) and its usage and the clock leave
        its judgement as it was."""
        name = listed.name
        assert name is not None and self._window is not None
        previous = self._writer.open_version(name)
        if previous is None or previous.source_hash != source_hash:
            return None
        usage = None
        if self._enrich.reads_usage:
            uid = listed.uid
            if uid is None:
                return None
            ident = ListedIdent(name, uid, previous.project_number, previous.project_id)
            usage = self._enrich.usage_of(ident)
        if not self._window.holds(ClockFacts(previous.created, usage)):
            return None
        return self._unchanged(name, previous, usage)

    def _kept_as_decoded(self, key: KeyRecord, source_hash: bytes | None) -> Kept | None:
        previous = self._writer.open_version(key.name)
        if previous is None or previous.source_hash != source_hash:
            return None
        if previous.content_hash != packed(key_digest(key)):
            return None
        return self._unchanged(key.name, previous, key.usage)

    def _unchanged(self, name: str, previous: OpenKey, usage: KeyUsage | None) -> Kept | None:
        """Kept when PREVIOUS carries the digests a kept judgement needs and
        USAGE is what it was; the writer then records the key as unchanged."""
        if previous.findings_hash is None:
            return None
        if previous.usage_hash != (packed(usage_digest(usage)) if usage is not None else None):
            return None
        self._writer.unchanged(name, previous, usage)
        return Kept(name, previous)


def window_for(
    latest: Scan | None, digest: str, config: Config, rules: tuple[Rule, ...], at: datetime
) -> ClockWindow | None:
    """The clock's window when LATEST judged in what DIGEST describes and no
    change common to every key falls between it and AT; otherwise None (judge
    every key)."""
    if latest is None or (latest.counts or {}).get(COUNTS_ENTRY, {}).get("digest") != digest:
        return None
    if not unchanged_between(scan_changes(config), latest.evaluated_at, at):
        return None
    return ClockWindow(config, rules, latest.evaluated_at, at)


def judging_of(
    code: str,
    config_digest: str,
    config: Config,
    context: InventoryContext,
    rules: tuple[tuple[Rule, ...], tuple[VerdictRule, ...]],
    sources: tuple[bool, ...],
    latest: Scan | None,
    at: datetime,
) -> tuple[str, ClockWindow | None]:
    """A scan's judging digest, and the window in which it may keep LATEST's
    judgements. CODE: judging_code; RULES: the key rules and verdict rules
    enabled."""
    key_rules, verdict_rules = rules
    digest = judging_digest(
        code, config_digest, config, context, key_rules + verdict_rules, sources
    )
    return digest, window_for(latest, digest, config, key_rules, at)


def counted(digest: str, kept: int, reuse: Reuse) -> dict[str, Any]:
    """What a scan's counts say of its judging: its digest, the keys it kept
    (KEPT), and how many of those it kept without decoding them."""
    return {"digest": digest, "kept": kept, "undecoded": reuse.undecoded}


def count_kept(conn: Connection, tally: FiguresTally, exceptions: ExceptionsInForce) -> None:
    """Add to TALLY what the keys it kept have open in history (their findings,
    and the display names of those among the top keys), and to EXCEPTIONS what
    those findings accept: such exceptions are in use, not stale."""
    if tally.kept:
        tally.add_stored(open_finding_facts(conn))
        tally.name_top(display_names(conn, tally.top_without_names()))
        exceptions.accepted.update(tally.kept_accepted)
