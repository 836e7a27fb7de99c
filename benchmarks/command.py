"""One `keysentry` command, run in its own process so its peak RSS is its own.

    python -m benchmarks.command history key NAME --db URL

Prints one JSON object: seconds, peak RSS and exit code; the command's own
output is discarded (commands that can write to --output should)."""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time

from benchmarks.phases import peak_rss_mb
from scanner import cli


def main() -> None:
    started = time.perf_counter()
    code = 0
    with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
        try:
            cli.main(sys.argv[1:], standalone_mode=False)
        except SystemExit as exc:
            code = int(exc.code or 0)
    print(
        json.dumps(
            {"seconds": time.perf_counter() - started, "peak_rss_mb": peak_rss_mb(), "exit": code}
        )
    )


if __name__ == "__main__":
    main()
