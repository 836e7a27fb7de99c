"""One email address, plainly: a mailbox and a domain, with nothing that a
mail library would read as a second recipient, a display name or a header
(commas, semicolons, angle brackets, quotes, blanks, line breaks). Addresses
that come from outside (IAM members, audit-log principals, labels) reach a
recipient list only through this check."""

from __future__ import annotations

import re

_ADDRESS = re.compile(r"[^@\s<>,;:\"'()\[\]\\]+@[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?")


def is_address(value: str) -> bool:
    return len(value) <= 320 and _ADDRESS.fullmatch(value) is not None
