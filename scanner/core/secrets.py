"""What a Google key string looks like, and the only two things keysentry keeps
of one: a keyed fingerprint and a redacted form.

Standard keys are `AIza` and 35 URL-safe characters (39 in all). Auth keys
(bound to a service account) and Vertex AI express-mode keys are `AQ.` and 50
(53 in all; the ones seen in public material start `AQ.Ab8RN6`). A string
with either prefix and another length is not a key: a scanner's rule that
matched too much or too little, or a placeholder."""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from dataclasses import dataclass

from scanner.core.errors import ConfigError

FINGERPRINT_KEY_ENV = "KEYSENTRY_FINGERPRINT_KEY"
MIN_FINGERPRINT_KEY_BYTES = 16

GOOGLE_PREFIXES = ("AIza", "AQ.")
STANDARD = re.compile(r"AIza[0-9A-Za-z_-]{35}")
AUTH = re.compile(r"AQ\.[0-9A-Za-z_-]{50}")
_LOOSE = re.compile(r"AIza[0-9A-Za-z_-]{8,}|AQ\.[0-9A-Za-z_-]{8,}")


def kind_of(text: str) -> str | None:
    """'standard' or 'auth' when TEXT is exactly one Google key string."""
    if STANDARD.fullmatch(text):
        return "standard"
    if AUTH.fullmatch(text):
        return "auth"
    return None


def wrong_length(text: str) -> bool:
    """Whether TEXT has a key's prefix and alphabet but not its length."""
    return kind_of(text) is None and _LOOSE.fullmatch(text) is not None


def redact(secret: str) -> str:
    """The prefix and the last 4 characters: enough to recognize, useless to use."""
    prefix = "AIza" if secret.startswith("AIza") else secret[:3]
    return f"{prefix}…{secret[-4:]}"


def scrub(text: str) -> str:
    """TEXT with anything shaped like a key string (even a partial one) redacted,
    for evidence fields and messages that come from outside."""
    return _LOOSE.sub(lambda m: redact(m.group(0)), text)


@dataclass(frozen=True, slots=True)
class Fingerprinter:
    """HMAC-SHA256 of a key string under the operator's secret. Without the
    secret a fingerprint cannot be tested against guesses, so fingerprints
    can be stored and compared but never turned back into keys."""

    secret: bytes

    @classmethod
    def from_environment(cls, environ: dict[str, str] | None = None) -> Fingerprinter:
        value = (os.environ if environ is None else environ).get(FINGERPRINT_KEY_ENV, "")
        if not value:
            raise ConfigError(
                f"{FINGERPRINT_KEY_ENV} is not set: leak commands need a secret to "
                "fingerprint key strings with (e.g. `openssl rand -hex 32`)"
            )
        secret = value.encode()
        if len(secret) < MIN_FINGERPRINT_KEY_BYTES:
            raise ConfigError(
                f"{FINGERPRINT_KEY_ENV} is too short: use at least "
                f"{MIN_FINGERPRINT_KEY_BYTES} bytes (e.g. `openssl rand -hex 32`)"
            )
        return cls(secret)

    def of(self, key_string: str) -> str:
        return hmac.new(self.secret, key_string.encode(), hashlib.sha256).hexdigest()

    @property
    def key_id(self) -> str:
        """Names the secret without revealing it: fingerprints made under
        different secrets must never be compared."""
        return hmac.new(self.secret, b"keysentry fingerprint key id", hashlib.sha256).hexdigest()[
            :16
        ]

    def __repr__(self) -> str:
        return f"Fingerprinter(key_id={self.key_id})"
