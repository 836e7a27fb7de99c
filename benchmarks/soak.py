"""Soak benchmark: `keysentry run` on the demo organization at a short
interval, scraped after every scan; the worker's RSS as the scans add up.

    python -m benchmarks.soak --scans 200 --interval 1s [--db URL]

Prints one JSON object: RSS (MB) after selected scans, and the slope."""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

ROOT = Path(__file__).parent.parent
DEMO = ROOT / "scanner" / "samples" / "demo-org.jsonl"
SUCCEEDED = re.compile(r"scan (\d+) succeeded")
LISTENING = re.compile(r"listening on http://(\S+) ")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scans", type=int, default=200)
    parser.add_argument("--interval", default="1s")
    parser.add_argument("--db")
    args = parser.parse_args()
    marks = sorted({1, 10, 25, 50, 100, 150, args.scans} & set(range(1, args.scans + 1)))
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "soak.yaml"
        config.write_text(f"schedule: {{interval: {args.interval}, jitter: 0s}}\n")
        url = args.db or f"sqlite:///{tmp}/soak.db"
        command = [str(Path(sys.executable).parent / "keysentry"), "run", "--config", str(config)]
        command += ["--db", url, "--from-export", str(DEMO), "--listen", "127.0.0.1:0"]
        worker = subprocess.Popen(
            command, stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"}
        )
        assert worker.stdout is not None
        address, scans, samples = "", 0, {}
        for line in worker.stdout:
            message = json.loads(line)["message"]
            if match := LISTENING.search(message):
                address = match.group(1)
            if SUCCEEDED.search(message):
                scans += 1
                with urllib.request.urlopen(f"http://{address}/metrics", timeout=10) as r:
                    r.read()
                if scans in marks:
                    samples[scans] = round(rss_mb(worker.pid), 1)
                if scans == args.scans:
                    break
        worker.send_signal(signal.SIGTERM)
        code = worker.wait(60)
    first, last = marks[1] if len(marks) > 1 else marks[0], marks[-1]
    slope = (samples[last] - samples[first]) / max(1, last - first) * 1024
    print(
        json.dumps(
            {
                "scans": scans,
                "interval": args.interval,
                "rss_mb_after_scan": samples,
                "kb_per_scan_after_warmup": round(slope, 1),
                "exit_code": code,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
