"""A digest's content is gathered a key at a time and keeps only the most
urgent keys; what it shows must be what sorting every key would show. The
split of a message into parts searches from a guess; it must find the same
part sizes as a search from one key."""

from __future__ import annotations

import random
from datetime import date

import pytest

from scanner.alerts.content.digest_content import DigestContent, urgency_order, urgency_text
from scanner.alerts.content.limits import largest
from scanner.alerts.facts import FindingFacts, KeyFacts, Target
from scanner.config.alerts import AlertsConfig

STATUSES = ("blocked", "non_compliant", "at_risk")


def key(i: int) -> tuple[KeyFacts, list[FindingFacts]]:
    facts = KeyFacts(
        name=f"projects/{i % 7}/locations/global/keys/k{i:04d}",
        uid=f"u{i}",
        display_name=f"key {i}",
        project=f"p{i % 7}",
        project_number=str(i % 7),
        key_type="standard",
        status=STATUSES[i % 3],
        score=(i * 37) % 100,
        requests_7d=(i % 4) or None,
    )
    deadline = date(2026, 12, 1 + i % 28) if i % 5 else None
    finding = FindingFacts(
        f"fp{i}", "rotation-overdue", "high", "old", "rotate-key", deadline, None, None
    )
    return facts, [finding]


@pytest.mark.parametrize("limit", [1, 3, 10, 200])
def test_the_kept_keys_are_the_most_urgent_whatever_the_arrival_order(limit: int) -> None:
    keys = [key(i) for i in range(150)]
    changed = frozenset(f"fp{i}" for i in range(0, 150, 11))
    random.Random(limit).shuffle(keys)
    content = DigestContent(AlertsConfig(), Target("team", "email", "a@x"), limit, changed)
    for facts, findings in keys:
        content.add(facts, findings)
        assert content.held < 2 * limit  # never more than twice the limit in memory

    def order(item: tuple[KeyFacts, list[FindingFacts]]) -> tuple[object, ...]:
        fresh = item[1][0].fingerprint in changed
        return (not fresh, *urgency_order(*item))

    expected = sorted(keys, key=order)[:limit]
    assert [(k.name, fresh) for k, _, fresh in content.top()] == [
        (k.name, fs[0].fingerprint in changed) for k, fs in expected
    ]
    assert content.total == 150
    assert content.omitted == max(0, 150 - limit)
    assert content.fresh == len(changed)
    assert content.by_status == {"blocked": 50, "non_compliant": 50, "at_risk": 50}
    assert content.audience.projects == {f"p{i}" for i in range(7)}


@pytest.mark.parametrize("most", [1, 2, 7, 64, 200])
def test_the_largest_part_is_found_from_any_guess(most: int) -> None:
    for threshold in range(0, most + 2):
        for guess in (1, 2, most // 2, most, most + 5, threshold, threshold + 1):
            for step in (0, 1, 5):  # 0: a 32nd of the guess
                calls: list[int] = []

                def fit(n: int, threshold: int = threshold, calls: list[int] = calls) -> bool:
                    assert 1 <= n <= most
                    calls.append(n)
                    return n <= threshold

                assert largest(fit, most, guess, step) == min(max(threshold, 1), most)
    near: list[int] = []
    largest(lambda n: near.append(n) is None and n <= 150, 200, 148)
    assert len(near) <= 4  # a guess near the answer takes a few renders, not a search from 1


def test_the_stored_urgency_sorts_as_the_urgency_order() -> None:
    """Digest lines store urgency_order as digits the database sorts, then the
    key's name: the same order whatever the collation."""
    keys = [key(i) for i in range(300)]
    for i, (facts, findings) in enumerate(keys):  # scores at the ends of their range too
        keys[i] = (facts._replace(score=[0, 100, facts.score][i % 3]), findings)
    by_order = sorted(keys, key=lambda item: urgency_order(*item))
    by_text = sorted(keys, key=lambda item: (urgency_text(urgency_order(*item)), item[0].name))
    assert [k.name for k, _ in by_text] == [k.name for k, _ in by_order]
    assert all(urgency_text(urgency_order(*item)).isdigit() for item in keys)
