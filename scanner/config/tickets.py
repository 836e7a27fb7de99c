"""The `tickets:` section: Jira and ServiceNow receivers, routed like alerts,
one ticket per group of findings (per key, or per project and owner)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, model_validator

from scanner.config.alerts import RouteConfig
from scanner.config.types import Duration, EnvName, Strict


def _url(value: str) -> str:
    if not value.startswith(("https://", "http://127.0.0.1", "http://localhost")):
        raise ValueError("must start with https:// (or http:// for a local endpoint)")
    return value.rstrip("/")


Url = Annotated[str, AfterValidator(_url)]


class JiraConfig(Strict):
    url: Url  # https://acme.atlassian.net, or a Data Center base URL
    project: str = Field(min_length=1, max_length=64)  # the project key: SEC
    issue_type: str = "Task"
    cloud: bool = True  # Jira Cloud (search/jql) or Data Center (search); REST v2 both
    user_env: EnvName = "JIRA_USER"  # the account's email (Cloud) or user name
    token_env: EnvName = "JIRA_TOKEN"  # noqa: S105  (the variable holding the API token)
    done_status: str = "Done"  # the status a resolved group's ticket is moved to
    reopen_status: str = "To Do"
    # Resolutions a person gives a ticket that does not fix anything.
    declined_resolutions: list[str] = Field(
        default_factory=lambda: ["Won't Do", "Won't Fix", "Risk Accepted"]
    )
    priorities: dict[str, str] = Field(
        default_factory=lambda: {
            "critical": "Highest",
            "high": "High",
            "medium": "Medium",
            "low": "Low",
            "info": "Lowest",
        }
    )
    fields: dict[str, Any] = Field(default_factory=dict)  # more fields, set on creation


class ServiceNowConfig(Strict):
    url: Url  # https://acme.service-now.com
    table: str = Field(default="incident", pattern=r"^[a-z0-9_]{1,80}$")
    user_env: EnvName = "SERVICENOW_USER"
    password_env: EnvName = "SERVICENOW_PASSWORD"  # noqa: S105  (the variable's name)
    resolved_state: str = "6"  # incident: 6 Resolved
    reopen_state: str = "2"  # incident: 2 In Progress
    close_code: str = "Solved (Permanently)"
    declined_close_codes: list[str] = Field(
        default_factory=lambda: ["Not Solved (Not Reproducible)", "Risk Accepted"]
    )
    # incident urgency: 1 High, 2 Medium, 3 Low
    urgencies: dict[str, str] = Field(
        default_factory=lambda: {
            "critical": "1",
            "high": "1",
            "medium": "2",
            "low": "3",
            "info": "3",
        }
    )
    fields: dict[str, Any] = Field(default_factory=dict)


class TicketReceiverConfig(Strict):
    name: str = Field(min_length=1, max_length=128)
    jira: JiraConfig | None = None
    servicenow: ServiceNowConfig | None = None

    @model_validator(mode="after")
    def _one_system(self) -> TicketReceiverConfig:
        if (self.jira is None) == (self.servicenow is None):
            raise ValueError(f"receiver {self.name!r}: give exactly one of jira, servicenow")
        return self


class TicketsConfig(Strict):
    enabled: bool = False  # the worker syncs after each scan
    group_by: Literal["key", "project_owner"] = "key"
    route: RouteConfig | None = None
    receivers: list[TicketReceiverConfig] = Field(default_factory=list)
    requests_per_second: float = Field(default=5.0, gt=0, le=1000)
    timeout: Duration = 30.0
    # How long a worker owns a group it is creating a ticket for.
    lease: Duration = 300.0

    @model_validator(mode="after")
    def _routes_name_receivers(self) -> TicketsConfig:
        names = {r.name for r in self.receivers}
        if len(names) != len(self.receivers):
            raise ValueError("tickets.receivers: names must be unique")
        missing = sorted(n for n in _route_names(self.route) if n not in names)
        if missing:
            raise ValueError(f"tickets.route names unknown receivers: {', '.join(missing)}")
        if self.enabled and self.route is None:
            raise ValueError("tickets.enabled needs tickets.route")
        return self

    def receiver(self, name: str) -> TicketReceiverConfig:
        return next(r for r in self.receivers if r.name == name)


def _route_names(route: RouteConfig | None) -> set[str]:
    if route is None:
        return set()
    found = {route.receiver} if route.receiver else set()
    for child in route.routes:
        found |= _route_names(child)
    return found
