"""Feed benchmark: `keysentry run` with feed.subscription over a stored scan
of the synthetic organization, fed by the loopback Pub/Sub of the tests
(tests/fakes/pubsub.py) in this process.

    python -m benchmarks.feed --keys 100000 --projects 5000 --db sqlite [--minutes 10]

1. Sustained: RATE messages a second for MINUTES (keys created unrestricted
   and keys whose restrictions are removed, alternately); for each, the
   seconds from its publish to the first notification naming its key in the
   outbox (polled every 0.2 s): p50, p95, max.
2. Burst: BURST restriction removals at once (a Terraform apply); how many
   notifications each receiver got, and the most any one key appears in a
   receiver's (1: no storm).
3. Crash: another burst, the worker killed (SIGKILL) once half of it is
   acknowledged, then started again; every message acknowledged in the end,
   and a full scan of the organization as the messages left it finds no
   change the feed missed (counts.feed.missed) and the chain intact.

The worker's RSS is sampled every second throughout. Prints one JSON object."""

from __future__ import annotations

import copy
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from benchmarks.harness import ROOT, command, organization_args, stored_scan
from scanner.store import db
from scanner.store.tables import Notification, Scan
from tests.fakes.pubsub import FakePubSubServer, FakeSubscription

SUBSCRIPTION = "projects/bench-security/subscriptions/keysentry-feed"
KEYSENTRY = Path(sys.executable).parent / "keysentry"


def _iso(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def message(envelope: dict[str, Any], prior: str) -> bytes:
    data = envelope["resource"]["data"]
    asset = {
        "ancestors": envelope.get("ancestors", []),
        "assetType": "apikeys.googleapis.com/Key",
        "name": envelope["name"],
        "resource": {"data": data, "version": "v2", "discoveryName": "Key"},
        "updateTime": data["updateTime"],
    }
    body = {"asset": asset, "priorAssetState": prior, "window": {"startTime": data["updateTime"]}}
    return json.dumps(body).encode()


class Organization:
    """The keys of the export, and what the messages did to them."""

    def __init__(self, export: Path) -> None:
        self.lines = export.read_text().splitlines()
        self.keys = [
            i for i, line in enumerate(self.lines) if '"apikeys.googleapis.com/Key"' in line
        ]
        self.changed: dict[int, dict[str, Any]] = {}  # line -> the key as changed
        self.added: list[dict[str, Any]] = []
        self._next = 0

    def remove_restrictions(self) -> tuple[str, bytes]:
        index = self.keys[self._next % len(self.keys)]
        self._next += 1
        envelope = copy.deepcopy(self.changed.get(index) or json.loads(self.lines[index]))
        data = envelope["resource"]["data"]
        data["restrictions"] = {}
        data["updateTime"] = _iso(time.time())
        self.changed[index] = envelope
        return data["name"], message(envelope, "PRESENT")

    def create(self) -> tuple[str, bytes]:
        model = json.loads(self.lines[self.keys[len(self.added) % len(self.keys)]])
        number = model["resource"]["data"]["name"].split("/")[1]
        uid = f"feed-bench-{len(self.added)}"
        now = _iso(time.time())
        data = {"name": f"projects/{number}/locations/global/keys/{uid}", "uid": uid,
                "displayName": f"bench {uid}", "createTime": now, "updateTime": now,
                "restrictions": {}}  # fmt: skip
        envelope = {
            "name": f"//apikeys.googleapis.com/{data['name']}",
            "asset_type": "apikeys.googleapis.com/Key",
            "ancestors": model.get("ancestors", []),
            "resource": {"version": "v2", "discovery_name": "Key", "data": data},
        }
        self.added.append(envelope)
        return data["name"], message(envelope, "DOES_NOT_EXIST")

    def write(self, path: Path) -> None:
        with path.open("w") as handle:
            for i, line in enumerate(self.lines):
                handle.write((json.dumps(self.changed[i]) if i in self.changed else line) + "\n")
            for envelope in self.added:
                handle.write(json.dumps(envelope) + "\n")


class Outbox:
    """When each key first appears in a notification, per receiver."""

    def __init__(self, url: str) -> None:
        self._engine = db.open_engine(url)
        self._last = 0
        self.first_seen: dict[str, float] = {}
        self.per_receiver: dict[str, Counter[str]] = {}
        self.notifications: Counter[str] = Counter()
        self.lock = threading.Lock()
        self._stop = threading.Event()
        threading.Thread(target=self._watch, daemon=True).start()

    def _watch(self) -> None:
        while not self._stop.wait(0.2):
            with self.lock:
                self.poll()

    def stop(self) -> None:
        self._stop.set()

    def poll(self) -> None:
        with self._engine.connect() as conn:
            rows = conn.execute(
                select(Notification.id, Notification.receiver, Notification.payload)
                .where(Notification.id > self._last)
                .order_by(Notification.id)
            ).all()
        seen = time.time()
        for row in rows:
            self._last = row.id
            self.notifications[row.receiver] += 1
            counts = self.per_receiver.setdefault(row.receiver, Counter())
            for key in (row.payload or {}).get("keys") or ():
                name = key.get("name")
                if name:
                    counts[name] += 1
                    self.first_seen.setdefault(name, seen)

    def missed_by_last_full_scan(self) -> Any:
        with self._engine.connect() as conn:
            counts = conn.scalar(
                select(Scan.counts).where(Scan.kind == "full").order_by(Scan.id.desc()).limit(1)
            )
        return ((counts or {}).get("feed") or {}).get("missed")


@contextmanager
def worker(config: Path, url: str, export: Path, host: str) -> Iterator[subprocess.Popen[str]]:
    """`keysentry run`, once it pulls (the stored scan is recent: no scan at start)."""
    env = {**os.environ, "PUBSUB_EMULATOR_HOST": host, "NO_GCE_CHECK": "true"}
    args = [str(KEYSENTRY), "run", "--config", str(config), "--db", url,
            "--from-export", str(export), "--listen", "127.0.0.1:0"]  # fmt: skip
    process = subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    for line in process.stdout:
        if "feed: pulling from" in line:
            break
    drain = threading.Thread(target=lambda: [None for _ in process.stdout or ()], daemon=True)
    drain.start()
    try:
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.wait(120)


class Rss:
    def __init__(self) -> None:
        self.peak_mb = 0.0
        self.pid: int | None = None
        self._stop = threading.Event()
        threading.Thread(target=self._sample, daemon=True).start()

    def _sample(self) -> None:
        while not self._stop.wait(1.0):
            if self.pid is None:
                continue
            try:
                status = Path(f"/proc/{self.pid}/status").read_text()
            except OSError:
                continue
            kb = next((int(v.split()[1]) for v in status.splitlines() if v.startswith("VmRSS:")), 0)
            self.peak_mb = max(self.peak_mb, kb / 1024)  # 0 kB: the process just ended


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def main() -> None:
    values = {"--rate": 50.0, "--minutes": 10.0, "--burst": 10_000}
    args = organization_args(__doc__.split("\n\n")[0], values=values)
    with stored_scan(args) as (url, work, _):
        export = work / "org.jsonl"
        config = work / "keysentry.yaml"
        config.write_text(
            "schedule: {interval: 24h, jitter: 0s}\n"
            f"feed: {{subscription: {SUBSCRIPTION}, batch_seconds: 1, backlog_every: 0}}\n"
            "alerts:\n"
            "  route: {receiver: security}\n"
            "  receivers:\n"
            "    - {name: security, "
            "webhooks: [{name: out, url: 'http://127.0.0.1:9/none', format: generic}]}\n"
        )
        org = Organization(export)
        fake = FakeSubscription(SUBSCRIPTION)
        outbox = Outbox(url)
        rss = Rss()
        result: dict[str, Any] = {"keys": args.keys, "projects": args.projects, "db": args.db}
        with FakePubSubServer(fake) as server:
            with worker(config, url, export, server.host) as process:
                rss.pid = process.pid
                result["sustained"] = sustained(fake, org, outbox, args.rate, args.minutes)
                result["burst"] = burst(fake, org, outbox, args.burst)
            result["crash"] = crash(fake, org, outbox, config, url, export, server.host, rss,
                                    args.burst // 2)  # fmt: skip
        final = work / "final.jsonl"
        org.write(final)
        report = str(work / "r.json")
        command("scan", "--db", url, "--from-export", str(final), "--config", str(config),
                "--format", "json", "--output", report)  # fmt: skip
        outbox.stop()
        result["full_scan_after"] = {"missed_by_feed": outbox.missed_by_last_full_scan()}
        verified = subprocess.run([str(KEYSENTRY), "verify", "--db", url], capture_output=True,
                                  text=True, check=False)  # fmt: skip
        result["full_scan_after"]["chain_intact"] = verified.returncode == 0
        result["worker_peak_rss_mb"] = round(rss.peak_mb, 1)
    print(json.dumps(result, indent=2))


def _wait_acked(fake: FakeSubscription, count: int, outbox: Outbox, limit: float) -> bool:
    del outbox  # it polls on its own
    return fake.wait_acked(count, limit)


def sustained(
    fake: FakeSubscription, org: Organization, outbox: Outbox, rate: float, minutes: float
) -> dict[str, Any]:
    published: dict[str, float] = {}
    total = int(rate * minutes * 60)
    start = time.monotonic()
    for n in range(total):
        due = start + n / rate
        left = due - time.monotonic()
        if left > 0:
            time.sleep(left)
        name, data = org.create() if n % 2 == 0 else org.remove_restrictions()
        published[name] = time.time()
        fake.publish(data)
    acked = _wait_acked(fake, total, outbox, 300)
    time.sleep(1.0)  # the outbox's next poll
    lags = [outbox.first_seen[n] - t for n, t in published.items() if n in outbox.first_seen]
    return {
        "messages": total,
        "acked_all": acked and len(set(fake.acked)) >= total,
        "keys_alerted": len(lags),
        "publish_to_outbox_p50_s": round(percentile(lags, 0.5), 2),
        "publish_to_outbox_p95_s": round(percentile(lags, 0.95), 2),
        "publish_to_outbox_max_s": round(max(lags), 2) if lags else None,
    }


def burst(fake: FakeSubscription, org: Organization, outbox: Outbox, size: int) -> dict[str, Any]:
    with outbox.lock:
        before = {r: Counter(c) for r, c in outbox.per_receiver.items()}
        sent_before = Counter(outbox.notifications)
    already = len(set(fake.acked))
    started = time.monotonic()
    for _ in range(size):
        fake.publish(org.remove_restrictions()[1])
    acked = _wait_acked(fake, already + size, outbox, 900)
    seconds = time.monotonic() - started
    time.sleep(1.0)  # the outbox's next poll
    per_receiver = {}
    for receiver, counts in outbox.per_receiver.items():
        new = counts - before.get(receiver, Counter())
        per_receiver[receiver] = {
            "notifications": outbox.notifications[receiver] - sent_before[receiver],
            "keys": len(new),
            "most_per_key": max(new.values()) if new else 0,
        }
    return {"messages": size, "acked_all": acked, "seconds": round(seconds, 1),
            "receivers": per_receiver}  # fmt: skip


def crash(
    fake: FakeSubscription,
    org: Organization,
    outbox: Outbox,
    config: Path,
    url: str,
    export: Path,
    host: str,
    rss: Rss,
    size: int,
) -> dict[str, Any]:
    already = len(set(fake.acked))
    with worker(config, url, export, host) as process:
        rss.pid = process.pid
        for _ in range(size):
            fake.publish(org.remove_restrictions()[1])
        _wait_acked(fake, already + size // 2, outbox, 600)
        process.send_signal(signal.SIGKILL)
        process.wait(60)
        acked_at_kill = len(set(fake.acked)) - already
    with worker(config, url, export, host) as process:
        rss.pid = process.pid
        acked = _wait_acked(fake, already + size, outbox, 900)
    return {"messages": size, "acked_when_killed": acked_at_kill, "acked_all_after_restart": acked}


if __name__ == "__main__":
    main()
