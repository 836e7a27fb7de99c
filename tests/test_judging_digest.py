"""The judging digest moves with everything besides the key and the clock
that a judgement reads, and with nothing else: the order in which a source
listed projects, bindings or members does not move it."""

from __future__ import annotations

from dataclasses import replace

from scanner.config import Config
from scanner.config.alerts import AlertsConfig
from scanner.core.models import IamIndex, InventoryContext, ProjectRecord
from scanner.scan.reuse import judging_digest

OWNER = "roles/owner"


def context(reverse: bool = False, **changes: object) -> InventoryContext:
    projects = [
        ProjectRecord("1", "alpha", "Alpha", "ACTIVE", (("team", "a"),), ("projects/1",)),
        ProjectRecord("2", "beta", "Beta", "ACTIVE", (), ("projects/2",)),
    ]
    members = ["user:a@example.com", "user:b@example.com"]
    bindings = {
        "projects/1": {OWNER: frozenset(members), "roles/viewer": frozenset(members[:1])},
        "projects/2": {OWNER: frozenset(members[1:])},
    }
    if reverse:
        projects.reverse()
        bindings = {r: dict(reversed(roles.items())) for r, roles in reversed(bindings.items())}
    iam = IamIndex(bindings, {}, frozenset({"alpha"}), {})
    base = InventoryContext(
        projects={p.number: p for p in projects},
        gemini_projects=frozenset({"1"}),
        services_known=True,
        scope="organizations/9",
        iam=iam,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def digest(config: Config | None = None, ctx: InventoryContext | None = None, **kw: object) -> str:
    rules = kw.get("rules", ())
    sources = kw.get("sources", (False, True, False))
    return judging_digest("code", "config", config or Config(), ctx or context(), rules, sources)  # type: ignore[arg-type]


def test_the_order_of_what_a_source_listed_does_not_move_it() -> None:
    assert digest(ctx=context()) == digest(ctx=context(reverse=True))


def test_what_a_judgement_reads_moves_it() -> None:
    base = digest()
    relabelled = ProjectRecord("1", "alpha", "Alpha", "ACTIVE", (("team", "b"),), ("projects/1",))
    moved = {
        "owners map": digest(Config(alerts=AlertsConfig(owners={"alpha": ["o@example.com"]}))),
        "project label": digest(ctx=context(projects=context().projects | {"1": relabelled})),
        "no IAM": digest(ctx=context(iam=None)),
        "Gemini projects": digest(ctx=context(gemini_projects=frozenset())),
        "sources read": digest(sources=(True, True, False)),
    }
    for what, value in moved.items():
        assert value != base, what
    assert len(set(moved.values())) == len(moved)
    iam = context().iam
    assert iam is not None
    other_owner = {**iam.bindings, "projects/2": {OWNER: frozenset({"user:c@example.com"})}}
    assert digest(ctx=context(iam=replace(iam, bindings=other_owner))) != base
