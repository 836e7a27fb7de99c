"""Jira tickets through atlassian-python-api over REST v2 (Jira Cloud
platform and Data Center: developer.atlassian.com/cloud/jira/platform/rest/v2;
Cloud searches with /rest/api/3/search/jql, Data Center with /rest/api/2/search).
Each ticket carries the labels `keysentry` and `keysentry-<group id>`, by
which it is found again. A 429 is retried after its Retry-After; any other
error stops the sync, naming the call."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import requests
from atlassian import Jira

from scanner.calls.ratelimit import RateLimiter
from scanner.config.tickets import JiraConfig
from scanner.core.errors import ConfigError, SourceError
from scanner.tickets.groups import Group
from scanner.tickets.systems import Remote, label

FIELDS = "status,resolution,labels"


def make_client(config: JiraConfig, timeout: float) -> Jira:
    user, token = os.environ.get(config.user_env), os.environ.get(config.token_env)
    if not user or not token:
        raise ConfigError(
            f"tickets: Jira needs {config.user_env} and {config.token_env} in the environment"
        )
    return Jira(
        url=config.url,
        username=user,
        password=token,
        cloud=config.cloud,
        api_version="2",
        timeout=int(timeout),
        retry_with_header=True,  # a 429 waits its Retry-After, once
        max_backoff_seconds=120,
    )


@contextmanager
def _calling(what: str) -> Iterator[None]:
    try:
        yield
    except requests.HTTPError as exc:
        status = exc.response.status_code if exc.response is not None else "?"
        raise SourceError(f"tickets: Jira {what}: HTTP {status}: {exc}") from None
    except requests.RequestException as exc:
        raise SourceError(f"tickets: Jira {what}: {type(exc).__name__}: {exc}") from None


class JiraTickets:
    def __init__(self, client: Jira, config: JiraConfig, pace: RateLimiter) -> None:
        self._client = client
        self._config = config
        self._pace = pace

    def _call(self, what: str, call: Callable[[], Any]) -> Any:
        self._pace.wait()
        with _calling(what):
            return call()

    def _remote(self, issue: dict[str, Any]) -> Remote:
        fields = issue.get("fields") or {}
        status = fields.get("status") or {}
        category = (status.get("statusCategory") or {}).get("key")
        resolution = (fields.get("resolution") or {}).get("name")
        key = str(issue["key"])
        return Remote(key, key, f"{self._config.url}/browse/{key}", category == "done", resolution)

    def _search(self, jql: str) -> list[dict[str, Any]]:
        if self._config.cloud:
            found: list[dict[str, Any]] = []
            token = None
            while True:
                page = self._call("search", functools.partial(self._page, jql, token))
                found += page.get("issues") or []
                token = page.get("nextPageToken")
                if not token or page.get("isLast", True):
                    return found
        page = self._call("search", lambda: self._client.jql(jql, fields=FIELDS, limit=1000))
        return list(page.get("issues") or [])

    def _page(self, jql: str, token: str | None) -> Any:
        return self._client.enhanced_jql(jql, fields=FIELDS, nextPageToken=token, limit=100)

    def find(self, group_id: str) -> Remote | None:
        issues = self._search(
            f'project = "{self._config.project}" AND labels = "{label(group_id)}"'
        )
        return self._remote(issues[0]) if issues else None

    def create(self, group: Group, text: str) -> Remote:
        fields = {
            **self._config.fields,
            "project": {"key": self._config.project},
            "issuetype": {"name": self._config.issue_type},
            "summary": f"[keysentry] {group.title}"[:255],
            "description": text,
            "labels": ["keysentry", label(group.id)],
            **self._urgency(group),
        }
        made = self._call("create", lambda: self._client.issue_create(fields))
        key = str(made["key"])
        return Remote(key, key, f"{self._config.url}/browse/{key}")

    def _urgency(self, group: Group) -> dict[str, Any]:
        found: dict[str, Any] = {"priority": {"name": self._config.priorities[group.severity]}}
        if group.due is not None:
            found["duedate"] = group.due.isoformat()
        return found

    def comment(self, remote: Remote, text: str) -> None:
        self._call("comment", lambda: self._client.issue_add_comment(remote.id, text))

    def update(self, remote: Remote, group: Group) -> None:
        fields = self._urgency(group)
        self._call("update", lambda: self._client.update_issue_field(remote.id, fields))

    def resolve(self, remote: Remote, text: str) -> None:
        self.comment(remote, text)
        status = self._config.done_status
        self._call("transition", lambda: self._client.set_issue_status(remote.id, status))

    def reopen(self, remote: Remote, text: str) -> None:
        self.comment(remote, text)
        status = self._config.reopen_status
        self._call("transition", lambda: self._client.set_issue_status(remote.id, status))

    def declined(self) -> dict[str, Remote]:
        names = ", ".join(f'"{r}"' for r in self._config.declined_resolutions)
        jql = (
            f'project = "{self._config.project}" AND labels = "keysentry" '
            f"AND statusCategory = Done AND resolution in ({names})"
        )
        found = {}
        for issue in self._search(jql):
            for name in (issue.get("fields") or {}).get("labels") or []:
                if name.startswith("keysentry-"):
                    found[name.removeprefix("keysentry-")] = self._remote(issue)
        return found
