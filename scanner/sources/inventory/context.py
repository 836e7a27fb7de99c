"""Collects what a source knows before it streams keys (projects, enabled
Gemini services, IAM), whichever source reads them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from scanner.core.models import InventoryContext, ProjectRecord
from scanner.sources.inventory.iam import IamBuilder
from scanner.sources.inventory.normalize import (
    PROJECT_TYPE,
    SERVICE_TYPE,
    gemini_service,
    normalize_project,
)


class ContextBuilder:
    """Collects projects and enabled Gemini services, whichever source reads them."""

    def __init__(self, gemini_services: list[str]) -> None:
        self._gemini_services = gemini_services
        self.iam = IamBuilder()
        self.projects: dict[str, ProjectRecord] = {}
        self.gemini_services: dict[str, set[str]] = {}  # by project number: those enabled
        self.services_seen = False
        self.scope: str | None = None

    def add(
        self, asset_type: str, name: str, data: Mapping[str, Any], ancestors: list[str] | None
    ) -> None:
        """Take one asset; raises AssetDataError when it is unreadable."""
        if asset_type == PROJECT_TYPE:
            project = normalize_project(data, name, ancestors)
            self.projects[project.number] = project
            # The outermost ancestor (organizations/N or folders/N) is the scope.
            if self.scope is None and ancestors:
                self.scope = ancestors[-1]
        elif asset_type == SERVICE_TYPE:
            self.services_seen = True
            found = gemini_service(data, name, self._gemini_services)
            if found is not None and found[2]:
                self.gemini_services.setdefault(found[0], set()).add(found[1])
        else:
            self.iam.add_resource(asset_type, name, data)

    def add_searched_project(
        self, number: str, project_id: str | None, ancestors: list[str] | None
    ) -> None:
        """A project a search result names: known by number and id until (or
        unless) the file lists the project itself."""
        if number not in self.projects:
            self.projects[number] = ProjectRecord(
                number=number,
                project_id=project_id,
                display_name=None,
                lifecycle_state=None,
                labels=(),
                ancestors=tuple(ancestors or ()),
            )

    def add_policy(self, name: str, policy: Mapping[str, Any]) -> None:
        self.iam.add_policy(name, policy)

    def build(
        self, services_known: bool, scope: str | None, service_accounts_listed: bool = False
    ) -> InventoryContext:
        if service_accounts_listed:
            self.iam.note_projects({p.project_id for p in self.projects.values() if p.project_id})
        return InventoryContext(
            self.projects,
            frozenset(self.gemini_services),
            services_known,
            scope,
            self.iam.build(),
            {number: frozenset(names) for number, names in self.gemini_services.items()},
        )
