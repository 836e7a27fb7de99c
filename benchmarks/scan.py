"""Scan benchmark against a fake Cloud Asset server in a separate process.

    python -m benchmarks.scan --keys 100000 --projects 5000 --db sqlite|postgresql

Prints one JSON object: the first scan's wall seconds, keys per second and peak
RSS; the paging floor (the same client paging through the same server and
decoding every asset, nothing more) and the ratio scan/floor; the insert floor
(a plain executemany of the first scan's rows into the same schema, empty); rows
written by the first scan, by an immediate repeat, and by a scan after 1% of keys
changed, and each scan's time over the floors. The paging floor is measured again
right before the repeat and the changed scan, and each ratio uses the one before it."""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from benchmarks.harness import database, fake_server, phase


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keys", type=int, default=100_000)
    parser.add_argument("--projects", type=int, default=5_000)
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--changed-fraction", type=float, default=0.01)
    parser.add_argument(
        "--page-latency",
        type=float,
        default=0.0,
        help="seconds the fake server takes per page (0.6 = ListAssets' "
        "default quota of 100 requests a minute)",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, database(args.db, Path(tmp)) as url:
        with fake_server(
            args.keys, args.projects, args.seed, page_latency=args.page_latency
        ) as address:
            floor = phase("floor", "--address", address)
            first = phase("scan", "--address", address, "--db", url)
            with database(args.db, Path(tmp)) as empty:
                inserts = phase("insert_floor", "--db", url, "--into", empty)
            floor_repeat = phase("floor", "--address", address)
            repeat = phase("scan", "--address", address, "--db", url)
        with fake_server(
            args.keys, args.projects, args.seed, args.changed_fraction, args.page_latency
        ) as address:
            floor_changed = phase("floor", "--address", address)
            changed = phase("scan", "--address", address, "--db", url)
    print(
        json.dumps(
            {
                "keys": first["keys"],
                "projects": args.projects,
                "db": args.db,
                "page_latency_seconds": args.page_latency,
                "assets": first["assets"],
                "scan_seconds": round(first["seconds"], 2),
                "keys_per_second": round(first["keys"] / first["seconds"]),
                "peak_rss_mb": round(
                    max(first["peak_rss_mb"], repeat["peak_rss_mb"], changed["peak_rss_mb"]), 1
                ),
                "peak_rss_mb_first_scan": round(first["peak_rss_mb"], 1),
                "peak_rss_mb_repeat_scan": round(repeat["peak_rss_mb"], 1),
                "peak_rss_mb_changed_scan": round(changed["peak_rss_mb"], 1),
                "floor_seconds": round(floor["seconds"], 2),
                "scan_over_floor": round(first["seconds"] / floor["seconds"], 2),
                "insert_floor_seconds": round(inserts["seconds"], 2),
                "first_scan_over_floors": round(
                    first["seconds"] / (floor["seconds"] + inserts["seconds"]), 2
                ),
                # Each over the floor measured just before it: this machine's
                # speed drifts between phases minutes apart.
                "floor_seconds_before_repeat": round(floor_repeat["seconds"], 2),
                "repeat_scan_over_floor": round(repeat["seconds"] / floor_repeat["seconds"], 2),
                "floor_seconds_before_changed": round(floor_changed["seconds"], 2),
                "changed_scan_over_floor": round(changed["seconds"] / floor_changed["seconds"], 2),
                "repeat_scan_seconds": round(repeat["seconds"], 2),
                "rows_written_first_scan": first["rows_written"],
                "rows_written_repeat_scan": repeat["rows_written"],
                "changed_fraction": args.changed_fraction,
                "changed_scan_seconds": round(changed["seconds"], 2),
                "rows_written_changed_scan": changed["rows_written"],
                "changed_rows_over_first_rows": round(
                    changed["rows_written"] / first["rows_written"], 4
                ),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
