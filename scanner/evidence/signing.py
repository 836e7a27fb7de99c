"""The pack's signature: its manifest in a DSSE envelope signed with Ed25519
(the in-toto ecosystem's form, made by securesystemslib). The manifest holds
every file's SHA-256, so the signature covers the whole pack. Keys are PEM
files as `openssl genpkey -algorithm ed25519` writes them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from securesystemslib.dsse import Envelope
from securesystemslib.signer import CryptoSigner, SSlibKey

from scanner.core.errors import InputError

MANIFEST_FILE = "MANIFEST.json"
ENVELOPE_FILE = "MANIFEST.dsse.json"
PUBLIC_KEY_FILE = "signing-key.pub.pem"
PAYLOAD_TYPE = "application/vnd.keysentry.evidence-manifest+json"


def _read(path: Path, option: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InputError(f"{option} {path}: {exc.strerror or exc}") from None


@dataclass(frozen=True)
class ManifestSigner:
    signer: CryptoSigner
    public: Ed25519PublicKey

    @classmethod
    def from_pem(cls, path: Path) -> ManifestSigner:
        try:
            key = serialization.load_pem_private_key(_read(path, "--sign-key"), password=None)
        except (ValueError, TypeError) as exc:
            # TypeError: the key is encrypted; the pack is signed unattended.
            raise InputError(
                f"--sign-key {path}: not an unencrypted PEM private key ({exc})"
            ) from None
        if not isinstance(key, Ed25519PrivateKey):
            raise InputError(
                f"--sign-key {path}: not an Ed25519 key (openssl genpkey -algorithm ed25519)"
            )
        return cls(CryptoSigner(key), key.public_key())

    @property
    def keyid(self) -> str:
        return str(self.signer.public_key.keyid)

    @property
    def public_pem(self) -> str:
        return self.public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode()

    def sign(self, manifest: bytes) -> dict[str, Any]:
        envelope = Envelope(manifest, PAYLOAD_TYPE, {})
        envelope.sign(self.signer)
        document: dict[str, Any] = envelope.to_dict()
        return document


def public_key_from_pem(data: bytes, where: str) -> SSlibKey:
    try:
        key = serialization.load_pem_public_key(data)
    except ValueError as exc:
        raise InputError(f"{where}: not a PEM public key ({exc})") from None
    if not isinstance(key, Ed25519PublicKey):
        raise InputError(f"{where}: not an Ed25519 public key")
    return SSlibKey.from_crypto(key)
