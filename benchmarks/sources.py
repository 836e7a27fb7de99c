"""Offline scans from each kind of saved input: seconds and peak RSS of
`keysentry scan --from-export ...` on the synthetic organization as
newline-delimited JSON, as the JSON array `gcloud asset list --format=json`
prints, and with saved usage and audit logs beside it (a first scan, then a
repeat of it into the same database). The newline-delimited export is also
scanned again unchanged (`export_lines_repeat`), against its parse floor (every
line read and parsed as JSON, nothing more) plus the report's own time
(`report --format json` of that scan): `repeat_over_floor_and_report`.

    python -m benchmarks.sources --keys 100000 --projects 5000 --db sqlite

The usage is benchmarks.fixplan's (saved `projects.timeSeries.list` answers);
the audit log holds a CreateKey entry for every tenth key, shaped as the
operation's last entry in tests/data/real/audit-apikeys-v2.json (the public
API Keys audit shape cited in scanner/sources/audit/events.py). Inputs are written by
a process of their own and each scan runs in a fresh one (benchmarks.command),
a database each. Prints one JSON object."""

from __future__ import annotations

import copy
import json
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from benchmarks.fixplan import usage
from benchmarks.harness import (
    ROOT,
    command,
    database,
    organization_args,
    write_inputs_apart,
    writing_inputs,
)
from benchmarks.synth import REFERENCE, organization, write_export
from scanner.inputs import jsontext
from scanner.inputs.textfiles import text_lines

AUDIT_SAMPLE = ROOT / "tests" / "data" / "real" / "audit-apikeys-v2.json"


def audit(envelopes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    template = json.loads(AUDIT_SAMPLE.read_text())[1]  # CreateKey, operation.last
    entries = []
    for index, envelope in enumerate(envelopes):
        data = envelope["resource"]["data"]
        if envelope["asset_type"] != "apikeys.googleapis.com/Key" or index % 10:
            continue
        entry = copy.deepcopy(template)
        number = data["name"].split("/")[1]
        when = (REFERENCE - timedelta(days=index % 300)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        entry["insertId"] = f"bench{index}"
        entry["timestamp"] = entry["receiveTimestamp"] = when
        entry["operation"]["id"] = f"operations/akmf.p7-{number}-{index}"
        payload = entry["protoPayload"]
        payload["resourceName"] = f"projects/{number}"
        payload["authenticationInfo"]["principalEmail"] = f"dev{index % 97}@example.com"
        payload["response"]["name"] = data["name"]
        entries.append(entry)
    return entries


def write_inputs(work: Path, keys: int, projects: int, seed: int) -> None:
    """The inputs, in WORK. Run in a process of its own: a command started from
    a process that held them would inherit its peak RSS."""
    envelopes = list(organization(keys, projects, seed))
    write_export(work / "org.jsonl", iter(envelopes))
    with (work / "org.json").open("w") as out:  # gcloud asset list --format=json: one array
        out.write("[\n")
        for index, envelope in enumerate(envelopes):
            out.write((",\n" if index else "") + json.dumps(envelope, indent=1))
        out.write("\n]\n")
    (work / "usage.json").write_text(json.dumps({"timeSeries": usage(envelopes, seed)}))
    (work / "audit.json").write_text(json.dumps(audit(envelopes), indent=1))
    print(json.dumps({"written": str(work)}))


def parse_floor(path: Path) -> float:
    """Seconds to read PATH a line at a time and parse each line as JSON: what
    any scan of it costs at least."""
    started = time.perf_counter()
    for _, line in text_lines(path):
        if line.strip():
            jsontext.loads(line)
    return time.perf_counter() - started


def main() -> None:
    if writing_inputs(write_inputs):
        return
    args = organization_args(__doc__.split("\n\n")[0])
    results: dict[str, Any] = {"keys": args.keys, "projects": args.projects, "db": args.db}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        write_inputs_apart("benchmarks.sources", work, args)
        config = work / "keysentry.yaml"
        config.write_text("usage: {enabled: true}\n")
        runs = {
            "export_lines": ["--from-export", str(work / "org.jsonl")],
            "export_array": ["--from-export", str(work / "org.json")],
            "lines_usage_audit": [
                "--from-export", str(work / "org.jsonl"),
                "--usage-from", str(work / "usage.json"),
                "--audit-from", str(work / "audit.json"),
            ],
        }  # fmt: skip
        repeated = ("export_lines", "lines_usage_audit")
        for name, inputs in runs.items():
            scan = ("scan", "--config", str(config), *inputs, "--now", REFERENCE.isoformat())
            with database(args.db, work) as url:
                # A first scan, then the same again (a day's repeat scan).
                for run in ("", "_repeat") if name in repeated else ("",):
                    result = command(
                        *scan, "--db", url, "--format", "json", "--output", "/dev/null"
                    )
                    results[name + run] = {
                        "seconds": round(result["seconds"], 2),
                        "peak_rss_mb": round(result["peak_rss_mb"], 1),
                    }
                if name == "export_lines":
                    report = command(
                        "report", "--db", url, "--format", "json", "--output", "/dev/null"
                    )
                    results["report_seconds"] = round(report["seconds"], 2)
        floor = parse_floor(work / "org.jsonl")
        results["export_parse_floor_seconds"] = round(floor, 2)
        results["repeat_over_floor_and_report"] = round(
            results["export_lines_repeat"]["seconds"] / (floor + results["report_seconds"]), 2
        )
        results["input_megabytes"] = {
            p.name: round(p.stat().st_size / 2**20, 1)
            for p in sorted(work.iterdir())
            if p.suffix in {".json", ".jsonl"}
        }
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
