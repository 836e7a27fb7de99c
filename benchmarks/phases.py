"""One measured phase, run in its own process so its peak RSS is its own.

    python -m benchmarks.phases floor --address 127.0.0.1:PORT
    python -m benchmarks.phases scan --address 127.0.0.1:PORT --db URL
    python -m benchmarks.phases load --export FILE --db URL [--config FILE] [--days N]
    python -m benchmarks.phases report --db URL --output FILE
    python -m benchmarks.phases insert_floor --db URL --into URL

Each prints one JSON object."""

from __future__ import annotations

import argparse
import json
import resource
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from google.cloud import asset_v1

from benchmarks.synth import ORG, REFERENCE
from scanner import cli
from scanner.config import Config
from scanner.configfile import load_config
from scanner.scan.engine import run_scan
from scanner.sources.inventory.asset import CloudAssetSource
from scanner.sources.inventory.export import ExportSource
from scanner.sources.inventory.normalize import KEY_TYPE, PROJECT_TYPE, SERVICE_TYPE
from scanner.sources.inventory.struct import struct_to_dict
from scanner.store import db
from tests.fakes.cloud_asset import client_for


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def floor(address: str, page_size: int) -> dict[str, Any]:
    """Page through every asset the scan reads and decode it, and nothing more."""
    client = client_for(address)
    started = time.perf_counter()
    assets = 0
    for asset_types in ([PROJECT_TYPE, SERVICE_TYPE], [KEY_TYPE]):
        request = asset_v1.ListAssetsRequest(
            parent=ORG,
            asset_types=asset_types,
            content_type=asset_v1.ContentType.RESOURCE,
            page_size=page_size,
        )
        for page in client.list_assets(request=request).pages:
            for asset in asset_v1.ListAssetsResponse.pb(page).assets:
                struct_to_dict(asset.resource.data)  # as the scan reads it
                assets += 1
    return {
        "seconds": time.perf_counter() - started,
        "assets": assets,
        "peak_rss_mb": peak_rss_mb(),
    }


def insert_floor(source_url: str, into_url: str) -> dict[str, Any]:
    """A plain executemany of the rows SOURCE_URL's history holds (a first
    scan's) into the same schema, empty, at INTO_URL: what writing them must
    cost at least. Rows are read a batch at a time; only the inserts and the
    commit are timed."""
    from sqlalchemy import insert, select

    from scanner.store.tables import FindingVersion, KeyVersion, Scan, Transition, UsageVersion

    tables = [m.__table__ for m in (Scan, KeyVersion, FindingVersion, Transition, UsageVersion)]
    source, target = db.open_engine(source_url), db.open_engine(into_url)
    db.ensure_current(target)
    seconds, count = 0.0, 0
    with source.connect() as reading, target.connect() as writing:
        for table in tables:
            result = reading.execute(select(table).execution_options(yield_per=20_000))
            for part in result.partitions():
                rows = [dict(row._mapping) for row in part]
                started = time.perf_counter()
                writing.execute(insert(table), rows)
                seconds += time.perf_counter() - started
                count += len(rows)
        started = time.perf_counter()
        writing.commit()
        seconds += time.perf_counter() - started
    source.dispose()
    target.dispose()
    return {"seconds": seconds, "rows": count, "peak_rss_mb": peak_rss_mb()}


def scan(address: str, url: str) -> dict[str, Any]:
    config = Config()
    engine = db.open_engine(url)
    db.ensure_current(engine)
    source = CloudAssetSource(
        client_for(address), ORG, config.inventory, config.gemini.project_services
    )
    started = time.perf_counter()
    outcome = run_scan(source, engine, config, REFERENCE)
    seconds = time.perf_counter() - started
    engine.dispose()
    return {
        "seconds": seconds,
        "keys": outcome.stats.keys_total,
        "assets": outcome.stats.assets_read,
        "rows_written": outcome.stats.rows_written,
        "peak_rss_mb": peak_rss_mb(),
    }


def load(export: Path, url: str, config_path: Path | None, days: int) -> dict[str, Any]:
    """Fill a store from an export file (the offline scan), DAYS after the
    reference instant; with CONFIG_PATH's alerts planned as `keysentry scan` does."""
    from scanner.alerts.plan.planner import scan_hook

    config = load_config(config_path) if config_path is not None else Config()
    engine = db.open_engine(url)
    db.ensure_current(engine)
    hook = scan_hook(config.alerts) if config.alerts.enabled else None
    started = time.perf_counter()
    source = ExportSource([export], config.gemini.project_services)
    at = REFERENCE + timedelta(days=days)
    outcome = run_scan(source, engine, config, at, after_history=hook)
    return {
        "seconds": time.perf_counter() - started,
        "keys": outcome.stats.keys_total,
        "rows_written": outcome.stats.rows_written,
        "queued": outcome.stats.alerts.get("queued", {}),
        "peak_rss_mb": peak_rss_mb(),
    }


def report(url: str, output: Path) -> dict[str, Any]:
    """`keysentry report --format json --output FILE`, through the real command."""
    started = time.perf_counter()
    args = ["report", "--db", url, "--format", "json", "--output", str(output)]
    try:
        cli.main(args, standalone_mode=False)
    except SystemExit as exc:  # no --fail-on here: any exit is a failure
        raise RuntimeError(f"report exited {exc.code}") from None
    return {
        "seconds": time.perf_counter() - started,
        "bytes": output.stat().st_size,
        "peak_rss_mb": peak_rss_mb(),
    }


def metrics(url: str) -> dict[str, Any]:
    """Scrapes of the store collector: series counts and seconds, cold and warm."""
    from prometheus_client import CollectorRegistry, generate_latest

    from scanner.config import MetricsConfig
    from scanner.metrics.collector import StoreCollector

    engine = db.open_engine(url)
    result: dict[str, Any] = {}
    for label, settings in (
        ("default", MetricsConfig()),
        ("per_project_off", MetricsConfig(per_project=False)),
        ("uncapped_projects", MetricsConfig(max_projects=10000)),
    ):
        registry = CollectorRegistry(auto_describe=False)
        registry.register(StoreCollector(engine, Config(metrics=settings)))
        started = time.perf_counter()
        body = generate_latest(registry)
        cold = time.perf_counter() - started
        started = time.perf_counter()
        generate_latest(registry)
        warm = time.perf_counter() - started
        lines = [line for line in body.decode().splitlines() if not line.startswith("#")]
        result[label] = {
            "series": len(lines),
            "bytes": len(body),
            "first_scrape_seconds": round(cold, 3),
            "next_scrape_seconds": round(warm, 4),
        }
    result["peak_rss_mb"] = peak_rss_mb()
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "phase", choices=["floor", "scan", "load", "report", "metrics", "insert_floor"]
    )
    parser.add_argument("--into")
    parser.add_argument("--address")
    parser.add_argument("--db")
    parser.add_argument("--export", type=Path)
    parser.add_argument("--output", type=Path)
    parser.add_argument("--page-size", type=int, default=1000)
    parser.add_argument("--config", type=Path)
    parser.add_argument("--days", type=int, default=0)
    args = parser.parse_args()
    if args.phase == "floor":
        result = floor(args.address, args.page_size)
    elif args.phase == "scan":
        result = scan(args.address, args.db)
    elif args.phase == "load":
        result = load(args.export, args.db, args.config, args.days)
    elif args.phase == "insert_floor":
        result = insert_floor(args.db, args.into)
    elif args.phase == "metrics":
        result = metrics(args.db)
    else:
        result = report(args.db, args.output)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
