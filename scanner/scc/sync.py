"""Publishes a scan's findings to Security Command Center: each finding open
at the scan ACTIVE (muted while an exception accepts it), each one published
before and no longer open INACTIVE. Only what differs from what was last
published is sent (store.scc), so a sync with nothing new makes no call.

Every call is idempotent (UpdateFinding creates or replaces the finding of a
fixed name; SetMute sets a state), and a finding is recorded as published
only after its calls succeeded: a sync that stops part-way, or runs in two
workers at once, sends some findings twice and none wrongly."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from google.cloud import securitycenter_v2
from google.protobuf import field_mask_pb2
from sqlalchemy import Engine

from scanner.calls.google_errors import default_credentials, google_errors, transient_retry
from scanner.calls.ratelimit import RateLimiter
from scanner.config.scc import SccConfig
from scanner.report.build import build_report
from scanner.report.open_findings import open_findings
from scanner.scc.findings import Publication, publication, resolved
from scanner.store import scc as store

NEEDS = "roles/securitycenter.findingsEditor on the organization"
BATCH = 100  # findings recorded per transaction


def make_client() -> securitycenter_v2.SecurityCenterClient:
    credentials = default_credentials("scc", "cloud-platform")
    return securitycenter_v2.SecurityCenterClient(credentials=credentials)


@dataclass
class SyncStats:
    scan_id: int = 0
    calls: Counter[str] = field(default_factory=Counter)  # by what was done
    unchanged: int = 0
    planned: list[tuple[str, Publication]] = field(default_factory=list)  # a dry run's

    def line(self) -> str:
        done = ", ".join(f"{n} {what}" for what, n in sorted(self.calls.items())) or "nothing"
        return f"scc: scan {self.scan_id}: {done}; {self.unchanged} unchanged"


def _wanted(engine: Engine, parent: str, scan_id: int | None) -> tuple[int, list[Publication]]:
    report = build_report(engine, scan_id)
    found = [publication(parent, o) for o in open_findings(report)]
    return report.scan.id, found


def changes(
    wanted: list[Publication], published: dict[str, store.Published], parent: str
) -> Iterator[tuple[str, Publication]]:
    """(what, publication) for each finding whose publication differs."""
    seen = set()
    for p in wanted:
        seen.add(p.fingerprint)
        before = published.get(p.fingerprint)
        if before is None:
            yield "created", p
        elif before.digest != p.digest:
            yield ("reopened" if before.state == "INACTIVE" else "updated"), p
    for uid, before in published.items():
        if uid not in seen and before.state == "ACTIVE":
            yield "resolved", resolved(parent, uid, before.key_name)


class SccSync:
    def __init__(
        self,
        engine: Engine,
        config: SccConfig,
        client: Callable[[], securitycenter_v2.SecurityCenterClient],
    ) -> None:
        self._engine = engine
        self._config = config
        self._make_client = client
        self._retry = transient_retry(config.retry_deadline_seconds)
        self._pace = RateLimiter(config.requests_per_second)

    def run(self, scan_id: int | None = None, dry_run: bool = False) -> SyncStats:
        parent = self._config.parent
        stats = SyncStats()
        stats.scan_id, wanted = _wanted(self._engine, parent, scan_id)
        with self._engine.connect() as conn:
            published = store.published(conn)
        todo = list(changes(wanted, published, parent))
        stats.unchanged = len(wanted) - sum(1 for what, _ in todo if what != "resolved")
        if dry_run:
            stats.planned = todo
            stats.calls.update(what for what, _ in todo)
            return stats
        client = self._make_client() if todo else None
        done: list[store.Published] = []
        for what, p in todo:
            assert client is not None
            before = published.get(p.fingerprint)
            self._publish(client, p, what, before.muted if before else False)
            stats.calls[what] += 1
            done.append(store.Published(p.fingerprint, p.key_name, p.digest, p.state, p.muted))
            if len(done) >= BATCH:
                self._record(done)
        self._record(done)
        return stats

    def _publish(
        self,
        client: securitycenter_v2.SecurityCenterClient,
        p: Publication,
        what: str,
        was_muted: bool,
    ) -> None:
        where = f"scc: {p.finding.name}"
        timeout = self._config.request_timeout_seconds
        with google_errors(where, NEEDS, self._config.retry_deadline_seconds):
            self._pace.wait()
            # A resolution changes the state alone; anything else replaces the
            # finding whole (an empty mask: every mutable field, the properties).
            mask = field_mask_pb2.FieldMask(paths=["state"]) if what == "resolved" else None
            request: dict[str, Any] = {"finding": p.finding}
            if mask is not None:
                request["update_mask"] = mask
            client.update_finding(request=request, retry=self._retry, timeout=timeout)
            if p.muted != was_muted:
                self._pace.wait()
                mute = securitycenter_v2.Finding.Mute
                client.set_mute(
                    request={
                        "name": p.finding.name,
                        "mute": mute.MUTED if p.muted else mute.UNMUTED,
                    },
                    retry=self._retry,
                    timeout=timeout,
                )

    def _record(self, done: list[store.Published]) -> None:
        with self._engine.begin() as conn:
            store.record(conn, done, datetime.now(UTC))
        done.clear()
