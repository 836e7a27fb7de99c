"""A key as its source listed it, decoded only when a scan must judge it.

A source that can digest what it listed gives `raw_digest`: a scan whose key
version holds the same digest may keep that version's judgement without
decoding the key (scanner.scan.reuse). A source that cannot hands over the
record itself (ListedKey.of)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from google.protobuf import struct_pb2

from scanner.core.models import KeyRecord


class ListedKey:
    """NAME as the resource states it (None where it does not, or not as a
    string: such a key is decoded, and any error raised then); RAW_DIGEST, a
    digest of the resource as listed, or None; UID_OF reads the uid without
    decoding the key (the usage sources match series by it)."""

    __slots__ = ("_decode", "_record", "_uid_of", "name", "raw_digest")

    def __init__(
        self,
        name: str | None,
        raw_digest: bytes | None,
        decode: Callable[[], KeyRecord] | None = None,
        record: KeyRecord | None = None,
        uid_of: Callable[[], str | None] | None = None,
    ) -> None:
        self.name = name
        self.raw_digest = raw_digest
        self._record = record
        self._decode = decode
        self._uid_of = uid_of

    @classmethod
    def of(cls, record: KeyRecord) -> ListedKey:
        """A key its source has already decoded (and gives no digest of)."""
        return cls(record.name, None, record=record)

    @property
    def uid(self) -> str | None:
        """The uid as normalize_key reads it."""
        if self._record is not None:
            return self._record.uid
        if self._uid_of is None or self.name is None:
            return None
        return self._uid_of() or self.name.rsplit("/", 1)[-1]

    def record(self) -> KeyRecord:
        """The key, normalized; raises the source's error on bad data."""
        if self._record is None:
            assert self._decode is not None
            self._record = self._decode()
        return self._record


def _text(fields: Any, name: str) -> str | None:
    value = fields.get(name)
    if value is None or value.WhichOneof("kind") != "string_value":
        return None
    return str(value.string_value)


def listed_from_struct(data: struct_pb2.Struct, decode: Callable[[], KeyRecord]) -> ListedKey:
    """A key listed as a Cloud Asset resource's data. The bytes are serialized
    deterministically (map entries in key order), so equal data digests the
    same; a protobuf runtime that serialized differently would only make every
    key's digest move once, and each key be judged again."""
    fields = data.fields
    raw = hashlib.blake2b(data.SerializeToString(deterministic=True), digest_size=16).digest()
    return ListedKey(
        _text(fields, "name") or None, raw, decode, uid_of=lambda: _text(fields, "uid")
    )


def listed_from_json(
    data: dict[str, Any], raw: bytes, decode: Callable[[], KeyRecord]
) -> ListedKey:
    """A key listed as JSON (an export's line or array item): RAW, the bytes
    it was read from (a line), or its data in a fixed order (an item), stand
    for it. A key whose listing moved while its record did not gets a new
    version once; a digest of the whole line also moves with what keysentry
    does not read of it, which only costs that key a judgement."""
    name = data.get("name")
    uid = data.get("uid")
    return ListedKey(
        name if isinstance(name, str) and name else None,
        hashlib.blake2b(raw, digest_size=16).digest(),
        decode,
        uid_of=lambda: uid if isinstance(uid, str) and uid else None,
    )
