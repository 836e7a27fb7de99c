"""`keysentry fix ...` in a child process, changing keys through the fake API
Keys server at ADDRESS: `python -m tests.fakes.fix_child ADDRESS ARGS...`,
for the tests that kill it mid-change or cap the size of what it writes."""

from __future__ import annotations

import sys

import grpc
from google.cloud.api_keys_v2 import ApiKeysClient
from google.cloud.api_keys_v2.services.api_keys.transports import ApiKeysGrpcTransport

from scanner.cli import fix_apply, main
from scanner.fixes.apikeys import KeyUpdater


def _run() -> None:
    address, *args = sys.argv[1:]
    channel = grpc.insecure_channel(address)
    client = ApiKeysClient(transport=ApiKeysGrpcTransport(channel=channel))
    fix_apply._updater = lambda: KeyUpdater(client, timeout_seconds=600)  # type: ignore[assignment]
    main(args)


if __name__ == "__main__":
    _run()
