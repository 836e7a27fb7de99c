"""Every finding's checklist fits the key it is about: a table over every
rule, key type, kind of application restriction, API restriction, age and
leak. An auth key is never told to migrate to an auth key; a browser key
that can call Gemini is told to move the calls behind a server, whatever its
type; a leaked key is told to respond to the leak, not to restrict or rotate
a string that is known."""

from __future__ import annotations

import itertools
from collections import Counter
from dataclasses import replace
from datetime import timedelta

from scanner.core.models import AppRestriction, KeyStatus, KeyType, KeyUsage, LeakEvidence
from scanner.rules.catalog import RULES, VERDICT_RULES
from scanner.rules.checklists import CHECKLISTS
from tests.test_rules import GEMINI, NOW, ctx, make_key

VALUES = {
    AppRestriction.NONE: (),
    AppRestriction.BROWSER: ("https://shop.example.com/*",),
    AppRestriction.SERVER: ("192.0.2.1/32",),
    AppRestriction.ANDROID: ("com.example.app",),
    AppRestriction.IOS: ("com.example.ios",),
}
LEAK = LeakEvidence(tool="gitleaks", redacted="AIza…abcd", repository="example/app")
RESTRICTION_CHECKLISTS = {
    "restrict-key",
    "add-application-restriction",
    "migrate-to-auth-key",
    "move-gemini-behind-server",
    "rotate-key",
}


def keys() -> list[tuple[str, object]]:
    table = []
    for key_type, restriction, targets, old, leaked in itertools.product(
        KeyType, AppRestriction, ((), (GEMINI,)), (False, True), (False, True)
    ):
        key = make_key(
            key_type=key_type,
            service_account="sa@p.iam.gserviceaccount.com" if key_type is KeyType.AUTH else None,
            application_restriction=restriction,
            application_values=VALUES[restriction],
            api_targets=targets,
            created=NOW - timedelta(days=400 if old else 10),
            leaks=(LEAK,) if leaked else (),
            usage=KeyUsage(
                last_used=NOW - timedelta(hours=1),
                lookback_days=90,
                requests_7d=50,
                requests_30d=200,
                gemini_requests_7d=50,
                gemini_rejected_7d=50,
                covered_days=90,
            ),
        )
        label = f"{key_type}/{restriction}/{'api' if targets else 'any-api'}"
        table.append((label + ("/old" if old else "") + ("/leaked" if leaked else ""), key))
    return table


def test_every_checklist_fits_its_key() -> None:
    fired: Counter[str] = Counter()
    context = ctx()
    for label, key in keys():
        findings = [f for rule in RULES if (f := rule.evaluate(key, context)) is not None]  # type: ignore[arg-type]
        for status in (KeyStatus.BLOCKED, KeyStatus.NON_COMPLIANT):
            findings += [
                f
                for rule in VERDICT_RULES
                if (f := rule.evaluate(key, status, context)) is not None  # type: ignore[arg-type]
            ]
        for f in findings:
            fired[f.rule_id] += 1
            where = f"{label}: {f.rule_id} -> {f.checklist}"
            assert f.checklist in CHECKLISTS, where
            if key.key_type is KeyType.AUTH:  # type: ignore[attr-defined]
                assert f.checklist != "migrate-to-auth-key", where
            if key.leaks:  # type: ignore[attr-defined]
                assert f.checklist not in RESTRICTION_CHECKLISTS, where
            elif f.rule_id == "gemini-browser-key":
                assert f.checklist == "move-gemini-behind-server", where
            elif f.rule_id == "gemini-key-rejected-in-use":
                expected = (
                    "diagnose-gemini-rejections"
                    if key.key_type is KeyType.AUTH  # type: ignore[attr-defined]
                    else "migrate-to-auth-key"
                )
                assert f.checklist == expected, where
    # The table reaches the rules whose checklist depends on the key.
    for rule in (
        "gemini-browser-key",
        "gemini-standard-key",
        "gemini-key-rejected-in-use",
        "key-api-unrestricted",
        "key-application-unrestricted",
        "key-not-rotated",
        "key-leaked",
    ):
        assert fired[rule], rule


def test_an_auth_browser_key_is_told_to_move_gemini_behind_a_server() -> None:
    """The demo's "sandbox browser (auth)": an auth key, referrer-restricted,
    that can call Gemini."""
    from scanner.rules import gemini_browser_key

    key = replace(
        make_key(),
        key_type=KeyType.AUTH,
        service_account="sa@p.iam.gserviceaccount.com",
        application_restriction=AppRestriction.BROWSER,
        application_values=("https://app.example.com/*",),
    )
    found = gemini_browser_key.evaluate(key, ctx())
    assert found is not None and found.checklist == "move-gemini-behind-server"
    title = CHECKLISTS[found.checklist].title
    assert "auth key" not in title.lower() and "server" in title
