"""Report benchmark: seconds and peak RSS of `keysentry report --format json`
over a stored scan of a synthetic organization.

    python -m benchmarks.report --keys 100000 --projects 5000 --db sqlite|postgresql

Prints one JSON object."""

from __future__ import annotations

import json

from benchmarks.harness import organization_args, phase, stored_scan


def main() -> None:
    args = organization_args(__doc__.split("\n\n")[0])
    with stored_scan(args) as (url, tmp, loaded):
        result = phase("report", "--db", url, "--output", str(tmp / "report.json"))
    print(
        json.dumps(
            {
                "keys": loaded["keys"],
                "db": args.db,
                "report_seconds": round(result["seconds"], 2),
                "report_megabytes": round(result["bytes"] / 2**20, 1),
                "peak_rss_mb": round(result["peak_rss_mb"], 1),
                "offline_scan_seconds": round(loaded["seconds"], 2),
                "offline_scan_peak_rss_mb": round(loaded["peak_rss_mb"], 1),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
