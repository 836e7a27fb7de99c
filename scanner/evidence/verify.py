"""Checks an evidence pack as its recipient would: every file the manifest
lists is there with its size and SHA-256, no file was added, and the
manifest's DSSE signature holds for the signer's public key."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from securesystemslib.dsse import Envelope
from securesystemslib.exceptions import VerificationError

from scanner.core.errors import InputError
from scanner.evidence.digest import file_sha256
from scanner.evidence.signing import (
    ENVELOPE_FILE,
    MANIFEST_FILE,
    PAYLOAD_TYPE,
    PUBLIC_KEY_FILE,
    public_key_from_pem,
)


@dataclass
class PackCheck:
    lines: list[str] = field(default_factory=list)
    problems: int = 0

    @property
    def ok(self) -> bool:
        return self.problems == 0

    def problem(self, text: str) -> None:
        self.problems += 1
        self.lines.append(f"MISMATCH {text}")


def _inside(name: str) -> bool:
    path = PurePosixPath(name)
    return bool(name) and not path.is_absolute() and ".." not in path.parts


def _files(folder: Path, manifest: dict[str, Any], check: PackCheck) -> None:
    listed = {str(f.get("path")): f for f in manifest.get("files") or []}
    for name, entry in sorted(listed.items()):
        path = folder / name
        if not _inside(name):
            check.problem(f"{name}: the manifest names a file outside the pack")
        elif not path.is_file():
            check.problem(f"{name}: listed in the manifest, missing")
        elif path.stat().st_size != entry.get("bytes"):
            check.problem(
                f"{name}: {path.stat().st_size} bytes, the manifest says {entry.get('bytes')}"
            )
        elif file_sha256(path) != entry.get("sha256"):
            check.problem(f"{name}: its SHA-256 differs from the manifest's")
    present = {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}
    for name in sorted(present - set(listed) - {MANIFEST_FILE, ENVELOPE_FILE}):
        check.problem(f"{name}: not in the manifest (added after the pack was written)")
    if check.ok:
        check.lines.append(f"ok: {len(listed)} files match {MANIFEST_FILE}")


def _signature(folder: Path, raw: bytes, public_key: Path | None, check: PackCheck) -> None:
    envelope_path = folder / ENVELOPE_FILE
    if not envelope_path.is_file():
        if public_key is not None:
            check.problem(f"{ENVELOPE_FILE}: missing: the pack is not signed")
        else:
            check.lines.append("not signed: the files match the manifest, which nobody vouches for")
        return
    if public_key is not None:
        try:
            pem = public_key.read_bytes()
        except OSError as exc:
            raise InputError(f"--public-key {public_key}: {exc.strerror or exc}") from None
        key = public_key_from_pem(pem, f"--public-key {public_key}")
    elif (folder / PUBLIC_KEY_FILE).is_file():
        key = public_key_from_pem((folder / PUBLIC_KEY_FILE).read_bytes(), PUBLIC_KEY_FILE)
    else:
        check.problem(f"{PUBLIC_KEY_FILE}: missing, and no --public-key given")
        return
    try:
        envelope = Envelope.from_dict(json.loads(envelope_path.read_bytes()))
    except (ValueError, KeyError, TypeError) as exc:
        check.problem(f"{ENVELOPE_FILE}: not a DSSE envelope ({exc})")
        return
    if envelope.payload != raw or envelope.payload_type != PAYLOAD_TYPE:
        check.problem(f"{ENVELOPE_FILE}: signs another manifest than {MANIFEST_FILE}")
        return
    try:
        envelope.verify([key], 1)
    except VerificationError:
        check.problem(f"{ENVELOPE_FILE}: no valid signature by key {key.keyid}")
        return
    whose = (
        ""
        if public_key is not None
        else (f" (the key in {PUBLIC_KEY_FILE}: give --public-key to check who signed)")
    )
    check.lines.append(f"signature valid: Ed25519 key {key.keyid}{whose}")


def verify_pack(folder: Path, public_key: Path | None) -> PackCheck:
    if not folder.is_dir():
        raise InputError(f"{folder}: no such folder")
    manifest_path = folder / MANIFEST_FILE
    if not manifest_path.is_file():
        raise InputError(f"{folder}: no {MANIFEST_FILE}: not an evidence pack")
    check = PackCheck()
    raw = manifest_path.read_bytes()
    try:
        manifest = json.loads(raw)
    except ValueError:
        check.problem(f"{MANIFEST_FILE}: not JSON")
        return check
    if not isinstance(manifest, dict):
        check.problem(f"{MANIFEST_FILE}: not a manifest")
        return check
    _files(folder, manifest, check)
    _signature(folder, raw, public_key, check)
    return check
