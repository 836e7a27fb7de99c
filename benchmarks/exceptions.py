"""What exceptions cost a scan: the same synthetic organization scanned into a
new database without exceptions and with N of them, each in a fresh process.

    python -m benchmarks.exceptions --keys 100000 --projects 5000 --exceptions 1000

The exceptions mix what a security team writes: 60% name keys by uid, 30% name
a project exactly, 10% match display names or project ids by pattern (those
every key is compared with). Prints one JSON object."""

from __future__ import annotations

import argparse
import json
import tempfile
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from benchmarks.harness import command, database
from benchmarks.synth import REFERENCE, organization, write_export

RULES = ["key-not-rotated", "key-api-unrestricted", "key-application-unrestricted"]


def exceptions(count: int, keys: int, projects: int, today: date) -> list[dict[str, Any]]:
    expires = str(today + timedelta(days=90))
    made = []
    for n in range(count):
        entry: dict[str, Any] = {
            "id": f"bench-{n}",
            "rules": RULES,
            "reason": "benchmark",
            "approved_by": "security@example.com",
            "expires": expires,
        }
        if n % 10 < 6:
            index = (n * 97) % keys
            entry["keys"] = [f"{index:08x}-5e17-4000-8000-{index:012x}"]
        elif n % 10 < 9:
            entry["projects"] = [f"synth-project-{(n * 13) % projects}"]
        else:
            entry["display_names"] = [f"synthetic key {n}*"]
        made.append(entry)
    return made


def accepted_in(report: Path) -> int:
    """Accepted findings in a JSON report, counted line by line: loading the
    whole report here would grow this process, and with it the peak RSS that
    the next command's fork starts from."""
    with report.open(encoding="utf-8") as lines:
        return sum(line.count('"exception":{') for line in lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keys", type=int, default=100_000)
    parser.add_argument("--projects", type=int, default=5_000)
    parser.add_argument("--exceptions", type=int, default=1_000)
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args()
    results: dict[str, Any] = {"keys": args.keys, "exceptions": args.exceptions, "runs": []}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        export = work / "org.jsonl"
        write_export(export, organization(args.keys, args.projects))
        config = work / "exceptions.yaml"
        entries = exceptions(args.exceptions, args.keys, args.projects, date.today())
        config.write_text(json.dumps({"exceptions": {"entries": entries}}))
        for _ in range(args.runs):
            run = {}
            for label, extra in (("without", []), ("with", ["--config", str(config)])):
                with database(args.db, work) as url:
                    ran = command(
                        "scan",
                        *("--from-export", str(export), "--db", url),
                        *("--now", REFERENCE.isoformat(), "--format", "json"),
                        *("--output", str(work / "report.json"), *extra),
                    )
                run[label] = round(ran["seconds"], 2)
                run[f"{label}_peak_rss_mb"] = round(ran["peak_rss_mb"], 1)
                if label == "with":
                    run["accepted_findings"] = accepted_in(work / "report.json")
            run["added_share"] = round(run["with"] / run["without"] - 1, 3)
            results["runs"].append(run)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
