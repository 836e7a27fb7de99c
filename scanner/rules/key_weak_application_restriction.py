"""An application restriction that admits everyone is no restriction."""

import functools
import ipaddress
import re

from scanner.core.models import AppRestriction, Finding, KeyRecord, Severity
from scanner.rules.base import RuleContext, RuleMeta, finding

META = RuleMeta(
    id="key-weak-application-restriction",
    title="Application restriction that admits everyone",
    severity=Severity.HIGH,
    rationale="Referrer wildcards such as '*', '*.*', '*/*' or a bare '*.com', referrers "
    "that are only this machine (localhost, 127.0.0.1, [::1], file://: any caller can "
    "send them), server ranges 0.0.0.0/0 or ::/0, and an Android app without its "
    "certificate's SHA-1 fingerprint let any caller use the key.",
    checklist="add-application-restriction",
    fires_when=(
        "referrer `*`, `*.*`, `*/*` or a bare `*.tld` host; referrers only `localhost`, "
        "`127.0.0.1`, `[::1]` or `file://`; server range `0.0.0.0/0` or `::/0`; an "
        "Android app without a SHA-1 fingerprint"
    ),
    references=("CIS Google Cloud Platform Foundation Benchmark v5, 1.14",),
)

_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*://", re.IGNORECASE)
_BARE_WILDCARD_HOST = re.compile(r"^\*(\.[^.]*)?$")  # '*', '*.', '*.*', '*.com'


# Organizations reuse the same few values across thousands of keys.
@functools.lru_cache(maxsize=4096)
def weak_referrer(referrer: str) -> bool:
    value = _SCHEME.sub("", referrer.strip())
    if value in {"*", "*.*", "*/*", "*.*/*"}:
        return True
    host = re.split(r"[/:]", value, maxsplit=1)[0]
    return bool(_BARE_WILDCARD_HOST.match(host))


_LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "[::1]", "::1"})


@functools.lru_cache(maxsize=4096)
def local_referrer(referrer: str) -> bool:
    """A page on this machine: a referrer any caller can claim for itself."""
    value = referrer.strip().lower()
    if value.startswith("file://"):
        return True
    value = _SCHEME.sub("", value)
    host = value[: value.index("]") + 1] if value.startswith("[") else re.split(r"[/:]", value)[0]
    return host in _LOCAL_HOSTS or host.endswith(".localhost")


@functools.lru_cache(maxsize=4096)
def weak_ip(value: str) -> bool:
    try:
        network = ipaddress.ip_network(value.strip(), strict=False)
    except ValueError:
        return False
    return network.prefixlen == 0


def evaluate(key: KeyRecord, ctx: RuleContext) -> Finding | None:
    values = key.application_values
    if key.application_restriction is AppRestriction.BROWSER:
        if values and all(local_referrer(v) for v in values):
            shown = ", ".join(sorted(values))
            return finding(
                META,
                key,
                ctx,
                f"Allowed referrers are only this machine, which any caller can claim: {shown}.",
            )
        weak = sorted(v for v in values if weak_referrer(v))
        kind = "referrer"
    elif key.application_restriction is AppRestriction.ANDROID:
        apps = sorted(v.rsplit(":", 1)[0] or "(no package)" for v in values if v.endswith(":"))
        if not apps:
            return None
        return finding(
            META,
            key,
            ctx,
            f"Android app without a SHA-1 fingerprint admits any app "
            f"of that name: {', '.join(apps)}.",
        )
    elif key.application_restriction is AppRestriction.SERVER:
        weak = sorted(v for v in values if weak_ip(v))
        kind = "IP range"
    else:
        return None
    if not weak:
        return None
    return finding(META, key, ctx, f"Allowed {kind} admits everyone: {', '.join(weak)}.")
