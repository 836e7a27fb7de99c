"""Google credentials and API errors as one line a user can act on: which
call, what failed, and for a refusal, the role the caller needs."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from google.api_core import exceptions as gexc
from google.api_core import retry as gretry

from scanner.core.errors import SourceError


def default_credentials(where: str, scope: str, quota_project: str | None = None) -> Any:
    """Application Default Credentials for SCOPE, or a SourceError saying how to get them."""
    import google.auth
    from google.auth import exceptions as auth_exceptions

    try:
        credentials, _ = google.auth.default(
            scopes=[f"https://www.googleapis.com/auth/{scope}"], quota_project_id=quota_project
        )
    except auth_exceptions.DefaultCredentialsError as exc:
        prefix = f"{where}: " if where else ""
        raise SourceError(
            f"{prefix}no Google credentials: {str(exc).rstrip('.')}. Run `gcloud auth "
            "application-default login` or set GOOGLE_APPLICATION_CREDENTIALS."
        ) from None
    return credentials


TRANSIENT = (gexc.ServiceUnavailable, gexc.DeadlineExceeded, gexc.ResourceExhausted)


def transient_retry(deadline_seconds: float) -> gretry.Retry:
    """Retries of TRANSIENT errors, backing off from 1 s to 20 s, for DEADLINE_SECONDS."""
    return gretry.Retry(
        predicate=gretry.if_exception_type(*TRANSIENT),
        initial=1.0,
        maximum=20.0,
        timeout=deadline_seconds,
    )


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
