"""Google API errors as one line a user can act on: which call, what failed,
and for a refusal, the role the caller needs."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from google.api_core import exceptions as gexc

from scanner.errors import SourceError

TRANSIENT = (gexc.ServiceUnavailable, gexc.DeadlineExceeded, gexc.ResourceExhausted)


@contextmanager
def google_errors(where: str, needs: str, retry_seconds: float) -> Iterator[None]:
    try:
        yield
    except gexc.PermissionDenied as exc:
        raise SourceError(f"{where}: permission denied ({exc.message}); needs {needs}") from None
    except gexc.RetryError as exc:
        cause = exc.cause.message if isinstance(exc.cause, gexc.GoogleAPICallError) else exc
        raise SourceError(
            f"{where}: gave up after {retry_seconds:g}s of retries: {cause}"
        ) from None
    except gexc.GoogleAPICallError as exc:
        raise SourceError(f"{where}: {exc.code} {exc.message}") from None
