"""A keysentry finding as a Security Command Center v2 Finding of
keysentry's custom source (google/cloud/securitycenter/v2/finding.proto):

- name: SOURCE/locations/LOCATION/findings/FINGERPRINT, the finding's
  fingerprint (32 hexadecimal characters: SCC takes an id of 1 to 32
  alphanumerics), the same across scans, so a rerun updates, never adds;
- state ACTIVE while the finding is open, INACTIVE once resolved;
- category: the rule id; finding_class MISCONFIGURATION (a leaked key
  string, VULNERABILITY); severity from the rule's (info counts as LOW);
- resource_name: the key's full resource name (//apikeys.googleapis.com/...);
- event_time: when the finding last opened, so it moves only when that does;
- description the summary, next_steps the checklist, compliances the CIS
  controls the rule checks;
- source_properties: the due date and its kind, owners, checklist id,
  project, and for an accepted finding the exception's id, reason, expiry.
An accepted finding is published ACTIVE and muted (SetMute), its exception
in the properties: SCC's mute carries no reason of its own."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from google.cloud import securitycenter_v2

from scanner.report.open_findings import OpenFinding
from scanner.rules.checklists import CHECKLISTS
from scanner.rules.frameworks import CIS_GCP, controls_of

Finding = securitycenter_v2.Finding
_SEVERITY = {
    "critical": Finding.Severity.CRITICAL,
    "high": Finding.Severity.HIGH,
    "medium": Finding.Severity.MEDIUM,
    "low": Finding.Severity.LOW,
    "info": Finding.Severity.LOW,
}
LEAKED = "key-leaked"


@dataclass(frozen=True, slots=True)
class Publication:
    """One finding as it is to be published: the message, whether it is
    muted, and a digest of both (what a sync compares)."""

    fingerprint: str
    key_name: str
    finding: Any  # securitycenter_v2.Finding
    muted: bool
    digest: str

    @property
    def state(self) -> str:
        return str(Finding.State(self.finding.state).name)


def _checklist_text(checklist_id: str) -> str:
    found = CHECKLISTS.get(checklist_id)
    if found is None:
        return checklist_id
    return f"{found.title}: " + " ".join(found.steps)


def publication(parent: str, found: OpenFinding) -> Publication:
    key, f, uid = found.key, found.finding, found.uid
    properties: dict[str, Any] = {
        "project": key.project,
        "owners": ", ".join(key.owners),
        "checklist": f.checklist,
        "due": f.deadline.isoformat() if f.deadline else "",
        "due_kind": f.deadline_kind or "",
        "key_display_name": key.display_name,
    }
    accepted = f.accepted
    if accepted is not None:
        properties |= {
            "exception": accepted.id,
            "exception_reason": accepted.reason or "",
            "exception_expires": accepted.expires.isoformat() if accepted.expires else "",
        }
    controls = controls_of(CIS_GCP, f.rule)
    finding = Finding(
        name=f"{parent}/findings/{uid}",
        parent=parent,
        resource_name=f"//apikeys.googleapis.com/{key.name}",
        state=Finding.State.ACTIVE,
        category=f.rule,
        severity=_SEVERITY[f.severity.value],
        finding_class=(
            Finding.FindingClass.VULNERABILITY
            if f.rule == LEAKED
            else Finding.FindingClass.MISCONFIGURATION
        ),
        event_time=found.since,
        description=f.summary,
        next_steps=_checklist_text(f.checklist),
        source_properties=properties,
        compliances=(
            [
                securitycenter_v2.Compliance(
                    standard="cis", version="5.0.0", ids=[c.id for c in controls]
                )
            ]
            if controls
            else []
        ),
    )
    muted = accepted is not None
    return Publication(uid, key.name, finding, muted, _digest(finding, muted))


def resolved(parent: str, uid: str, key_name: str) -> Publication:
    """A finding no longer open: INACTIVE, unmuted."""
    finding = Finding(name=f"{parent}/findings/{uid}", state=Finding.State.INACTIVE)
    return Publication(uid, key_name, finding, False, _digest(finding, False))


def _digest(finding: Any, muted: bool) -> str:
    body = type(finding).pb(finding).SerializeToString(deterministic=True)
    return hashlib.blake2b(body + bytes([muted]), digest_size=16).hexdigest()
