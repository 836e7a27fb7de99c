"""The people responsible for a project's keys, from IAM and project labels,
in this order: roles/owner on the project; roles/owner on its folders and
organization (ownership.inherit); then owners named by project labels; then
the key's creator, from the audit log.
Service accounts, domains and public principals are never owners."""

from __future__ import annotations

import re

from scanner.config import OwnershipConfig
from scanner.core.addresses import is_address
from scanner.core.models import IamIndex, ProjectRecord

OWNER_ROLE = "roles/owner"
# What lets a principal mint a key or lift its restrictions: the API Keys
# permissions, and the older serviceusage.apiKeys.* ones that custom roles
# still carry (the permission names the api-keys audit-logging doc lists;
# regenerate makes a new key string, revert restores an old one).
KEY_ADMIN_PERMISSIONS = frozenset(
    {
        "apikeys.keys.create",
        "apikeys.keys.update",
        "serviceusage.apiKeys.create",
        "serviceusage.apiKeys.update",
        "serviceusage.apiKeys.regenerate",
        "serviceusage.apiKeys.revert",
    }
)
KEY_ADMIN_ROLES = frozenset({"roles/owner", "roles/editor", "roles/serviceusage.apiKeysAdmin"})
_PEOPLE = ("user:", "group:")


def _people(members: frozenset[str]) -> list[str]:
    """The users and groups among MEMBERS, each one plain address (an IAM
    member written `user:a@x,b@y` would otherwise be two recipients)."""
    found = (m.split(":", 1)[1].lower() for m in members if m.startswith(_PEOPLE))
    return sorted(a for a in found if is_address(a))


# What a GCP label value may hold (lowercase letters, digits, "_" and "-"),
# plus dots: a mailbox name and nothing else.
LABEL_LOCAL_PART = re.compile(r"[a-z0-9][a-z0-9._-]{0,62}")


def project_owners(
    project: ProjectRecord, iam: IamIndex | None, config: OwnershipConfig
) -> tuple[str, ...]:
    found: list[str] = []
    if iam is not None:
        resources = [f"projects/{project.number}"]
        if config.inherit:
            resources += [a for a in project.ancestors if not a.startswith("projects/")]
        for resource in resources:
            members = iam.bindings.get(resource, {}).get(OWNER_ROLE, frozenset())
            found.extend(_people(members))
    labels = dict(project.labels)
    for label in config.labels:
        value = labels.get(label)
        if not value:
            continue
        if value in config.label_addresses:
            found.extend(a.lower() for a in config.label_addresses[value])
        elif config.label_domain and LABEL_LOCAL_PART.fullmatch(value):
            # One address per label: a value like "mallory@evil.example,alice" must
            # not add a recipient, so only a plain local part is accepted.
            found.append(f"{value}@{config.label_domain}".lower())
    return tuple(dict.fromkeys(found))


def key_admin_roles(iam: IamIndex) -> frozenset[str]:
    """The predefined roles that grant key administration, and the custom ones."""
    custom = {name for name, perms in iam.custom_roles.items() if perms & KEY_ADMIN_PERMISSIONS}
    return KEY_ADMIN_ROLES | custom


def resources_above(project: ProjectRecord) -> tuple[str, ...]:
    """projects/N, then its folders and organization."""
    own = f"projects/{project.number}"
    return (own, *(a for a in project.ancestors if a != own))


def key_admins(project: ProjectRecord, iam: IamIndex | None) -> tuple[str, ...]:
    """Every principal that can create or change the project's keys, from any
    level above it: members as IAM writes them (user:, group:, allUsers, ...)."""
    if iam is None:
        return ()
    roles = key_admin_roles(iam)
    found: set[str] = set()
    for resource in resources_above(project):
        for role, members in iam.bindings.get(resource, {}).items():
            if role in roles:
                found |= members
    return tuple(sorted(found))


def with_creator(owners: tuple[str, ...], creator: str | None) -> tuple[str, ...]:
    """The key's creator comes last, when it is a person (not a service
    account) with one plain address."""
    if creator is None or creator.endswith("gserviceaccount.com") or not is_address(creator):
        return owners
    address = creator.lower()
    return owners if address in owners else (*owners, address)


class OwnerDirectory:
    """Project owners, computed once per project per scan."""

    def __init__(
        self, projects: dict[str, ProjectRecord], iam: IamIndex | None, config: OwnershipConfig
    ) -> None:
        self._projects = projects
        self._iam = iam
        self._config = config
        self._cache: dict[str, tuple[str, ...]] = {}
        self._admins: dict[str, tuple[str, ...]] = {}

    def key_admins(self, project_number: str) -> tuple[str, ...]:
        cached = self._admins.get(project_number)
        if cached is None:
            project = self._projects.get(project_number)
            cached = () if project is None else key_admins(project, self._iam)
            self._admins[project_number] = cached
        return cached

    def owners(self, project_number: str) -> tuple[str, ...]:
        cached = self._cache.get(project_number)
        if cached is None:
            project = self._projects.get(project_number)
            cached = () if project is None else project_owners(project, self._iam, self._config)
            self._cache[project_number] = cached
        return cached
