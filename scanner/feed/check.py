"""What `keysentry feed check` looks at beside the feeds: the topic the feed
publishes to, that the Cloud Asset service agent may publish to it, the
subscription the worker pulls and that the caller may pull from it; each
problem with the command that fixes it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from google.api_core import exceptions as gexc

from scanner.calls.google_errors import google_errors, transient_retry
from scanner.feed.setup import RETRY_SECONDS

PUBLISHER = "roles/pubsub.publisher"
NEEDS = "roles/pubsub.viewer on the topic and the subscription"
CONSUME = "pubsub.subscriptions.consume"


@dataclass(frozen=True)
class Problem:
    what: str
    fix: str  # a command, as printed


def _split(name: str, kind: str) -> tuple[str, str]:
    """(project, short name) of projects/P/KIND/NAME."""
    parts = name.split("/")
    return parts[1], parts[3] if len(parts) > 3 and parts[2] == kind else name


def _call(what: str, method: Any, **request: Any) -> Any:
    """METHOD's answer to REQUEST, or None when what it asks for does not exist."""
    with google_errors(what, NEEDS, RETRY_SECONDS):
        try:
            return method(**request, retry=transient_retry(RETRY_SECONDS))
        except gexc.NotFound:
            return None


def check_topic(publisher: Any, topic: str, agent: str | None) -> list[Problem]:
    project, short = _split(topic, "topics")
    found = _call(f"GetTopic {topic}", publisher.get_topic, topic=topic)
    if found is None:
        fix = f"gcloud pubsub topics create {short} --project={project}"
        return [Problem(f"topic {topic} does not exist", fix)]
    if agent is None:
        return []
    policy = _call(f"GetIamPolicy {topic}", publisher.get_iam_policy, request={"resource": topic})
    member = f"serviceAccount:{agent}"
    bound = policy is not None and any(
        b.role == PUBLISHER and member in b.members for b in policy.bindings
    )
    if bound:
        return []
    return [
        Problem(
            f"{agent} (the Cloud Asset service agent) may not publish to {topic}",
            f"gcloud pubsub topics add-iam-policy-binding {short} --project={project} "
            f"--member={member} --role={PUBLISHER}",
        )
    ]


def check_subscription(subscriber: Any, subscription: str, topic: str | None) -> list[Problem]:
    project, short = _split(subscription, "subscriptions")
    found = _call(
        f"GetSubscription {subscription}",
        subscriber.get_subscription,
        subscription=subscription,
    )
    if found is None:
        where = f" --topic={topic}" if topic else " --topic=TOPIC"
        fix = f"gcloud pubsub subscriptions create {short} --project={project}{where}"
        return [Problem(f"subscription {subscription} does not exist", f"{fix} --ack-deadline=60")]
    problems = []
    if topic is not None and found.topic != topic:
        create = f"gcloud pubsub subscriptions create {short} --project={project} --topic={topic}"
        problems.append(
            Problem(
                f"subscription {subscription} is of {found.topic}, not {topic}",
                f"gcloud pubsub subscriptions delete {short} --project={project} --quiet && "
                f"{create} --ack-deadline=60",
            )
        )
    granted = _call(
        f"TestIamPermissions {subscription}",
        subscriber.test_iam_permissions,
        request={"resource": subscription, "permissions": [CONSUME]},
    )
    if granted is None or CONSUME not in granted.permissions:
        problems.append(
            Problem(
                f"the caller may not pull from {subscription} ({CONSUME})",
                f"gcloud pubsub subscriptions add-iam-policy-binding {short} "
                f"--project={project} --member=serviceAccount:WORKER_SERVICE_ACCOUNT "
                "--role=roles/pubsub.subscriber",
            )
        )
    return problems
