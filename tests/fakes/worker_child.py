"""The real worker, signals and all, in a child process, reading a fake Cloud
Asset server: `python -m tests.fakes.worker_child ADDRESS DB_URL CONFIG`."""

from __future__ import annotations

import sys

from scanner.cli.service import open_worker_store
from scanner.configfile import load_config
from scanner.service.logs import setup_logging
from scanner.service.serve import serve
from scanner.service.worker import Worker
from scanner.sources.inventory.asset import CloudAssetSource
from tests.fakes.cloud_asset import client_for

SCOPE = "organizations/900000000001"


def main() -> None:
    address, db_url, config_path = sys.argv[1:4]
    config = load_config(config_path)
    setup_logging("INFO")
    engine = open_worker_store(config, db_url)
    services = config.gemini.project_services

    def source() -> CloudAssetSource:
        return CloudAssetSource(client_for(address), SCOPE, config.inventory, services)

    sys.exit(serve(Worker(config, engine, source), "127.0.0.1:0"))


if __name__ == "__main__":
    main()
