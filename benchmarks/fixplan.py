"""Fix plan benchmark: `keysentry fix plan --output FILE` over a stored scan of
a synthetic organization with per-service usage for its keys.

    python -m benchmarks.fixplan --keys 100000 --projects 5000 --db sqlite

The organization is benchmarks.synth's. Its usage is saved Cloud Monitoring
answers (the `projects.timeSeries.list` JSON `--usage-from` reads): a tenth of
the projects have no series (confidence none), a third of the rest reach back
20 days (low), the others 95 (high); in the projects with data, 30% of the
keys called nothing, 10% called Gemini and another service, the rest one
service. The scan and the plan each run in a fresh process (benchmarks.command).
Prints one JSON object."""

from __future__ import annotations

import json
import random
import tempfile
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

from benchmarks.harness import (
    command,
    database,
    organization_args,
    write_inputs_apart,
    writing_inputs,
)
from benchmarks.synth import GEMINI, OTHER_SERVICES, REFERENCE, organization, write_export


def _series(project: str, key: str, service: str, days: list[int]) -> dict[str, Any]:
    return {
        "metric": {
            "type": "serviceruntime.googleapis.com/api/request_count",
            "labels": {"response_code_class": "2xx"},
        },
        "resource": {
            "type": "consumed_api",
            "labels": {"project_id": project, "service": service, "credential_id": f"apikey:{key}"},
        },
        "metricKind": "DELTA",
        "valueType": "INT64",
        "points": [
            {
                "interval": {
                    "endTime": (REFERENCE - timedelta(days=d)).strftime("%Y-%m-%dT%H:%M:%SZ")
                },
                "value": {"int64Value": str(10 + d)},
            }
            for d in days
        ],
    }


def usage(envelopes: list[dict[str, Any]], seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    series = []
    for envelope in envelopes:
        data = envelope["resource"]["data"]
        if envelope["asset_type"] != "apikeys.googleapis.com/Key" or "deleteTime" in data:
            continue
        index = int(data["name"].split("/")[1]) - 400000000000
        if index % 10 == 0:
            continue  # no usage data for this project
        project = f"synth-project-{index}"
        oldest = 20 if index % 3 == 0 else 95
        kind = rng.random()
        if kind < 0.30:
            # The project's data reaches back this far, through a key that is not this one.
            series.append(_series(project, "someone-else", GEMINI, [oldest]))
            continue
        services = [rng.choice((GEMINI, *OTHER_SERVICES))]
        if kind > 0.90:
            services = [GEMINI, rng.choice(OTHER_SERVICES)]
        for service in services:
            series.append(_series(project, data["uid"], service, [1, 7, oldest]))
    return series


def write_inputs(work: Path, keys: int, projects: int, seed: int) -> None:
    """The export and the saved usage, in WORK. Run in a process of its own: a
    command started from a process that held them would inherit its peak RSS."""
    envelopes = list(organization(keys, projects, seed))
    write_export(work / "org.jsonl", iter(envelopes))
    (work / "usage.json").write_text(json.dumps({"timeSeries": usage(envelopes, seed)}))
    print(json.dumps({"written": str(work)}))


def main() -> None:
    if writing_inputs(write_inputs):
        return
    args = organization_args(__doc__.split("\n\n")[0])
    with tempfile.TemporaryDirectory() as tmp, database(args.db, Path(tmp)) as url:
        work = Path(tmp)
        write_inputs_apart("benchmarks.fixplan", work, args)
        config = work / "keysentry.yaml"
        config.write_text("usage: {enabled: true}\n")
        common = ["--config", str(config), "--db", url]
        scan = command(
            "scan", *common, "--from-export", str(work / "org.jsonl"),
            "--usage-from", str(work / "usage.json"), "--now", REFERENCE.isoformat(),
            "--format", "json", "--output", str(work / "r.json"),
        )  # fmt: skip
        plan_file = work / "plan.json"
        plan = command("fix", "plan", *common, "--output", str(plan_file))
        document = json.loads(plan_file.read_text())
    actions = Counter(e["action"] for e in document["keys"])
    confidence = Counter(e["confidence"] for e in document["keys"])
    print(
        json.dumps(
            {
                "keys": args.keys,
                "projects": args.projects,
                "db": args.db,
                "scan_seconds": round(scan["seconds"], 2),
                "scan_peak_rss_mb": round(scan["peak_rss_mb"], 1),
                "plan_seconds": round(plan["seconds"], 2),
                "plan_peak_rss_mb": round(plan["peak_rss_mb"], 1),
                "plan_entries": len(document["keys"]),
                "actions": dict(sorted(actions.items())),
                "confidence": dict(sorted(confidence.items())),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
