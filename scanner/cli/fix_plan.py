"""`keysentry fix plan`: the API restrictions observed usage supports, as a
table or JSON, and as a plan file that `fix apply` takes."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any, TextIO

import click
import orjson
from sqlalchemy import Engine

from scanner.cli.common import common_options, handle_errors, open_store, write_output
from scanner.config import Config
from scanner.configfile import load_config
from scanner.core.errors import InputError
from scanner.fixes.plan import RESTRICTION_RULES, PlanScope, build_plan
from scanner.inputs.fields import service_name
from scanner.report.rows import write_table_rows
from scanner.store.queries import get_scan, latest_succeeded_scan

COLUMNS = ("key", "project", "action", "confidence", "change", "evidence")


def _short(service: str) -> str:
    return service.removesuffix(".googleapis.com")


def _targets(services: list[str]) -> str:
    return ", ".join(_short(t) for t in services) if services else "any API"


def _evidence(e: dict[str, Any]) -> str:
    """What usage said, by response class: 1,209 requests all 4xx is not use."""
    evidence = e["evidence"]
    if evidence is None:
        return str(e["why"])
    called = "; ".join(
        f"{_short(s['service'])} {s['requests']:,} ("
        + ", ".join(f"{c} {n:,}" for c, n in sorted((s.get("by_class") or {}).items()))
        + ")"
        for s in evidence["services"]
    )
    span = f"{evidence['covered_days']} of {evidence['lookback_days']} days"
    return f"{called or 'no request'} in {span}"


def plan_rows(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One table row a key, by its display name (with its id where two share
    a name): what it has and what it would get, the evidence by response class
    and the confidence with its reason."""
    names = Counter(e.get("display_name") for e in entries)
    rows = []
    for e in entries:
        key_id = e["key"].rsplit("/", 1)[-1]
        name = e.get("display_name") or ""
        if not name or names[name] > 1:
            name = f"{name} ({key_id})" if name else key_id
        change = ""
        if e["action"] == "restrict":
            change = f"{_targets(e['current_api_targets'])} → {_targets(e['proposed_api_targets'])}"
        elif e["action"] == "split":
            change = f"{_targets(e['current_api_targets'])} → one key per caller"
        rows.append(
            {
                "key": name,
                "project": e["project"],
                "action": e["action"],
                "confidence": f"{e['confidence']}: {e['confidence_reason']}",
                "change": change,
                "evidence": _evidence(e),
            }
        )
    return rows


# A terminal shows the first keys of a large plan, what can be applied first;
# JSON and the plan file hold them all.
TABLE_ROWS = 200
_ACTION_ORDER = {"restrict": 0, "split": 1, "review-deletion": 2, "none": 3}


def write_plan_table(plan: dict[str, Any], out: TextIO) -> None:
    counts = ", ".join(f"{action} {n}" for action, n in plan["counts"].items()) or "nothing"
    title = f"fix plan from scan {plan['scan']}: {counts}"
    entries = sorted(plan["keys"], key=lambda e: _ACTION_ORDER.get(e["action"], 9))
    write_table_rows(
        plan_rows(entries[:TABLE_ROWS]),
        COLUMNS,
        out,
        title=title,
        prose=("confidence", "change", "evidence"),
    )
    if len(entries) > TABLE_ROWS:
        out.write(
            f"The first {TABLE_ROWS} of {len(entries)} keys; all of them with --format json "
            "or --output FILE.\n"
        )


def write_plan_json(plan: dict[str, Any], out: TextIO) -> None:
    # orjson, straight from the plan: the standard encoder and a JSON-ready copy
    # of a 100,000-key plan cost more memory than the plan itself.
    out.write(orjson.dumps(plan, option=orjson.OPT_INDENT_2 | orjson.OPT_UTC_Z).decode() + "\n")


def plan_of(
    engine: Engine, config: Config, scan: Any, scope: PlanScope | None = None
) -> dict[str, Any]:
    """The plan from SCAN, for every API-restriction rule unless SCOPE narrows it."""
    gemini = frozenset(service_name(s) for s in config.gemini.api_services)
    with engine.connect() as conn:
        return build_plan(
            conn, scan, scope or PlanScope(), gemini, datetime.now(UTC), config.rules.dormancy_days
        )


@click.command("plan")
@common_options
@click.option("--scan", "scan_id", type=int, help="Plan from this scan instead of the latest.")
@click.option(
    "--rule",
    "rules",
    multiple=True,
    help=f"Only keys with this finding (repeatable; default: {', '.join(RESTRICTION_RULES)}).",
)
@click.option("--project", "projects", multiple=True, help="Only this project (id or number).")
@click.option("--key", "keys", multiple=True, help="Only this key (name, uid or key id).")
@click.option(
    "--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True
)
@click.option(
    "--output",
    type=click.Path(dir_okay=False),
    help="Also write the plan as JSON to this file (whole, or not at all), for `fix apply`.",
)
@handle_errors
def fix_plan(
    config_path: str | None,
    db_url: str | None,
    scan_id: int | None,
    rules: tuple[str, ...],
    projects: tuple[str, ...],
    keys: tuple[str, ...],
    fmt: str,
    output: str | None,
) -> None:
    """Propose API restrictions from each key's usage (nothing is changed)."""
    for rule in rules:
        if rule not in RESTRICTION_RULES:
            known = ", ".join(RESTRICTION_RULES)
            raise InputError(f"--rule {rule}: not an API-restriction rule (one of {known})")
    config = load_config(config_path)
    engine = open_store(config, db_url, create=False)
    scan = get_scan(engine, scan_id) if scan_id is not None else latest_succeeded_scan(engine)
    if scan is None or scan.status != "succeeded":
        raise InputError("no successful scan to plan from: run `keysentry scan` first")
    scope = PlanScope(rules or RESTRICTION_RULES, frozenset(projects), frozenset(keys))
    plan = plan_of(engine, config, scan, scope)
    if output is not None:
        write_output(lambda out: write_plan_json(plan, out), output, "plan")
    if fmt == "json":
        write_output(lambda out: write_plan_json(plan, out), None, "plan")
    else:
        write_output(lambda out: write_plan_table(plan, out), None, "plan")
