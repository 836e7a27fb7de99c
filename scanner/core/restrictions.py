"""Two spellings of one restriction: an Android app's SHA-1 fingerprint is
accepted as `DA:39:A3:EE:...` or `DA39A3EE...` and output in the latter
(API Keys v2 reference, AndroidApplication.sha1Fingerprint). A restriction
read back from the API must compare equal to the one that was written."""

from __future__ import annotations

from typing import Any


def sha1_canonical(value: str) -> str:
    """The fingerprint as the API outputs it: hex digits, upper case, no colons."""
    return value.replace(":", "").strip().upper()


def canonical(restrictions: dict[str, Any] | None) -> dict[str, Any] | None:
    """RESTRICTIONS with every Android SHA-1 fingerprint in the output spelling."""
    if not restrictions or "androidKeyRestrictions" not in restrictions:
        return restrictions
    android = restrictions["androidKeyRestrictions"]
    apps = android.get("allowedApplications") if isinstance(android, dict) else None
    if not isinstance(apps, list):
        return restrictions
    same = [
        a | {"sha1Fingerprint": sha1_canonical(a["sha1Fingerprint"])}
        if isinstance(a, dict) and isinstance(a.get("sha1Fingerprint"), str)
        else a
        for a in apps
    ]
    return restrictions | {"androidKeyRestrictions": android | {"allowedApplications": same}}


def same(left: dict[str, Any] | None, right: dict[str, Any] | None) -> bool:
    return canonical(left) == canonical(right)
