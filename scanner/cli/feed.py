"""`keysentry feed`: Cloud Asset real-time feeds, which tell the worker of
a changed key within seconds (scanner.feed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from pydantic import ValidationError

from scanner.cli.common import common_options, handle_errors, open_store
from scanner.cli.instants import parse_now
from scanner.configfile import load_config
from scanner.core.errors import ConfigError, StoreError


@click.group("feed")
def feed_group() -> None:
    """Near-real-time changes from a Cloud Asset feed over Pub/Sub."""


@feed_group.command("replay")
@common_options
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--now", help="Evaluate as of this instant (ISO 8601); default: now.")
@handle_errors
def replay_command(
    config_path: str | None, db_url: str | None, file: Path, now: str | None
) -> None:
    """Apply saved feed messages (JSON lines of their data) to the history."""
    from scanner.alerts.plan.planner import FEED_STAGES, scan_hook
    from scanner.feed.apply import apply_changes
    from scanner.feed.replay import read_messages
    from scanner.store.lock import ScanLock

    config = load_config(config_path)
    at = parse_now(now)
    changes, others = read_messages(file)
    engine = open_store(config, db_url, create=False)
    plan = scan_hook(config.alerts, stages=FEED_STAGES) if config.alerts.enabled else None
    with ScanLock(engine).for_scan() as held:
        if not held:
            raise StoreError("another scan is running against this database; try again later")
        outcome = apply_changes(engine, config, changes, at, f"feed replay {file.name}", plan)
    counts = outcome.outcomes + others
    told = ", ".join(f"{n} {what}" for what, n in sorted(counts.items()) if n) or "none"
    where = f"scan {outcome.scan_id}" if outcome.scan_id is not None else "nothing written"
    click.echo(f"feed: {sum(counts.values())} message(s): {told}; {where}")
    if outcome.stats is not None:
        queued = sum(outcome.stats.alerts.get("queued", {}).values())
        if queued:
            click.echo(f"{queued} notification(s) queued: `keysentry alerts dispatch` sends them")


def _parent(org: str | None, folder: str | None, project: str | None) -> str:
    given = [f"organizations/{org}" if org else None, f"folders/{folder}" if folder else None,
             f"projects/{project}" if project else None]  # fmt: skip
    chosen = [p for p in given if p]
    if len(chosen) != 1:
        raise ConfigError("give one of --org, --folder, --project: where the feed watches keys")
    return chosen[0]


def _scope_flag(parent: str) -> str:
    kind, value = parent.split("/", 1)
    flag = {"organizations": "--org", "folders": "--folder", "projects": "--project"}[kind]
    return f"{flag} {value}"


def _topic(topic: str | None, config_topic: str | None) -> str:
    from scanner.config.feed import FeedConfig

    chosen = topic or config_topic
    if chosen is None:
        raise ConfigError("--topic (or feed.topic): the Pub/Sub topic the feed publishes to")
    try:
        FeedConfig(topic=chosen)
    except ValidationError:
        raise ConfigError(
            f"--topic: expected projects/PROJECT/topics/NAME, got {chosen!r}"
        ) from None
    return chosen


scope_options = [
    click.option("--org", help="Watch the keys of this organization (its number)."),
    click.option("--folder", help="Watch the keys of this folder (its number)."),
    click.option("--project", help="Watch the keys of this project (its id or number)."),
    click.option("--topic", help="projects/P/topics/T (default: feed.topic)."),
]


def with_scope(command: Any) -> Any:
    for option in reversed(scope_options):
        command = option(command)
    return command


@feed_group.command("setup")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help="Config file.")
@with_scope
@click.option("--yes", is_flag=True, help="Create or update the feeds; without it, only say so.")
@handle_errors
def setup_command(
    config_path: str | None,
    org: str | None,
    folder: str | None,
    project: str | None,
    topic: str | None,
    yes: bool,
) -> None:
    """Create the Cloud Asset feeds keysentry reads, or bring them to what it needs."""
    from scanner.feed.setup import apply, plan, wanted_feeds
    from scanner.sources.inventory.asset import make_client

    config = load_config(config_path)
    feeds = wanted_feeds(_parent(org, folder, project), config.feed.feed_id,
                         _topic(topic, config.feed.topic))  # fmt: skip
    client = make_client(config.inventory)
    steps = plan(client, feeds)
    for step in steps:
        click.echo(step.line())
    if all(step.action == "ok" for step in steps):
        return
    if not yes:
        click.echo("Nothing changed: run again with --yes to apply.")
        return
    apply(client, steps)
    click.echo("Done. `keysentry feed check` says what else the feeds need.")


@feed_group.command("check")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help="Config file.")
@with_scope
@click.option("--subscription", help="projects/P/subscriptions/S (default: feed.subscription).")
@click.option(
    "--service-agent-project",
    help="The project number whose Cloud Asset service agent publishes the feed's messages.",
)
@handle_errors
def check_command(
    config_path: str | None,
    org: str | None,
    folder: str | None,
    project: str | None,
    topic: str | None,
    subscription: str | None,
    service_agent_project: str | None,
) -> None:
    """Say what the feeds still need (the feeds, the topic, permissions), with the fix."""
    from scanner.feed.check import Problem, check_subscription, check_topic
    from scanner.feed.clients import make_publisher, make_subscriber
    from scanner.feed.setup import plan, service_agent, wanted_feeds
    from scanner.sources.inventory.asset import make_client

    config = load_config(config_path)
    chosen_topic = _topic(topic, config.feed.topic)
    parent = _parent(org, folder, project)
    steps = plan(make_client(config.inventory), wanted_feeds(parent, config.feed.feed_id,
                                                             chosen_topic))  # fmt: skip
    setup = f"keysentry feed setup {_scope_flag(parent)} --topic {chosen_topic} --yes"
    problems = [Problem(step.problem(), setup) for step in steps if step.action != "ok"]
    agent = service_agent(service_agent_project) if service_agent_project else None
    problems += check_topic(make_publisher(), chosen_topic, agent)
    chosen_subscription = subscription or config.feed.subscription
    if chosen_subscription is not None:
        problems += check_subscription(make_subscriber(), chosen_subscription, chosen_topic)
    for step in steps:
        if step.action == "ok":
            click.echo(step.line())
    if agent is None:
        click.echo("Not checked: who may publish to the topic (give --service-agent-project).")
    if not problems:
        click.echo("The feeds have what they need.")
        return
    for problem in problems:
        click.echo(f"missing: {problem.what}\n  fix: {problem.fix}")
    raise ConfigError(f"feed check: {len(problems)} thing(s) missing")
