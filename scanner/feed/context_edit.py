"""Feed messages about what the rules read besides keys, applied to the
stored context (scanner.store.contexts): a Gemini service enabled or
disabled, a project relabelled or moved, an IAM policy set on a project,
folder or organization, a service account disabled or deleted, a custom
role changed. Each says which keys it reaches: those of the projects under
the changed resource, or bound to the changed account. A feed scan judges
them again with the edited context (scanner.feed.apply).

Messages come at least once and in any order: one no newer than the last
full scan, or than the last message applied to the same asset, changes
nothing (`stale`)."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import datetime

from scanner.core.models import IamIndex, InventoryContext
from scanner.feed.messages import IAM_POLICY, Change
from scanner.sources.inventory.iam import (
    ROLE_TYPE,
    SERVICE_ACCOUNT_TYPE,
    custom_role,
    policy_bindings,
    policy_resource,
    service_account,
)
from scanner.sources.inventory.normalize import (
    PROJECT_TYPE,
    SERVICE_TYPE,
    gemini_service,
    normalize_project,
)
from scanner.store.contexts import Judged


@dataclass
class Reach:
    """The keys a context change may judge differently: those of PROJECTS
    (by number; their project findings too) and those bound to SERVICE_ACCOUNTS."""

    projects: set[str] = field(default_factory=set)
    service_accounts: set[str] = field(default_factory=set)

    def __bool__(self) -> bool:
        return bool(self.projects or self.service_accounts)


class ContextEdit:
    """A copy of the stored context, edited message by message."""

    def __init__(self, judged: Judged, since: datetime, gemini_services: Collection[str]) -> None:
        """SINCE: the last full scan's instant, which read the context afresh."""
        context = judged.context
        self._judged = judged
        self._since = since
        self._gemini = gemini_services
        self.projects = dict(context.projects)
        self.gemini = {n: set(s) for n, s in context.gemini_services.items()}
        self.changed = dict(judged.changed)
        iam = context.iam
        self.iam_read = iam is not None
        self.bindings = dict(iam.bindings) if iam else {}
        self.accounts = dict(iam.service_accounts) if iam else {}
        self.account_projects = set(iam.service_account_projects) if iam else set()
        self.roles = dict(iam.custom_roles) if iam else {}
        self.reach = Reach()
        self.applied: list[Change] = []

    def apply(self, change: Change) -> str:
        """Apply CHANGE: applied, or why not (stale, duplicate: nothing
        moved, ignored: nothing a rule reads, iam_not_read: the last full scan
        read no IAM, so one policy tells too little)."""
        subject = f"{change.content} {change.name}"
        held = self.changed.get(subject)
        if change.at < self._since or (held is not None and change.at <= held):
            return "stale"
        outcome = self._apply(change)
        if outcome == "applied":
            self.changed[subject] = change.at
            self.applied.append(change)
        return outcome

    def _apply(self, change: Change) -> str:
        data = change.data or {}
        if change.content == IAM_POLICY:
            return self._policy(change.name, {} if change.deleted else data)
        if change.asset_type == SERVICE_TYPE:
            return self._service(change, data)
        if change.asset_type == PROJECT_TYPE:
            return self._project(change, data)
        if change.asset_type == SERVICE_ACCOUNT_TYPE:
            return self._account(change, data)
        if change.asset_type == ROLE_TYPE:
            return self._role(change, data)
        return "ignored"

    def _service(self, change: Change, data: dict[str, object]) -> str:
        found = gemini_service(data, change.name, self._gemini) if data else None
        if found is None:
            return "ignored"  # not a Gemini service
        number, service, enabled = found
        enabled = enabled and not change.deleted
        held = self.gemini.get(number, set())
        if (service in held) == enabled:
            return "duplicate"
        before = bool(held)
        now = held | {service} if enabled else held - {service}
        if now:
            self.gemini[number] = now
        else:
            self.gemini.pop(number, None)
        if before != bool(now):
            self.reach.projects.add(number)
        return "applied"

    def _project(self, change: Change, data: dict[str, object]) -> str:
        number = change.name.rsplit("/", 1)[-1]
        if change.deleted:
            if self.projects.pop(number, None) is None:
                return "duplicate"
            self.reach.projects.add(number)
            return "applied"
        project = normalize_project(data, change.name, list(change.ancestors))
        if self.projects.get(project.number) == project:
            return "duplicate"
        self.projects[project.number] = project
        self.reach.projects.add(project.number)
        return "applied"

    def _policy(self, name: str, policy: dict[str, object]) -> str:
        if not self.iam_read:
            return "iam_not_read"
        resource = policy_resource(name)
        if resource is None:
            return "ignored"
        bindings = policy_bindings(policy)
        if self.bindings.get(resource, {}) == bindings:
            return "duplicate"
        self.bindings[resource] = bindings
        self.reach.projects |= set(self._projects_under([resource]))
        return "applied"

    def _account(self, change: Change, data: dict[str, object]) -> str:
        if not self.iam_read:
            return "iam_not_read"
        if not data:
            return "ignored"  # deleted, and the message did not say which account
        account = service_account(change.name, data)
        held = self.accounts.get(account.email)
        if change.deleted:
            if held is None:
                return "duplicate"
            del self.accounts[account.email]
        else:
            if held == account:
                return "duplicate"
            self.accounts[account.email] = account
            if account.project_id is not None:
                self.account_projects.add(account.project_id)
        self.reach.service_accounts.add(account.email)
        return "applied"

    def _role(self, change: Change, data: dict[str, object]) -> str:
        if not self.iam_read:
            return "iam_not_read"
        if not data:
            return "ignored"
        name, permissions = custom_role(change.name, data)
        if change.deleted:
            permissions = None
        if self.roles.get(name) == permissions:
            return "duplicate"
        if permissions is None:
            del self.roles[name]
        else:
            self.roles[name] = permissions
        granted = [r for r, roles in self.bindings.items() if name in roles]
        self.reach.projects |= set(self._projects_under(granted))
        return "applied"

    def _projects_under(self, resources: Iterable[str]) -> Iterable[str]:
        """The projects on or under any of RESOURCES."""
        wanted = set(resources)
        for project in self.projects.values():
            if f"projects/{project.number}" in wanted or wanted.intersection(project.ancestors):
                yield project.number
        for resource in wanted:  # a project the context does not list
            if resource.startswith("projects/"):
                yield resource.removeprefix("projects/")

    def judged(self) -> Judged:
        """The edited context."""
        before = self._judged.context
        iam = None
        if self.iam_read:
            iam = IamIndex(
                self.bindings, self.accounts, frozenset(self.account_projects), self.roles
            )
        gemini = {n: frozenset(s) for n, s in self.gemini.items() if s}
        context = InventoryContext(
            self.projects,
            frozenset(gemini),
            before.services_known,
            before.scope,
            iam,
            gemini,
        )
        judged = self._judged
        return Judged(context, judged.usage_read, judged.audit_read, self.changed)
