"""Each rule on both sides of its conditions, thresholds and dates."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

import scanner.rules as rules_package
from scanner.config import Config, RulesConfig
from scanner.core.models import AppRestriction, DeadlineKind, KeyRecord, KeyType, KeyUsage, Severity
from scanner.rules import (
    gemini_browser_key,
    gemini_dormant_unrestricted_key,
    gemini_shared_key,
    gemini_standard_key,
    gemini_unrestricted_standard_key,
    key_api_unrestricted,
    key_application_unrestricted,
    key_not_rotated,
    key_weak_application_restriction,
)
from scanner.rules.base import RuleContext
from scanner.rules.catalog import ALL_RULES, RULES
from scanner.rules.checklists import CHECKLISTS

NOW = datetime(2026, 11, 21, tzinfo=UTC)
GEMINI = "generativelanguage.googleapis.com"


def make_key(**changes: object) -> KeyRecord:
    base = KeyRecord(
        name="projects/1/locations/global/keys/k",
        uid="k",
        project_number="1",
        project_id="p",
        display_name="k",
        created=NOW - timedelta(days=10),
        updated=None,
        deleted=None,
        key_type=KeyType.STANDARD,
        service_account=None,
        api_targets=(GEMINI,),
        application_restriction=AppRestriction.SERVER,
        application_values=("192.0.2.1/32",),
        annotations=(),
        gemini_enabled=True,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def ctx(now: datetime = NOW, config: Config | None = None) -> RuleContext:
    return RuleContext(config or Config(), now, usage_available=True)


AUTH = {"key_type": KeyType.AUTH, "service_account": "sa@p.iam.gserviceaccount.com"}


def test_catalog_metadata_is_complete() -> None:
    ids = [r.meta.id for r in RULES]
    assert len(ids) == len(set(ids))
    # Every rule module is in the catalog: adding a module without its line fails here.
    folder = Path(rules_package.__file__).parent
    modules = {p.stem for p in folder.glob("*.py") if "\nMETA = RuleMeta(" in p.read_text()}
    assert {m.id.replace("-", "_") for m in ALL_RULES} == modules
    for rule in RULES:
        assert rule.meta.checklist in CHECKLISTS
        assert rule.meta.title and rule.meta.rationale


class TestUnrestrictedStandard:
    rule = gemini_unrestricted_standard_key

    def test_fires_critical_with_enforced_deadline(self) -> None:
        f = self.rule.evaluate(make_key(api_targets=()), ctx())
        assert f is not None
        assert f.severity is Severity.CRITICAL
        assert f.deadline == date(2026, 6, 19)
        assert f.deadline_kind is DeadlineKind.ENFORCED

    def test_unknown_gemini_is_critical_off_is_low(self) -> None:
        unknown = self.rule.evaluate(make_key(api_targets=(), gemini_enabled=None), ctx())
        off = self.rule.evaluate(make_key(api_targets=(), gemini_enabled=False), ctx())
        assert unknown is not None and unknown.severity is Severity.CRITICAL
        # True only of calls the key never makes: said so, and ranked low.
        assert off is not None and off.severity is Severity.LOW
        assert off.summary.startswith("Would be rejected if it called Gemini")

    def test_restricted_or_auth_keys_do_not_fire(self) -> None:
        assert self.rule.evaluate(make_key(), ctx()) is None
        assert self.rule.evaluate(make_key(api_targets=(), **AUTH), ctx()) is None

    def test_deadline_follows_configuration(self) -> None:
        config = Config.model_validate(
            {
                "timeline": [
                    {
                        "id": "moved",
                        "date": "2027-01-15",
                        "rules": [self.rule.META.id],
                        "effect": "moved",
                        "status": "announced",
                    }
                ]
            }
        )
        f = self.rule.evaluate(make_key(api_targets=()), ctx(config=config))
        assert f is not None and f.deadline == date(2027, 1, 15)
        assert f.deadline_kind is DeadlineKind.ANNOUNCED


def old_key(**changes: object) -> KeyRecord:
    """An unrestricted key created long before any dormancy period."""
    return make_key(api_targets=(), created=NOW - timedelta(days=400), **changes)


class TestDormant:
    rule = gemini_dormant_unrestricted_key

    def test_needs_usage_data(self) -> None:
        assert self.rule.META.needs == "usage"
        assert self.rule.evaluate(old_key(), ctx()) is None

    def test_both_sides_of_dormancy_days(self) -> None:
        used_recently = KeyUsage(last_used=NOW - timedelta(days=89), lookback_days=120)
        used_long_ago = KeyUsage(last_used=NOW - timedelta(days=91), lookback_days=120)
        never = KeyUsage(last_used=None, lookback_days=120)
        assert self.rule.evaluate(old_key(usage=used_recently), ctx()) is None
        f = self.rule.evaluate(old_key(usage=used_long_ago), ctx())
        assert f is not None and f.deadline == date(2026, 5, 7)
        assert self.rule.evaluate(old_key(usage=never), ctx()) is not None

    def test_a_key_younger_than_the_period_is_not_dormant(self) -> None:
        never = KeyUsage(last_used=None, lookback_days=120)
        for age, dormant in ((3, False), (89, False), (91, True)):
            key = make_key(api_targets=(), created=NOW - timedelta(days=age), usage=never)
            assert (self.rule.evaluate(key, ctx()) is not None) is dormant, age
        unknown_age = make_key(api_targets=(), created=None, usage=never)
        assert self.rule.evaluate(unknown_age, ctx()) is None

    def test_short_window_without_traffic_is_not_dormancy(self) -> None:
        never_short = KeyUsage(last_used=None, lookback_days=30)
        assert self.rule.evaluate(old_key(usage=never_short), ctx()) is None

    def test_restricted_key_is_not_subject(self) -> None:
        never = KeyUsage(last_used=None, lookback_days=120)
        key = make_key(created=NOW - timedelta(days=400), usage=never)
        assert self.rule.evaluate(key, ctx()) is None


class TestStandardKey:
    rule = gemini_standard_key

    def test_restricted_standard_gemini_key_fires_announced(self) -> None:
        f = self.rule.evaluate(make_key(), ctx())
        assert f is not None and f.severity is Severity.HIGH
        assert f.deadline == date(2026, 9, 1) and f.deadline_kind is DeadlineKind.ANNOUNCED
        assert f.checklist == "migrate-to-auth-key"

    def test_other_targets_auth_and_unrestricted_do_not_fire(self) -> None:
        assert (
            self.rule.evaluate(make_key(api_targets=("maps-backend.googleapis.com",)), ctx())
            is None
        )
        assert self.rule.evaluate(make_key(**AUTH), ctx()) is None
        assert self.rule.evaluate(make_key(api_targets=()), ctx()) is None


class TestShared:
    rule = gemini_shared_key

    def test_gemini_plus_another_service(self) -> None:
        f = self.rule.evaluate(make_key(api_targets=(GEMINI, "translate.googleapis.com")), ctx())
        assert f is not None and f.severity is Severity.MEDIUM

    def test_gemini_only_or_no_gemini(self) -> None:
        assert self.rule.evaluate(make_key(), ctx()) is None
        two_others = ("maps-backend.googleapis.com", "translate.googleapis.com")
        assert self.rule.evaluate(make_key(api_targets=two_others), ctx()) is None


class TestBrowser:
    rule = gemini_browser_key

    def browser(self, **changes: object) -> KeyRecord:
        return make_key(
            application_restriction=AppRestriction.BROWSER,
            application_values=("https://a.example/*",),
            **changes,
        )

    def test_browser_key_reaching_gemini(self) -> None:
        assert self.rule.evaluate(self.browser(), ctx()) is not None
        assert self.rule.evaluate(self.browser(api_targets=()), ctx()) is not None
        assert self.rule.evaluate(self.browser(**AUTH), ctx()) is not None

    def test_not_reaching_gemini(self) -> None:
        assert self.rule.evaluate(self.browser(gemini_enabled=False), ctx()) is None
        maps_only = ("maps-backend.googleapis.com",)
        assert self.rule.evaluate(self.browser(api_targets=maps_only), ctx()) is None
        assert self.rule.evaluate(make_key(), ctx()) is None


def test_api_unrestricted_any_key_type() -> None:
    assert key_api_unrestricted.evaluate(make_key(api_targets=()), ctx()) is not None
    assert key_api_unrestricted.evaluate(make_key(api_targets=(), **AUTH), ctx()) is not None
    assert key_api_unrestricted.evaluate(make_key(), ctx()) is None


def test_application_unrestricted() -> None:
    none = make_key(application_restriction=AppRestriction.NONE, application_values=())
    assert key_application_unrestricted.evaluate(none, ctx()) is not None
    assert key_application_unrestricted.evaluate(make_key(), ctx()) is None


class TestWeakApplicationRestriction:
    rule = key_weak_application_restriction

    @pytest.mark.parametrize("referrer", ["*", "*.*", "*/*", "https://*.com/*", "*.", "*.app"])
    def test_weak_referrers(self, referrer: str) -> None:
        key = make_key(
            application_restriction=AppRestriction.BROWSER,
            application_values=("https://ok.example.com/*", referrer),
        )
        f = self.rule.evaluate(key, ctx())
        assert f is not None and referrer in f.summary

    @pytest.mark.parametrize(
        "referrer", ["*.example.com/*", "https://app.example.org/*", "localhost.example.com/*"]
    )
    def test_specific_referrers(self, referrer: str) -> None:
        key = make_key(
            application_restriction=AppRestriction.BROWSER, application_values=(referrer,)
        )
        assert self.rule.evaluate(key, ctx()) is None

    @pytest.mark.parametrize(
        ("referrers", "weak"),
        [
            (("localhost",), True),
            (("http://localhost:3000/*", "127.0.0.1:8080", "[::1]:5000/*"), True),
            (("file:///Users/dana/index.html",), True),
            (("http://dev.localhost/*",), True),
            (("http://localhost:3000/*", "https://app.example.com/*"), False),
            (("http://localhost.example.com/*",), False),
            (("http://127.0.0.10/*",), False),
        ],
    )
    def test_referrers_only_of_this_machine(self, referrers: tuple[str, ...], weak: bool) -> None:
        key = make_key(application_restriction=AppRestriction.BROWSER, application_values=referrers)
        f = self.rule.evaluate(key, ctx())
        assert (f is not None) is weak
        if f is not None:
            assert "only this machine" in f.summary

    @pytest.mark.parametrize(
        ("apps", "without"),
        [
            (("com.acme.app:",), ["com.acme.app"]),
            (
                ("com.acme.app:DA39A3EE5E6B4B0D3255BFEF95601890AFD80709", "com.acme.beta:"),
                ["com.acme.beta"],
            ),
            (("com.acme.app:DA39A3EE5E6B4B0D3255BFEF95601890AFD80709",), []),
        ],
    )
    def test_android_apps_without_a_fingerprint(
        self, apps: tuple[str, ...], without: list[str]
    ) -> None:
        key = make_key(application_restriction=AppRestriction.ANDROID, application_values=apps)
        f = self.rule.evaluate(key, ctx())
        assert (f is not None) is bool(without)
        if f is not None:
            assert f.summary.endswith(f": {', '.join(without)}.")

    @pytest.mark.parametrize(
        ("ips", "weak"),
        [
            (("0.0.0.0/0",), True),
            (("::/0",), True),
            (("10.0.0.0/8",), False),
            (("203.0.113.4",), False),
            (("2001:db8::/32",), False),
            (("not-an-ip",), False),
        ],
    )
    def test_server_ranges(self, ips: tuple[str, ...], weak: bool) -> None:
        key = make_key(application_restriction=AppRestriction.SERVER, application_values=ips)
        assert (self.rule.evaluate(key, ctx()) is not None) is weak


class TestNotRotated:
    rule = key_not_rotated

    def test_both_sides_of_rotation_days(self) -> None:
        fresh = make_key(created=NOW - timedelta(days=59))
        due_soon = make_key(created=NOW - timedelta(days=61))
        overdue = make_key(created=NOW - timedelta(days=90))
        assert self.rule.evaluate(fresh, ctx()) is None
        soon = self.rule.evaluate(due_soon, ctx())
        assert soon is not None and soon.severity is Severity.LOW
        assert soon.deadline == (NOW + timedelta(days=29)).date()
        late = self.rule.evaluate(overdue, ctx())
        assert late is not None and late.severity is Severity.MEDIUM
        assert late.deadline_kind is DeadlineKind.POLICY

    def test_threshold_from_config(self) -> None:
        config = Config(rules=RulesConfig(rotation_days=365, warn_days=0))
        assert (
            self.rule.evaluate(make_key(created=NOW - timedelta(days=364)), ctx(config=config))
            is None
        )
        assert (
            self.rule.evaluate(make_key(created=NOW - timedelta(days=365)), ctx(config=config))
            is not None
        )

    def test_unknown_creation_time(self) -> None:
        assert self.rule.evaluate(make_key(created=None), ctx()) is None
