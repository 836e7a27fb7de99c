"""The IAM rules and project owners, each on both sides of its condition."""

from __future__ import annotations

from dataclasses import replace

from scanner.config import Config, OwnershipConfig
from scanner.configfile import parse_config
from scanner.core.models import IamIndex, KeyType, ProjectRecord, ServiceAccountRecord
from scanner.rules import (
    auth_key_missing_service_account,
    auth_key_overprivileged_service_account,
    key_admin_granted_broadly,
    key_orphaned,
)
from scanner.rules.base import RuleContext
from scanner.sources.inventory.ownership import project_owners
from tests.conftest import NOW
from tests.test_rules import make_key

SA = "sa@p.iam.gserviceaccount.com"
PROJECT = ProjectRecord(
    "1",
    "p",
    "P",
    "ACTIVE",
    labels=(("team", "payments"),),
    ancestors=("projects/1", "folders/5", "organizations/9"),
)


def iam(
    bindings: dict[str, dict[str, frozenset[str]]] | None = None,
    accounts: dict[str, ServiceAccountRecord] | None = None,
    listed: frozenset[str] = frozenset({"p"}),
) -> IamIndex:
    return IamIndex(bindings or {}, accounts or {}, listed, {})


def ctx(index: IamIndex | None, config: Config | None = None) -> RuleContext:
    return RuleContext(config or Config(), NOW, True, index, {"1": PROJECT})


AUTH_KEY = make_key(key_type=KeyType.AUTH, service_account=SA)
LIVE = {SA: ServiceAccountRecord(SA, "p", disabled=False)}


class TestOverprivileged:
    rule = auth_key_overprivileged_service_account

    def test_owner_or_editor_anywhere_above_the_project_fires(self) -> None:
        for resource in ("projects/1", "folders/5", "organizations/9"):
            for role in ("roles/owner", "roles/editor"):
                index = iam({resource: {role: frozenset({f"serviceAccount:{SA}"})}}, LIVE)
                f = self.rule.evaluate(AUTH_KEY, ctx(index))
                assert f is not None and role in f.summary and resource in f.summary

    def test_narrow_roles_other_accounts_and_standard_keys_do_not(self) -> None:
        index = iam(
            {
                "projects/1": {
                    "roles/aiplatform.user": frozenset({f"serviceAccount:{SA}"}),
                    "roles/owner": frozenset({"serviceAccount:other@p.iam.gserviceaccount.com"}),
                }
            },
            LIVE,
        )
        assert self.rule.evaluate(AUTH_KEY, ctx(index)) is None
        standard = make_key(key_type=KeyType.STANDARD)
        assert self.rule.evaluate(standard, ctx(index)) is None
        assert self.rule.evaluate(AUTH_KEY, ctx(None)) is None  # no IAM: not judged


class TestMissingServiceAccount:
    rule = auth_key_missing_service_account

    def test_deleted_or_disabled_fires(self) -> None:
        gone = self.rule.evaluate(AUTH_KEY, ctx(iam(accounts={})))
        assert gone is not None and "no longer exists" in gone.summary
        disabled = {SA: ServiceAccountRecord(SA, "p", disabled=True)}
        off = self.rule.evaluate(AUTH_KEY, ctx(iam(accounts=disabled)))
        assert off is not None and "disabled" in off.summary

    def test_live_or_out_of_sight_accounts_do_not(self) -> None:
        assert self.rule.evaluate(AUTH_KEY, ctx(iam(accounts=LIVE))) is None
        elsewhere = replace(AUTH_KEY, service_account="sa@other.iam.gserviceaccount.com")
        assert self.rule.evaluate(elsewhere, ctx(iam())) is None  # project not listed
        google = replace(AUTH_KEY, service_account="1-compute@developer.gserviceaccount.com")
        assert self.rule.evaluate(google, ctx(iam())) is None


class TestOrphaned:
    rule = key_orphaned

    def test_no_owner_fires(self) -> None:
        f = self.rule.evaluate(make_key(), ctx(iam()))
        assert f is not None and f.checklist == "assign-owner"

    def test_an_owner_or_a_configured_map_or_no_iam_does_not(self) -> None:
        assert self.rule.evaluate(make_key(owners=("a@x.com",)), ctx(iam())) is None
        mapped = parse_config(
            "alerts: {route: {receiver: r}, receivers: [{name: r, email: {to: [r@x.com]}}], "
            "owners: {'p*': [t@x.com]}}",
            "c",
        )
        assert self.rule.evaluate(make_key(), ctx(iam(), mapped)) is None
        assert self.rule.evaluate(make_key(), ctx(None)) is None


def test_project_owners_in_order() -> None:
    index = iam(
        {
            "projects/1": {
                "roles/owner": frozenset(
                    {
                        "user:Alice@X.com",
                        "group:team@x.com",
                        "serviceAccount:s@p.iam.gserviceaccount.com",
                    }
                ),
                "roles/editor": frozenset({"user:ed@x.com"}),
            },
            "folders/5": {"roles/owner": frozenset({"user:folder-boss@x.com"})},
            "organizations/9": {"roles/owner": frozenset({"domain:x.com", "user:ceo@x.com"})},
        }
    )
    plain = OwnershipConfig()
    assert project_owners(PROJECT, index, plain) == ("alice@x.com", "team@x.com")
    inherited = OwnershipConfig(
        inherit=True, label_addresses={"payments": ["payments@x.com"]}, labels=["team"]
    )
    assert project_owners(PROJECT, index, inherited) == (
        "alice@x.com",
        "team@x.com",
        "folder-boss@x.com",
        "ceo@x.com",
        "payments@x.com",
    )
    by_domain = OwnershipConfig(label_domain="corp.example")
    assert project_owners(PROJECT, None, by_domain) == ("payments@corp.example",)


class TestKeyAdminGrantedBroadly:
    rule = key_admin_granted_broadly

    def broad(
        self, member: str, role: str = "roles/editor", config: Config | None = None
    ) -> str | None:
        index = IamIndex(
            {"folders/5": {role: frozenset({member})}},
            {},
            frozenset(),
            {"organizations/9/roles/keys": frozenset({"apikeys.keys.update"})},
        )
        f = self.rule.evaluate(PROJECT, ctx(index, config))
        return None if f is None else f.summary

    def test_public_domain_and_outside_principals_fire(self) -> None:
        assert "allUsers" in (self.broad("allUsers") or "")
        assert "whole domain x.com" in (self.broad("domain:x.com", "roles/owner") or "")
        custom = self.broad("allAuthenticatedUsers", "organizations/9/roles/keys")
        assert custom is not None and "folders/5" in custom
        ours = parse_config("ownership: {domains: [example.com]}", "c")
        assert "outside example.com" in (self.broad("user:x@gmail.com", config=ours) or "")

    def test_named_insiders_and_roles_without_key_admin_do_not(self) -> None:
        ours = parse_config("ownership: {domains: [example.com]}", "c")
        assert self.broad("user:a@example.com", config=ours) is None
        assert self.broad("allUsers", "roles/viewer") is None
        assert self.broad("user:x@gmail.com") is None  # no domains configured: not judged
        f = self.rule.evaluate(PROJECT, ctx(None))
        assert f is None
