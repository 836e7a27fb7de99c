"""ServiceNow tickets through the Table API (docs.servicenow.com, REST API
reference, Table API: GET/POST /api/now/table/{table}, PATCH
/api/now/table/{table}/{sys_id}, sysparm_query, sysparm_fields), with
requests. Each record carries `correlation_id` keysentry-<group id> and
`correlation_display` keysentry, by which it is found again; updates go to
`work_notes`. A 429 or 503 waits its Retry-After (at most a minute, three
times); any other error stops the sync, naming the call."""

from __future__ import annotations

import os
import time
from typing import Any

import requests

from scanner.calls.ratelimit import RateLimiter
from scanner.config.tickets import ServiceNowConfig
from scanner.core.errors import ConfigError, SourceError
from scanner.tickets.groups import Group
from scanner.tickets.systems import Remote, label

FIELDS = "sys_id,number,state,close_code,correlation_id"
_RETRIES = 3
_MAX_WAIT = 60.0


def make_session(config: ServiceNowConfig) -> requests.Session:
    user, password = os.environ.get(config.user_env), os.environ.get(config.password_env)
    if not user or not password:
        raise ConfigError(
            f"tickets: ServiceNow needs {config.user_env} and {config.password_env} "
            "in the environment"
        )
    session = requests.Session()
    session.auth = (user, password)
    session.headers.update({"Accept": "application/json", "Content-Type": "application/json"})
    return session


def _wait_of(response: requests.Response) -> float:
    try:
        return min(max(float(response.headers.get("Retry-After", "1")), 0.0), _MAX_WAIT)
    except ValueError:
        return 1.0


class ServiceNowTickets:
    def __init__(
        self,
        session: requests.Session,
        config: ServiceNowConfig,
        pace: RateLimiter,
        timeout: float,
    ) -> None:
        self._session = session
        self._config = config
        self._pace = pace
        self._timeout = timeout
        self._table = f"{config.url}/api/now/table/{config.table}"

    def _request(self, what: str, method: str, url: str, **kwargs: Any) -> Any:
        for attempt in range(_RETRIES + 1):
            self._pace.wait()
            try:
                response = self._session.request(method, url, timeout=self._timeout, **kwargs)
            except requests.RequestException as exc:
                raise SourceError(f"tickets: ServiceNow {what}: {type(exc).__name__}") from None
            if response.status_code in (429, 503) and attempt < _RETRIES:
                time.sleep(_wait_of(response))  # as the server asked
                continue
            if response.status_code >= 400:
                raise SourceError(f"tickets: ServiceNow {what}: HTTP {response.status_code}")
            return response.json().get("result")
        raise AssertionError("unreachable")

    def _remote(self, record: dict[str, Any]) -> Remote:
        state = str(record.get("state") or "")
        done = state in (self._config.resolved_state, "7")  # 7: Closed
        sys_id = str(record["sys_id"])
        url = f"{self._config.url}/nav_to.do?uri={self._config.table}.do?sys_id={sys_id}"
        return Remote(str(record.get("number") or sys_id), sys_id, url, done,
                      record.get("close_code") or None)  # fmt: skip

    def _query(self, query: str) -> list[dict[str, Any]]:
        params = {"sysparm_query": query, "sysparm_fields": FIELDS, "sysparm_limit": "10000"}
        found = self._request("query", "GET", self._table, params=params)
        return list(found or [])

    def find(self, group_id: str) -> Remote | None:
        records = self._query(f"correlation_id={label(group_id)}")
        return self._remote(records[0]) if records else None

    def create(self, group: Group, text: str) -> Remote:
        body = {
            **self._config.fields,
            "short_description": f"[keysentry] {group.title}"[:160],
            "description": text,
            "correlation_id": label(group.id),
            "correlation_display": "keysentry",
            **self._urgency(group),
        }
        made = self._request("create", "POST", self._table, json=body)
        return self._remote(made)

    def _urgency(self, group: Group) -> dict[str, Any]:
        found = {"urgency": self._config.urgencies[group.severity]}
        if group.due is not None:
            found["due_date"] = f"{group.due.isoformat()} 00:00:00"
        return found

    def _patch(self, what: str, remote: Remote, body: dict[str, Any]) -> None:
        self._request(what, "PATCH", f"{self._table}/{remote.id}", json=body)

    def comment(self, remote: Remote, text: str) -> None:
        self._patch("work note", remote, {"work_notes": text})

    def update(self, remote: Remote, group: Group) -> None:
        self._patch("update", remote, self._urgency(group))

    def resolve(self, remote: Remote, text: str) -> None:
        config = self._config
        body = {"state": config.resolved_state, "close_code": config.close_code,
                "close_notes": text}  # fmt: skip
        self._patch("resolve", remote, body)

    def reopen(self, remote: Remote, text: str) -> None:
        self._patch("reopen", remote, {"state": self._config.reopen_state, "work_notes": text})

    def declined(self) -> dict[str, Remote]:
        codes = ",".join(self._config.declined_close_codes)
        query = f"correlation_display=keysentry^close_codeIN{codes}"
        found = {}
        for record in self._query(query):
            remote = self._remote(record)
            correlation = str(record.get("correlation_id") or "")
            if remote.done and correlation.startswith("keysentry-"):
                found[correlation.removeprefix("keysentry-")] = remote
        return found
