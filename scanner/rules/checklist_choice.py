"""Which checklist a finding points to: chosen from the rule's and the key
it is about, never from the rule alone. An auth key is never told to migrate
to an auth key; a leaked key is not told to restrict or rotate itself, but to
be replaced: its string is known, whatever its restrictions."""

from __future__ import annotations

from scanner.core.models import KeyRecord, KeyType

LEAK_RESPONSE = "leak-response"
# What a leak makes beside the point: changing a known key's restrictions
# limits what its string can call, not who holds it.
_REPLACED_BY_LEAK = frozenset(
    {
        "restrict-key",
        "add-application-restriction",
        "migrate-to-auth-key",
        "move-gemini-behind-server",
        "remove-unused-key",
        "rotate-key",
    }
)
# What a checklist names for a key type it does not fit, and what that key
# is told instead.
_FOR_KEY_TYPE = {("migrate-to-auth-key", KeyType.AUTH): "restrict-key"}


def checklist_for(named: str, key: KeyRecord) -> str:
    """The checklist for KEY of a finding whose rule names NAMED."""
    if key.leaks and named in _REPLACED_BY_LEAK:
        return LEAK_RESPONSE
    return _FOR_KEY_TYPE.get((named, key.key_type), named)
