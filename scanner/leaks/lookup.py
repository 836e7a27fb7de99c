"""The one module that talks to the API Keys API: LookupKey says which key a
key string is (needs apikeys.keys.lookup on the key's project). What else can
answer the same question offline is in leaks.known."""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from google.api_core import exceptions as gexc
from google.cloud import api_keys_v2

from scanner.calls.google_errors import default_credentials, transient_retry
from scanner.core.errors import SourceError
from scanner.core.secrets import scrub

PERMISSION = "apikeys.keys.lookup"


class Outcome(enum.StrEnum):
    MATCHED = "matched"  # a key of a project keysentry can see
    NOT_FOUND = "not_found"  # no such key: another organization's, or deleted long ago
    PURGED = "purged"  # the key existed in PARENT and has been purged
    DENIED = "denied"  # the key's project refused apikeys.keys.lookup


@dataclass(frozen=True, slots=True)
class Lookup:
    outcome: Outcome
    key_name: str | None = None  # projects/<number or id>/locations/global/keys/<uid>
    parent: str | None = None

    @property
    def cacheable(self) -> bool:
        """A refusal may be lifted by an IAM change: ask again next time."""
        return self.outcome is not Outcome.DENIED


class KeyLookup(Protocol):
    description: str

    def lookup(self, key_string: str) -> Lookup: ...


def make_client() -> api_keys_v2.ApiKeysClient:
    """A client with Application Default Credentials."""
    credentials = default_credentials("leaks: LookupKey", "cloud-platform.read-only")
    return api_keys_v2.ApiKeysClient(credentials=credentials)


class ApiKeysLookup:
    description = "API Keys LookupKey"

    def __init__(
        self,
        client: Callable[[], api_keys_v2.ApiKeysClient],
        timeout_seconds: float = 30.0,
        retry_deadline_seconds: float = 120.0,
    ) -> None:
        # Made on first use: an import answered from the cache needs no credentials.
        self._make_client = client
        self._client: api_keys_v2.ApiKeysClient | None = None
        self._timeout = timeout_seconds
        self._deadline = retry_deadline_seconds
        self._retry = transient_retry(retry_deadline_seconds)

    def lookup(self, key_string: str) -> Lookup:
        if self._client is None:
            self._client = self._make_client()
        request = api_keys_v2.LookupKeyRequest(key_string=key_string)
        try:
            response = self._client.lookup_key(
                request=request, retry=self._retry, timeout=self._timeout
            )
        except gexc.NotFound:
            return Lookup(Outcome.NOT_FOUND)
        except gexc.PermissionDenied:
            return Lookup(Outcome.DENIED)
        except gexc.RetryError as exc:
            cause = exc.cause.message if isinstance(exc.cause, gexc.GoogleAPICallError) else ""
            raise SourceError(
                f"leaks: LookupKey gave up after {self._deadline:g}s of retries: {scrub(cause)}"
            ) from None
        except gexc.GoogleAPICallError as exc:
            # Messages come from outside: scrub them, they may echo the request.
            raise SourceError(f"leaks: LookupKey failed: {exc.code} {scrub(exc.message)}") from None
        finally:
            del request
        if not response.name:
            return Lookup(Outcome.PURGED, parent=response.parent or None)
        return Lookup(Outcome.MATCHED, key_name=response.name, parent=response.parent or None)
