"""Types the configuration models share: strict models, durations, scopes
and database URLs."""

from __future__ import annotations

import math
import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(value: object) -> object:
    """'6h', '1h30m', '90s', '2d' or a number of seconds -> seconds."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        if not math.isfinite(value):
            raise ValueError(f"not a duration: {value!r} (a finite number of seconds)")
        return float(value)
    if not isinstance(value, str):
        return value  # pydantic reports the wrong type
    text = value.strip()
    parts = _DURATION_PART.findall(text)
    if not text or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"not a duration: {value!r} (use e.g. 90s, 30m, 6h, 1d, 1h30m)")
    return sum(float(n) * _UNIT_SECONDS[u] for n, u in parts)


YEAR = 366 * 86400.0
# Every duration the configuration takes is at most a year: anything longer
# is a typo that would overflow a date or never come.
Duration = Annotated[float, BeforeValidator(parse_duration), Field(ge=0, le=YEAR)]

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def check_env_name(value: str) -> str:
    """VALUE, when it can name an environment variable (one holding a secret)."""
    if not _ENV_NAME.fullmatch(value):
        raise ValueError(f"not an environment variable name: {value!r}")
    return value


EnvName = Annotated[str, AfterValidator(check_env_name)]


class Strict(BaseModel):
    """Unknown keys are errors; values do not change once loaded."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


# What Cloud Asset Inventory accepts as a scope; nothing else reaches it.
_SCOPE = re.compile(r"organizations/\d+|folders/\d+|projects/[a-z0-9][a-z0-9:.-]{4,62}")


def scope_problem(scope: str) -> str | None:
    if _SCOPE.fullmatch(scope):
        return None
    return f"scope {scope!r}: expected organizations/NUMBER, folders/NUMBER or projects/ID"


def database_url_problem(url: str) -> str | None:
    """Why URL is not a database keysentry opens (SQLite or PostgreSQL), or None."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        backend = make_url(url).get_backend_name()
    except ArgumentError:
        return "not a database URL (e.g. sqlite:///keysentry.db, postgresql://user@host/db)"
    if backend not in ("sqlite", "postgresql", "postgres"):
        return f"{backend}: keysentry keeps history in SQLite or PostgreSQL"
    return None
