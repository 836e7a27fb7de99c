"""The Cloud Asset feeds keysentry needs, kept by `keysentry feed setup` and
looked at by `feed check` (google-cloud-asset: GetFeed, CreateFeed,
UpdateFeed; the Feed resource of google/cloud/asset/v1/asset_service.proto).

Two feeds, one per content type, to one topic: FEED_ID (RESOURCE) of the
keys and of the projects, services, service accounts and custom roles the
rules read; FEED_ID-iam (IAM_POLICY) of the organization's, folders' and
projects' IAM policies. Each key created, changed or deleted arrives within
seconds, and so does each change that judges keys differently (a Gemini
service enabled, an owner removed, a bound service account disabled)."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from typing import Any

from google.api_core import exceptions as gexc

from scanner.calls.google_errors import google_errors, transient_retry
from scanner.sources.inventory.iam import POLICY_TYPES, ROLE_TYPE, SERVICE_ACCOUNT_TYPE
from scanner.sources.inventory.normalize import KEY_TYPE, PROJECT_TYPE, SERVICE_TYPE

RESOURCE = "RESOURCE"
IAM_POLICY = "IAM_POLICY"
RESOURCE_TYPES = (KEY_TYPE, PROJECT_TYPE, SERVICE_TYPE, SERVICE_ACCOUNT_TYPE, ROLE_TYPE)
NEEDS = (
    "cloudasset.feeds.get, cloudasset.feeds.create and cloudasset.feeds.update on the parent "
    "(roles/cloudasset.owner)"
)
RETRY_SECONDS = 60.0  # of UNAVAILABLE, DEADLINE_EXCEEDED and RESOURCE_EXHAUSTED answers


@dataclass(frozen=True)
class Wanted:
    name: str  # PARENT/feeds/ID
    asset_types: tuple[str, ...]
    content_type: str
    topic: str

    @property
    def parent(self) -> str:
        return self.name.split("/feeds/", 1)[0]

    @property
    def feed_id(self) -> str:
        return self.name.split("/feeds/", 1)[1]


@dataclass(frozen=True)
class Step:
    """What setup does to one feed: create, update (the fields), or nothing."""

    wanted: Wanted
    action: str  # create | update | ok
    fields: tuple[str, ...] = ()

    def problem(self) -> str:
        """What `feed check` says of a feed setup would change."""
        if self.action == "create":
            return f"feed {self.wanted.name} does not exist"
        return f"feed {self.wanted.name} differs in {', '.join(self.fields)}"

    def line(self) -> str:
        if self.action == "ok":
            return f"{self.wanted.name}: as wanted"
        if self.action == "create":
            wanted = self.wanted
            types = textwrap.fill(
                "asset types: " + ", ".join(wanted.asset_types),
                width=80,
                initial_indent="  ",
                subsequent_indent="    ",
                break_on_hyphens=False,
            )
            return (
                f"{wanted.name}: create\n  content type {wanted.content_type}, "
                f"to {wanted.topic}\n{types}"
            )
        return f"{self.wanted.name}: update {', '.join(self.fields)}"


def wanted_feeds(parent: str, feed_id: str, topic: str) -> list[Wanted]:
    return [
        Wanted(f"{parent}/feeds/{feed_id}", RESOURCE_TYPES, RESOURCE, topic),
        Wanted(f"{parent}/feeds/{feed_id}-iam", POLICY_TYPES, IAM_POLICY, topic),
    ]


def plan(client: Any, feeds: list[Wanted]) -> list[Step]:
    """Each feed compared with what Cloud Asset holds."""
    steps = []
    for wanted in feeds:
        with google_errors(f"GetFeed {wanted.name}", NEEDS, RETRY_SECONDS):
            try:
                held = client.get_feed(name=wanted.name, retry=transient_retry(RETRY_SECONDS))
            except gexc.NotFound:
                steps.append(Step(wanted, "create"))
                continue
        differ = []
        if sorted(held.asset_types) != sorted(wanted.asset_types):
            differ.append("asset_types")
        if held.content_type.name != wanted.content_type:
            differ.append("content_type")
        if held.feed_output_config.pubsub_destination.topic != wanted.topic:
            differ.append("feed_output_config")
        steps.append(Step(wanted, "update" if differ else "ok", tuple(differ)))
    return steps


def _feed(wanted: Wanted) -> Any:
    from google.cloud import asset_v1

    return asset_v1.Feed(
        name=wanted.name,
        asset_types=list(wanted.asset_types),
        content_type=getattr(asset_v1.ContentType, wanted.content_type),
        feed_output_config=asset_v1.FeedOutputConfig(
            pubsub_destination=asset_v1.PubsubDestination(topic=wanted.topic)
        ),
    )


def apply(client: Any, steps: list[Step]) -> None:
    from google.protobuf import field_mask_pb2

    for step in steps:
        feed = _feed(step.wanted)
        wanted, retry = step.wanted, transient_retry(RETRY_SECONDS)
        if step.action == "create":
            request = {"parent": wanted.parent, "feed_id": wanted.feed_id, "feed": feed}
            with google_errors(f"CreateFeed {wanted.name}", NEEDS, RETRY_SECONDS):
                client.create_feed(request=request, retry=retry)
        elif step.action == "update":
            mask = field_mask_pb2.FieldMask(paths=list(step.fields))
            with google_errors(f"UpdateFeed {wanted.name}", NEEDS, RETRY_SECONDS):
                client.update_feed(request={"feed": feed, "update_mask": mask}, retry=retry)


def service_agent(project_number: str) -> str:
    """The Cloud Asset service agent of a project: it publishes the feed's
    messages, and needs roles/pubsub.publisher on the topic."""
    return f"service-{project_number}@gcp-sa-cloudasset.iam.gserviceaccount.com"
