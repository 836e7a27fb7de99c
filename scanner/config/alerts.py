"""The `alerts:` section of the configuration: the route tree, receivers and
their channels, owners, reminders, SMTP and delivery settings."""

from __future__ import annotations

import re
import zoneinfo
from functools import cached_property
from typing import Literal

from pydantic import Field, field_validator, model_validator

from scanner.config.types import Duration, Strict, check_env_name
from scanner.core.addresses import is_address
from scanner.core.models import KeyStatus, KeyType, Severity


def _check_email(value: str) -> str:
    if not is_address(value):
        raise ValueError(f"not an email address: {value!r}")
    return value


def check_zone(value: str) -> str:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"not a time zone: {value!r} (an IANA name: Europe/Paris)") from None
    return value


def _check_env_name(value: str | None) -> str | None:
    return None if value is None else check_env_name(value)


class SmtpConfig(Strict):
    host: str = "localhost"
    port: int | None = Field(default=None, ge=1, le=65535)  # default: by security
    security: Literal["starttls", "tls", "none"] = "starttls"
    username: str | None = None
    password_env: str | None = None  # the variable holding the password
    ca_file: str | None = None  # trust this CA instead of the system's
    sender: str = "keysentry@localhost"
    timeout: Duration = 30.0
    # For digests' List-Unsubscribe header: a mailto: or https: address.
    list_unsubscribe: str | None = None

    @field_validator("password_env")
    @classmethod
    def _env_name(cls, value: str | None) -> str | None:
        return _check_env_name(value)

    @field_validator("sender")
    @classmethod
    def _sender(cls, value: str) -> str:
        return _check_email(value)

    @property
    def effective_port(self) -> int:
        return self.port or {"starttls": 587, "tls": 465, "none": 25}[self.security]


class EmailChannelConfig(Strict):
    to: list[str] = Field(default_factory=list)
    to_owners: bool = False  # the owners of each key's project

    @field_validator("to")
    @classmethod
    def _addresses(cls, value: list[str]) -> list[str]:
        return [_check_email(a) for a in value]

    @model_validator(mode="after")
    def _someone(self) -> EmailChannelConfig:
        if not self.to and not self.to_owners:
            raise ValueError("give `to` addresses or `to_owners: true`")
        return self


class WebhookConfig(Strict):
    name: str = Field(min_length=1, max_length=64)
    url: str
    format: Literal["generic", "slack", "google_chat", "msteams", "ocsf"] = "generic"
    secret_env: str | None = None  # the variable holding the HMAC secret
    timeout: Duration = 10.0

    @field_validator("secret_env")
    @classmethod
    def _env_name(cls, value: str | None) -> str | None:
        return _check_env_name(value)

    @field_validator("url")
    @classmethod
    def _http(cls, value: str) -> str:
        if not re.match(r"^https?://[^\s/]+", value):
            raise ValueError(f"not an http(s) URL: {value!r}")
        return value


class DigestConfig(Strict):
    every: Duration = 86400.0
    # Transitions at or above this severity are also sent at once; null: never.
    bypass_severity: Severity | None = Severity.CRITICAL
    max_keys: int = Field(default=200, ge=1, le=5000)


class ReceiverConfig(Strict):
    name: str = Field(min_length=1, max_length=128)
    email: EmailChannelConfig | None = None
    webhooks: list[WebhookConfig] = Field(default_factory=list)
    digest: DigestConfig | None = None  # null: one batch message per scan
    timezone: str | None = None  # its recipients' zone for dates; default alerts.timezone

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        return None if value is None else check_zone(value)

    @model_validator(mode="after")
    def _a_channel(self) -> ReceiverConfig:
        if self.email is None and not self.webhooks:
            raise ValueError("a receiver needs `email` or `webhooks`")
        names = [w.name for w in self.webhooks]
        if len(names) != len(set(names)):
            raise ValueError("webhook names must be unique within a receiver")
        return self


class Matchers(Strict):
    """All given fields must match; within a field, any listed value."""

    rule: list[str] = Field(default_factory=list)
    severity: list[Severity] = Field(default_factory=list)
    status: list[KeyStatus] = Field(default_factory=list)
    project: list[str] = Field(default_factory=list)  # globs: "prod-*"
    key_type: list[KeyType] = Field(default_factory=list)


class RouteConfig(Strict):
    receiver: str | None = None  # inherited from the parent when absent
    match: Matchers = Field(default_factory=Matchers)
    continue_: bool = Field(default=False, alias="continue")
    routes: list[RouteConfig] = Field(default_factory=list)


class RemindersConfig(Strict):
    offsets_days: list[int] = Field(default_factory=lambda: [30, 14, 7, 3, 1, 0])
    # The first overdue reminder comes this long after the deadline; each gap
    # after it doubles, up to max_overdue (then it repeats every max_overdue).
    overdue_every: Duration = 7 * 86400.0
    max_overdue: Duration = 56 * 86400.0

    @model_validator(mode="after")
    def _cap(self) -> RemindersConfig:
        if self.overdue_every > 0 and self.max_overdue < self.overdue_every:
            raise ValueError("max_overdue: must be at least overdue_every")
        return self

    @field_validator("offsets_days")
    @classmethod
    def _not_negative(cls, value: list[int]) -> list[int]:
        if any(not 0 <= v <= 3650 for v in value):
            raise ValueError("offsets are days before the deadline: 0 to 3650")
        return sorted(set(value), reverse=True)


LEASE_MARGIN = 4


class DispatchConfig(Strict):
    every: Duration = 30.0
    max_attempts: int = Field(default=8, ge=1, le=100)
    backoff_initial: Duration = 30.0
    backoff_max: Duration = 3600.0
    batch: int = Field(default=100, ge=1, le=10000)
    lease: Duration = 300.0  # how long a dispatcher owns a notification it is sending


def _check_url(value: str | None) -> str | None:
    if value is not None and not re.match(r"^https?://[^\s/]+", value):
        raise ValueError(f"not an http(s) URL: {value!r}")
    return value


class LinksConfig(Strict):
    """Pages every message points to, when given."""

    team: str | None = None  # the security team's page
    exceptions: str | None = None  # how to ask for an exception
    runbook: str | None = None  # how to fix keys, the organization's way
    report: str | None = None  # where the full list of keys is (a dashboard)

    @field_validator("team", "exceptions", "runbook", "report")
    @classmethod
    def _urls(cls, value: str | None) -> str | None:
        return _check_url(value)


class OverflowConfig(Strict):
    """A message over its channel's limit is split into parts, up to
    max_parts; what is left is counted ("and N more") with links.report."""

    max_parts: int = Field(default=5, ge=1, le=100)


class AlertsConfig(Strict):
    route: RouteConfig | None = None
    receivers: list[ReceiverConfig] = Field(default_factory=list)
    owners: dict[str, list[str]] = Field(default_factory=dict)  # project glob -> emails
    fallback_receiver: str | None = None  # keys with no resolvable owner
    reminders: RemindersConfig = Field(default_factory=RemindersConfig)
    smtp: SmtpConfig = Field(default_factory=SmtpConfig)
    dispatch: DispatchConfig = Field(default_factory=DispatchConfig)
    console_url: str = "https://console.cloud.google.com"
    aistudio_url: str = "https://aistudio.google.com/app/apikey"
    timezone: str = "UTC"  # dates in messages are this zone's
    links: LinksConfig = Field(default_factory=LinksConfig)
    contact: str | None = None  # whom owners write to with questions
    overflow: OverflowConfig = Field(default_factory=OverflowConfig)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return check_zone(value)

    @field_validator("contact")
    @classmethod
    def _contact(cls, value: str | None) -> str | None:
        return None if value is None else _check_email(value)

    @field_validator("owners")
    @classmethod
    def _owner_addresses(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        return {glob: [_check_email(a) for a in to] for glob, to in value.items()}

    @property
    def enabled(self) -> bool:
        return self.route is not None

    @cached_property
    def _receivers_by_name(self) -> dict[str, ReceiverConfig]:
        # Planning asks for a receiver per finding routed: a dict, not a scan of the list.
        return {r.name: r for r in self.receivers}

    def receiver(self, name: str) -> ReceiverConfig:
        return self._receivers_by_name[name]

    def zone(self, receiver: str) -> str:
        """The time zone of RECEIVER's messages."""
        own = next((r.timezone for r in self.receivers if r.name == receiver), None)
        return own or self.timezone

    @model_validator(mode="after")
    def _consistent(self) -> AlertsConfig:
        names = [r.name for r in self.receivers]
        if len(names) != len(set(names)):
            raise ValueError("receivers: names must be unique")
        if self.route is None:
            if self.receivers:
                raise ValueError("receivers are configured but no `route` sends to them")
            return self
        if self.route.receiver is None:
            raise ValueError("route: the top route needs a `receiver` (the default)")
        for path, receiver in _route_receivers(self.route, "route"):
            if receiver not in names:
                raise ValueError(f"{path}.receiver: no receiver named {receiver!r}")
        if self.fallback_receiver is not None and self.fallback_receiver not in names:
            raise ValueError(f"fallback_receiver: no receiver named {self.fallback_receiver!r}")
        # A claim covers one send: a send that outlived it could be repeated by
        # another dispatcher. A channel's timeout bounds its whole exchange
        # (scanner.calls.deadline); the margin covers rendering and recording.
        timeouts = [w.timeout for r in self.receivers for w in r.webhooks]
        if any(r.email is not None for r in self.receivers):
            timeouts.append(self.smtp.timeout)
        longest = max(timeouts, default=0.0)
        if self.dispatch.lease < LEASE_MARGIN * longest:
            raise ValueError(
                f"dispatch.lease: {self.dispatch.lease:g}s is less than {LEASE_MARGIN} times the "
                f"longest channel timeout ({longest:g}s): a send could outlive its claim"
            )
        return self


def _route_receivers(route: RouteConfig, path: str) -> list[tuple[str, str]]:
    found = [(path, route.receiver)] if route.receiver is not None else []
    for index, child in enumerate(route.routes):
        found.extend(_route_receivers(child, f"{path}.routes[{index}]"))
    return found
