"""The documentation a newcomer reads stays true: the README is short and starts
with the two commands, every link between the documents leads somewhere, the
rules reference is what the catalog's metadata generates, and the metrics
reference lists exactly the metrics a scrape serves."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine

from scanner.alerts.delivery.metrics import OutboxCollector
from scanner.config import Config
from scanner.feed.backlog import Backlog
from scanner.feed.consumer import FeedStatus
from scanner.feed.metrics import FeedCollector
from scanner.metrics.collector import StoreCollector, WorkerState
from scanner.rules import reference
from scanner.store.lock import ScanLock
from tests.test_metrics import scan_demo

ROOT = Path(__file__).parent.parent
DOCS = sorted((ROOT / "docs").glob("*.md"))
LINK = re.compile(r"\]\(([^)\s]+)\)")


def test_the_readme_is_short_and_starts_with_the_two_commands() -> None:
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= 250
    assert lines[2:6] == [
        "```",
        "make demo    # set up and scan the bundled sample organization; prints the report",
        "make test    # set up and run the whole test suite (SQLite and PostgreSQL)",
        "```",
    ]


def heading_anchors(path: Path) -> set[str]:
    """The anchors GitHub gives a document's headings."""
    found = set()
    for line in path.read_text().splitlines():
        if line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            found.add(re.sub(r"[^a-z0-9 _-]", "", title).replace(" ", "-"))
    return found


def test_every_link_between_the_documents_leads_somewhere() -> None:
    for document in [ROOT / "README.md", *DOCS, ROOT / "benchmarks" / "README.md"]:
        for target in LINK.findall(document.read_text()):
            if target.startswith(("http://", "https://", "mailto:")):
                continue
            file, _, anchor = target.partition("#")
            linked = (document.parent / file).resolve() if file else document
            assert linked.exists(), f"{document.name}: {target}"
            if anchor and linked.suffix == ".md":
                assert anchor in heading_anchors(linked), f"{document.name}: {target}"


def test_the_rules_reference_is_what_the_catalog_generates() -> None:
    text = reference.DOC.read_text()
    assert reference.generated_part(text) == reference.reference(Config()), (
        "run `python -m scanner.rules.reference --write`"
    )


def test_the_metrics_reference_lists_what_a_scrape_serves(engine: Engine) -> None:
    config = Config()
    scan_demo(engine, config)
    registry = CollectorRegistry(auto_describe=False)
    state = WorkerState(ScanLock(engine), next_run=lambda: datetime.now(UTC))  # as scheduled
    registry.register(StoreCollector(engine, config, state))
    registry.register(OutboxCollector(engine))
    # With feed.subscription, and its backlog read from Cloud Monitoring.
    registry.register(FeedCollector(engine, FeedStatus(backlog=Backlog(120.0, 3))))
    suffix = {"counter": "_total", "info": "_info"}
    served = {
        family.name + suffix.get(family.type, "")
        for family in text_string_to_metric_families(generate_latest(registry).decode())
    }
    documented = set()
    for line in (ROOT / "docs" / "metrics.md").read_text().splitlines():
        if line.startswith("| `keysentry_"):
            documented |= set(re.findall(r"`(keysentry_[a-z_]+)`", line.split(" | ")[0]))
    assert documented == served
