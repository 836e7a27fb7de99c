"""One `keysentry` command, run in its own process so its peak RSS is its own.

    python -m benchmarks.command history key NAME --db URL

Prints one JSON object: seconds, peak RSS and exit code; the command's own
output is discarded (commands that can write to --output should)."""

from __future__ import annotations

import contextlib
import json
import os
import resource
import sys
import time


def peak_rss_mb(who: int = resource.RUSAGE_SELF) -> float:
    # Not benchmarks.phases': importing it would load the scan pipeline into every command.
    return resource.getrusage(who).ru_maxrss / 1024


def main() -> None:
    started = time.perf_counter()
    from scanner import cli  # timed: a user waits for the imports too

    code = 0
    with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
        try:
            cli.main(sys.argv[1:], standalone_mode=False)
        except SystemExit as exc:
            code = int(exc.code or 0)
    print(
        json.dumps(
            {
                "seconds": time.perf_counter() - started,
                "peak_rss_mb": peak_rss_mb(),
                # The largest child process (evidence verifies the chain in one).
                "child_peak_rss_mb": peak_rss_mb(resource.RUSAGE_CHILDREN),
                "exit": code,
            }
        )
    )


if __name__ == "__main__":
    main()
