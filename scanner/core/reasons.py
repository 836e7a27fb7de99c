"""Why a finding that was open is not found again: the reason its `resolved`
transition carries. Only `fixed`, `key_deleted` and `left_inventory` say
something happened to the key; the others say the scan stopped looking."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Reason(StrEnum):
    FIXED = "fixed"  # the key changed, or its usage did, and the rule no longer applies
    KEY_DELETED = "key_deleted"  # the key is in the inventory as deleted
    LEFT_INVENTORY = "left_inventory"  # the key (or project) is no longer listed
    RULE_DISABLED = "rule_disabled"  # rules.disabled names the rule
    EVIDENCE_MISSING = "evidence_missing"  # the data the rule needs was not read
    CONFIG_CHANGED = "config_changed"  # the key is as it was; the configuration is not
    ACCEPTED = "accepted"  # an exception now covers the finding


# A resolution owners should hear about: something happened to their key.
NEWSWORTHY = frozenset({Reason.FIXED, Reason.KEY_DELETED, Reason.LEFT_INVENTORY})


# What a resolution alert says happened (only NEWSWORTHY reasons send one).
RESOLVED_DETAIL = {
    Reason.FIXED.value: "fixed: the key no longer matches the rule",
    Reason.KEY_DELETED.value: "the key was deleted",
    Reason.LEFT_INVENTORY.value: "the key is no longer in the inventory",
}


@dataclass(frozen=True)
class Resolution:
    """What a scan knew, for telling why each leftover finding went away.
    RULES_RUN are the rules that ran; DISABLED those the config switched off;
    USAGE_RULES those that need per-key usage; PROJECTS the project
    subjects (projects/N) still in the inventory; CONFIG_CHANGED whether
    the configuration digest differs from the last successful scan's."""

    rules_run: frozenset[str]
    disabled: frozenset[str]
    usage_rules: frozenset[str]
    projects: frozenset[str] = frozenset()
    config_changed: bool = False
    usage_read: bool = False  # a usage source was given: a key without figures lacks them
    # Exceptions still configured whose expiry has come: a finding one of them
    # accepted is open again because it expired, not because it was revoked.
    lapsed_exceptions: frozenset[str] = frozenset()
    # Filled by the writer as keys stream in.
    seen: set[str] = field(default_factory=set)
    deleted: set[str] = field(default_factory=set)
    without_usage: set[str] = field(default_factory=set)
    changed: set[str] = field(default_factory=set)

    def reason(self, rule_id: str, subject: str) -> Reason:
        is_key = "/keys/" in subject
        if (subject not in self.seen) if is_key else (subject not in self.projects):
            # A key a feed message says was deleted is gone for that reason.
            return Reason.KEY_DELETED if subject in self.deleted else Reason.LEFT_INVENTORY
        if subject in self.deleted:
            return Reason.KEY_DELETED
        if rule_id in self.disabled:
            return Reason.RULE_DISABLED
        if rule_id not in self.rules_run:
            return Reason.EVIDENCE_MISSING
        if rule_id in self.usage_rules and subject in self.without_usage:
            return Reason.EVIDENCE_MISSING
        if self.config_changed and subject not in self.changed:
            return Reason.CONFIG_CHANGED
        return Reason.FIXED
