"""A key's checklists merged for one message: each checklist once, in the
order of the key's worst findings, without the steps that cannot apply to
this key (an auth key has no standard key to delete; a key in a project
where Gemini is off is not "only for Gemini"; a key already limited to some
APIs is not "marked Unrestricted")."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from scanner.alerts.facts import KeyFacts
from scanner.rules.checklists import CHECKLISTS

# A step's wording for a key: the step, another step, or None (left out).
Variant = Callable[[KeyFacts, str], str | None]


def _restrict_only_gemini(key: KeyFacts, step: str) -> str | None:
    if key.gemini_enabled is False:
        return (
            "Find which APIs the key calls: APIs & Services > Metrics in its project, "
            "filtered by this credential."
        )
    return None if key.api_targets else step


def _restrict_others(key: KeyFacts, step: str) -> str | None:
    if key.gemini_enabled is False:
        return (
            "In the Cloud Console (APIs & Services > Credentials > the key), restrict it to "
            "those APIs."
        )
    return step


def _standard_only(key: KeyFacts, step: str) -> str | None:
    return None if key.key_type == "auth" else step


_VARIANTS: dict[tuple[str, int], Variant] = {
    ("restrict-key", 0): _restrict_only_gemini,
    ("restrict-key", 1): _restrict_others,
    ("migrate-to-auth-key", 4): _standard_only,
}


def steps_for(checklist_id: str, key: KeyFacts) -> list[str]:
    steps = []
    for index, step in enumerate(CHECKLISTS[checklist_id].steps):
        variant = _VARIANTS.get((checklist_id, index))
        worded = step if variant is None else variant(key, step)
        if worded is not None:
            steps.append(worded)
    return steps


def merged_checklists(key: KeyFacts, checklist_ids: list[str]) -> list[dict[str, Any]]:
    merged = []
    for checklist_id in dict.fromkeys(checklist_ids):
        checklist = CHECKLISTS.get(checklist_id)
        if checklist is None:
            continue  # named by a later version, in a queued notification
        steps = steps_for(checklist_id, key)
        merged.append({"id": checklist.id, "title": checklist.title, "steps": steps})
    return merged
