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
    rationale="Referrer wildcards such as '*', '*.*', '*/*' or a bare '*.com', and server "
    "ranges 0.0.0.0/0 or ::/0, let any caller use the key.",
    checklist="add-application-restriction",
    fires_when=(
        "referrer `*`, `*.*`, `*/*` or a bare `*.tld` host; server range `0.0.0.0/0` or `::/0`"
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


@functools.lru_cache(maxsize=4096)
def weak_ip(value: str) -> bool:
    try:
        network = ipaddress.ip_network(value.strip(), strict=False)
    except ValueError:
        return False
    return network.prefixlen == 0


def evaluate(key: KeyRecord, ctx: RuleContext) -> Finding | None:
    if key.application_restriction is AppRestriction.BROWSER:
        weak = sorted(v for v in key.application_values if weak_referrer(v))
        kind = "referrer"
    elif key.application_restriction is AppRestriction.SERVER:
        weak = sorted(v for v in key.application_values if weak_ip(v))
        kind = "IP range"
    else:
        return None
    if not weak:
        return None
    return finding(META, key, ctx, f"Allowed {kind} admits everyone: {', '.join(weak)}.")
