"""Jira and ServiceNow on loopback, close enough to their published REST
references that the real clients talk to them unchanged:

- Jira: the Cloud platform REST API v2 (developer.atlassian.com/cloud/jira/
  platform/rest/v2: POST /rest/api/2/issue, POST .../issue/{key}/comment,
  PUT .../issue/{key}, GET and POST .../issue/{key}/transitions, GET
  /rest/api/2/search for Data Center) and v3's GET /rest/api/3/search/jql
  (Cloud's enhanced search, with nextPageToken and isLast); the JQL the
  client sends (project, labels, statusCategory, resolution in (...)).
- ServiceNow: the Table API (GET/POST /api/now/table/{table}, PATCH
  /api/now/table/{table}/{sys_id}, sysparm_query with `=`, `^` and `IN`).

Faults at the protocol level: answers 429 with Retry-After; a create that
commits and then answers after the client has given up (a timeout); a
search index that shows new tickets only after a while; a request held
unanswered, before or after its write commits, while the test kills the
client."""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

_TO_DO = {"name": "To Do", "statusCategory": {"key": "new"}}
_DONE = {"name": "Done", "statusCategory": {"key": "done"}}


@dataclass
class Faults:
    too_many: int = 0  # answer 429 (Retry-After: 1) to this many requests
    slow_creates: int = 0  # commit this many creates, then answer after SLOW seconds
    slow: float = 3.0
    search_lag: float = 0.0  # seconds before a new ticket shows in searches
    # Hold the request of this number (from 1) unanswered until the fake
    # closes, before it is served or, for a write, after it commits.
    hold_at: int = 0
    hold_after_commit: bool = False


@dataclass
class _State:
    faults: Faults = field(default_factory=Faults)
    writes: list[tuple[str, str]] = field(default_factory=list)  # (method, path)
    requests: list[tuple[str, str]] = field(default_factory=list)  # every one, in order
    held: threading.Event = field(default_factory=threading.Event)  # a request is held
    lock: threading.Lock = field(default_factory=threading.Lock)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        super().__init__(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.server_address[1]}"
        self.closing = threading.Event()
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)

    def __enter__(self) -> _Server:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.closing.set()
        self.shutdown()
        self.server_close()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    state: _State

    def setup(self) -> None:
        super().setup()
        # Headers and body go in two writes: without this, Nagle and the
        # client's delayed ACK add 40 ms to every answer on a kept-alive connection.
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _send(self, status: int, body: Any = None, headers: dict[str, str] | None = None) -> None:
        payload = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Type", "application/json;charset=UTF-8")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _body(self) -> Any:
        length = int(self.headers.get("Content-Length", "0"))
        return json.loads(self.rfile.read(length) or b"{}")

    def _arrived(self) -> bool:
        """Count the request; whether it is held before it is served."""
        with self.state.lock:
            self.state.requests.append((self.command, self.path))
            self._number = len(self.state.requests)
        return self._held(after_commit=False)

    def _held(self, after_commit: bool) -> bool:
        faults = self.state.faults
        if faults.hold_at != self._number or faults.hold_after_commit != after_commit:
            return False
        self.state.held.set()
        self.server.closing.wait()  # meanwhile the client is killed: no answer, ever
        self.close_connection = True
        return True

    def _throttled(self) -> bool:
        with self.state.lock:
            if self.state.faults.too_many > 0:
                self.state.faults.too_many -= 1
                throttle = True
            else:
                throttle = False
        if throttle:
            self._body()
            self._send(429, {"errorMessages": ["Rate limit exceeded"]}, {"Retry-After": "1"})
        return throttle

    def _slow_create(self) -> bool:
        with self.state.lock:
            if self.state.faults.slow_creates > 0:
                self.state.faults.slow_creates -= 1
                return True
        return False

    def log_message(self, format: str, *args: object) -> None:
        pass


class _Fake:
    """A system on loopback: its server, faults and the writes it took."""

    def __init__(self, handler: type[_Handler], faults: Faults | None) -> None:
        self.state = _State(faults or Faults())
        self.server = _Server(
            type(handler.__name__, (handler,), {"state": self.state, "fake": self})
        )
        self.url = self.server.url

    def __enter__(self) -> Any:
        self.server.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.__exit__()

    @property
    def faults(self) -> Faults:
        return self.state.faults

    @property
    def writes(self) -> list[tuple[str, str]]:
        return self.state.writes

    @property
    def requests(self) -> list[tuple[str, str]]:
        return self.state.requests

    @property
    def held(self) -> threading.Event:
        return self.state.held


# --- Jira --------------------------------------------------------------------


@dataclass
class JiraIssue:
    key: str
    fields: dict[str, Any]
    created: float
    comments: list[str] = field(default_factory=list)
    status: dict[str, Any] = field(default_factory=lambda: dict(_TO_DO))
    resolution: str | None = None

    def document(self) -> dict[str, Any]:
        return {
            "id": self.key.split("-")[1],
            "key": self.key,
            "fields": {
                "status": self.status,
                "resolution": {"name": self.resolution} if self.resolution else None,
                "labels": list(self.fields.get("labels") or []),
                "priority": self.fields.get("priority"),
                "duedate": self.fields.get("duedate"),
            },
        }


class FakeJira(_Fake):
    def __init__(self, project: str = "SEC", faults: Faults | None = None) -> None:
        self.project = project
        self.issues: dict[str, JiraIssue] = {}
        self.by_label: dict[str, list[JiraIssue]] = {}  # as Jira's index, for big runs
        super().__init__(_JiraHandler, faults)

    def close_as(self, key: str, resolution: str) -> None:
        """A person closes the ticket with RESOLUTION."""
        issue = self.issues[key]
        issue.status, issue.resolution = dict(_DONE), resolution

    def search(self, jql: str) -> list[JiraIssue]:
        labels = re.findall(r'labels = "([^"]+)"', jql)
        project = re.search(r'project = "([^"]+)"', jql)
        done = "statusCategory = Done" in jql
        resolutions = re.search(r"resolution in \(([^)]*)\)", jql)
        wanted = re.findall(r'"([^"]+)"', resolutions.group(1)) if resolutions else None
        visible_after = time.monotonic() - self.state.faults.search_lag
        found = []
        ids = [name for name in labels if name.startswith("keysentry-")]
        candidates = self.by_label.get(ids[0], []) if ids else list(self.issues.values())
        for issue in candidates:
            if issue.created > visible_after:
                continue  # not in the index yet
            if project and not issue.key.startswith(project.group(1) + "-"):
                continue
            if not all(name in (issue.fields.get("labels") or []) for name in labels):
                continue
            if done and issue.status["statusCategory"]["key"] != "done":
                continue
            if wanted is not None and issue.resolution not in wanted:
                continue
            found.append(issue)
        return found


class _JiraHandler(_Handler):
    fake: FakeJira

    @property
    def jira(self) -> FakeJira:
        return self.fake

    def do_GET(self) -> None:
        if self._arrived() or self._throttled():
            return
        parts = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        if parts.path in ("/rest/api/3/search/jql", "/rest/api/2/search"):
            issues = [i.document() for i in self.jira.search(query.get("jql", ""))]
            if parts.path.endswith("/jql"):
                self._send(200, {"issues": issues, "isLast": True})
            else:
                self._send(200, {"startAt": 0, "maxResults": 1000, "total": len(issues),
                                 "issues": issues})  # fmt: skip
            return
        found = re.fullmatch(r"/rest/api/2/issue/([A-Z]+-\d+)/transitions", parts.path)
        if found and found.group(1) in self.jira.issues:
            transitions = [
                {"id": "11", "name": "To Do", "to": _TO_DO},
                {"id": "31", "name": "Done", "to": _DONE},
            ]
            self._send(200, {"expand": "transitions", "transitions": transitions})
            return
        self._send(404, {"errorMessages": ["Issue does not exist"]})

    def do_POST(self) -> None:
        if self._arrived() or self._throttled():
            return
        path, body = urlsplit(self.path).path, self._body()
        jira = self.jira
        if path == "/rest/api/2/issue":
            fields = body.get("fields") or {}
            if (fields.get("project") or {}).get("key") != jira.project or not fields.get(
                "summary"
            ):
                self._send(400, {"errorMessages": [], "errors": {"project": "project is required"}})
                return
            with self.state.lock:
                key = f"{jira.project}-{len(jira.issues) + 1}"
                issue = jira.issues[key] = JiraIssue(key, fields, time.monotonic())
                for name in fields.get("labels") or []:
                    jira.by_label.setdefault(name, []).append(issue)
                self.state.writes.append(("POST", path))
            if self._held(after_commit=True):
                return
            if self._slow_create():
                self.server.closing.wait(self.state.faults.slow)  # committed; the answer is late
            self._send(201, {"id": key.split("-")[1], "key": key, "self": f"{jira.url}/{key}"})
            return
        found = re.fullmatch(r"/rest/api/2/issue/([A-Z]+-\d+)/(comment|transitions)", path)
        issue = jira.issues.get(found.group(1)) if found else None
        if issue is None or found is None:
            self._send(404, {"errorMessages": ["Issue does not exist"]})
            return
        with self.state.lock:
            self.state.writes.append(("POST", path))
            if found.group(2) == "comment":
                issue.comments.append(str(body.get("body")))
            elif str(body["transition"]["id"]) == "31":
                issue.status, issue.resolution = dict(_DONE), "Done"
            else:
                issue.status, issue.resolution = dict(_TO_DO), None
        if self._held(after_commit=True):
            return
        self._send(201 if found.group(2) == "comment" else 204,
                   {"id": "1"} if found.group(2) == "comment" else None)  # fmt: skip

    def do_PUT(self) -> None:
        if self._arrived() or self._throttled():
            return
        path, body = urlsplit(self.path).path, self._body()
        found = re.fullmatch(r"/rest/api/2/issue/([A-Z]+-\d+)", path)
        issue = self.jira.issues.get(found.group(1)) if found else None
        if issue is None:
            self._send(404, {"errorMessages": ["Issue does not exist"]})
            return
        with self.state.lock:
            self.state.writes.append(("PUT", path))
            issue.fields.update(body.get("fields") or {})
        if self._held(after_commit=True):
            return
        self._send(204)


# --- ServiceNow --------------------------------------------------------------


class FakeServiceNow(_Fake):
    def __init__(self, table: str = "incident", faults: Faults | None = None) -> None:
        self.table = table
        self.records: dict[str, dict[str, Any]] = {}  # sys_id -> record
        self._created: dict[str, float] = {}
        super().__init__(_SnowHandler, faults)

    def close_as(self, number: str, close_code: str) -> None:
        record = next(r for r in self.records.values() if r["number"] == number)
        record |= {"state": "7", "close_code": close_code}

    def query(self, text: str) -> list[dict[str, Any]]:
        visible_after = time.monotonic() - self.state.faults.search_lag
        found = []
        for sys_id, record in self.records.items():
            if self._created[sys_id] > visible_after:
                continue
            if all(self._holds(record, term) for term in text.split("^") if term):
                found.append(record)
        return found

    @staticmethod
    def _holds(record: dict[str, Any], term: str) -> bool:
        if "IN" in term and "=" not in term:
            name, values = term.split("IN", 1)
            return str(record.get(name) or "") in values.split(",")
        name, value = term.split("=", 1)
        return str(record.get(name) or "") == value


class _SnowHandler(_Handler):
    fake: FakeServiceNow

    @property
    def snow(self) -> FakeServiceNow:
        return self.fake

    def _table(self) -> tuple[str, str | None]:
        found = re.fullmatch(
            r"/api/now/table/([a-z0-9_]+)(?:/([0-9a-f]{32}))?", urlsplit(self.path).path
        )
        if found is None or found.group(1) != self.snow.table:
            return "", None
        return found.group(1), found.group(2)

    def do_GET(self) -> None:
        if self._arrived() or self._throttled():
            return
        table, _ = self._table()
        if not table:
            self._send(404, {"error": {"message": "Invalid table"}})
            return
        query = {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()}
        self._send(200, {"result": self.snow.query(query.get("sysparm_query", ""))})

    def do_POST(self) -> None:
        if self._arrived() or self._throttled():
            return
        table, _ = self._table()
        body = self._body()
        if not table:
            self._send(404, {"error": {"message": "Invalid table"}})
            return
        snow = self.snow
        with self.state.lock:
            sys_id = f"{len(snow.records) + 1:032x}"
            record = {"sys_id": sys_id, "number": f"INC{len(snow.records) + 1:07d}",
                      "state": "1", "close_code": "", **body}  # fmt: skip
            record["work_notes_list"] = []
            snow.records[sys_id] = record
            snow._created[sys_id] = time.monotonic()
            self.state.writes.append(("POST", self.path))
        if self._held(after_commit=True):
            return
        if self._slow_create():
            self.server.closing.wait(self.state.faults.slow)  # committed; the answer is late
        self._send(201, {"result": record})

    def do_PATCH(self) -> None:
        if self._arrived() or self._throttled():
            return
        _, sys_id = self._table()
        body = self._body()
        record = self.snow.records.get(sys_id or "")
        if record is None:
            self._send(404, {"error": {"message": "No Record found"}})
            return
        with self.state.lock:
            note = body.pop("work_notes", None)
            if note:
                record["work_notes_list"].append(note)
            record.update(body)
            self.state.writes.append(("PATCH", self.path))
        if self._held(after_commit=True):
            return
        self._send(200, {"result": record})
