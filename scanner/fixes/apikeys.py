"""The one module that changes keys: GetKey, and UpdateKey of `restrictions`
only, through the API Keys API over gRPC (google-cloud-api-keys), waiting on
the long-running operation UpdateKey starts. The etag read goes with the
update, so a key someone changed in between is refused by the API (AIP-154:
ABORTED) rather than overwritten. Restrictions travel as their protobuf JSON
(`apiTargets`, `browserKeyRestrictions`, ...), whole, as a rollback needs them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from google.api_core import exceptions as gexc
from google.cloud import api_keys_v2
from google.protobuf import json_format

from scanner.calls.google_errors import default_credentials, transient_retry
from scanner.core.errors import SourceError
from scanner.core.models import KeyState
from scanner.fixes.apply import FixRefused, KeyChanged

NEEDS = "apikeys.keys.get and apikeys.keys.update (roles/serviceusage.apiKeysAdmin)"
_RestrictionsPb = type(api_keys_v2.Restrictions.pb(api_keys_v2.Restrictions()))


def make_client() -> api_keys_v2.ApiKeysClient:
    """A client with Application Default Credentials."""
    credentials = default_credentials("fix: API Keys", "cloud-platform")
    return api_keys_v2.ApiKeysClient(credentials=credentials)


def _state(key: api_keys_v2.Key) -> KeyState:
    pb = api_keys_v2.Key.pb(key)
    restrictions = json_format.MessageToDict(pb.restrictions) if pb.HasField("restrictions") else {}
    return KeyState(pb.name, pb.etag, restrictions)


class KeyUpdater:
    def __init__(
        self,
        client: api_keys_v2.ApiKeysClient,
        timeout_seconds: float = 60.0,
        retry_deadline_seconds: float = 120.0,
    ) -> None:
        self._client = client
        self._timeout = timeout_seconds
        self._retry = transient_retry(retry_deadline_seconds)

    def get(self, name: str) -> KeyState:
        with _errors(f"GetKey {name}"):
            return _state(self._client.get_key(name=name, retry=self._retry, timeout=self._timeout))

    def set_restrictions(self, name: str, restrictions: dict[str, Any], etag: str) -> KeyState:
        """Replace NAME's restrictions, if its etag is still ETAG; the key after."""
        try:
            message = json_format.ParseDict(restrictions, _RestrictionsPb())
        except json_format.ParseError as exc:
            raise SourceError(f"UpdateKey {name}: restrictions not understood: {exc}") from None
        key = api_keys_v2.Key(name=name, etag=etag)
        api_keys_v2.Key.pb(key).restrictions.CopyFrom(message)
        request = api_keys_v2.UpdateKeyRequest(key=key, update_mask={"paths": ["restrictions"]})
        with _errors(f"UpdateKey {name}"):
            operation = self._client.update_key(
                request=request, retry=self._retry, timeout=self._timeout
            )
            return _state(operation.result(timeout=self._timeout))  # type: ignore[no-untyped-call]


@contextmanager
def _errors(where: str) -> Iterator[None]:
    """API errors as KeyChanged, FixRefused or a SourceError naming the call."""
    try:
        yield
    except (gexc.Aborted, gexc.FailedPrecondition) as exc:
        raise KeyChanged(f"{where}: the key changed meanwhile ({exc.message})") from None
    except gexc.NotFound as exc:
        raise KeyChanged(f"{where}: the key no longer exists ({exc.message})") from None
    except (gexc.PermissionDenied, gexc.Unauthenticated) as exc:
        raise FixRefused(f"{where}: refused ({exc.message}); needs {NEEDS}") from None
    except gexc.RetryError as exc:
        cause = exc.cause.message if isinstance(exc.cause, gexc.GoogleAPICallError) else exc
        raise SourceError(f"{where}: gave up after retries: {cause}") from None
    except gexc.GoogleAPICallError as exc:
        raise SourceError(f"{where}: {exc.code} {exc.message}") from None
    except (TimeoutError, gexc.GoogleAPIError) as exc:
        raise SourceError(f"{where}: {exc}") from None
