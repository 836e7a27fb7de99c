"""Answers LookupKey's question offline, from a file of fingerprints already
resolved (`keysentry leaks import --lookups-from`): for air-gapped runs and
the demo. The file maps each HMAC fingerprint, under the same
KEYSENTRY_FINGERPRINT_KEY, to a key name, or to null for "not ours":

    {"fingerprints": {"<64 hex>": "projects/123/locations/global/keys/abc", ...}}
"""

from __future__ import annotations

import re
from pathlib import Path

from scanner.core.errors import InputError
from scanner.core.secrets import Fingerprinter
from scanner.inputs.jsontext import read_document
from scanner.leaks.lookup import Lookup, Outcome

_HEX = re.compile(r"[0-9a-f]{64}")
_KEY_NAME = re.compile(r"projects/[^/]+/locations/[^/]+/keys/[^/]+")


class KnownFingerprints:
    def __init__(self, path: Path, fingerprinter: Fingerprinter) -> None:
        self.description = f"fingerprints from {path}"
        self._fingerprinter = fingerprinter
        self._names = _load(path)

    def lookup(self, key_string: str) -> Lookup:
        fingerprint = self._fingerprinter.of(key_string)
        name = self._names.get(fingerprint)
        if name is None:
            return Lookup(Outcome.NOT_FOUND)
        return Lookup(Outcome.MATCHED, key_name=name)


def _load(path: Path) -> dict[str, str | None]:
    # A fingerprint and a key name per key: a million keys take about 200 MiB.
    raw = read_document(path, "not a JSON fingerprints file: ", limit=256 << 20)
    table = raw.get("fingerprints") if isinstance(raw, dict) else None
    if not isinstance(table, dict):
        raise InputError(f"{path}: fingerprints: expected an object of fingerprint -> key name")
    for fingerprint, name in table.items():
        if not _HEX.fullmatch(fingerprint):
            raise InputError(f"{path}: fingerprints: {fingerprint[:16]!r}…: not 64 hex digits")
        if name is not None and not (isinstance(name, str) and _KEY_NAME.fullmatch(name)):
            raise InputError(f"{path}: fingerprints.{fingerprint[:12]}…: not a key name")
    return table
