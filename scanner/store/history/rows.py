"""What the history writer stores of a key, a finding and a key's usage, and
the digests that tell whether they changed since the last scan."""

from __future__ import annotations

import hashlib
import operator
from collections.abc import Sequence
from typing import Any

from scanner.core.models import Finding, KeyAssessment, KeyRecord, KeyUsage, ServiceUse

_RULE_ID = operator.attrgetter("rule_id")


def fingerprint(rule_id: str, subject: str) -> str:
    """Stable identity of a finding across scans: the rule and what it is about."""
    return hashlib.sha256(f"{rule_id}\x00{subject}".encode()).hexdigest()[:32]


def _digest(values: tuple[Any, ...]) -> str:
    """A digest of str, int, float, bool, None, date, datetime and tuple values
    (and frozen dataclasses of them), whose repr is stable. Changing what goes
    in makes every row look changed once."""
    return hashlib.blake2b(repr(values).encode(), digest_size=16).hexdigest()


def key_digest(key: KeyRecord) -> str:
    """The key as the inventory and the other sources describe it, without the
    verdict: a change here is a change to the key (status and score are
    compared on their own). Its leak reports count only when it has some, so
    that the digests of keys without any stay what they were."""
    values: tuple[Any, ...] = (
        "record",
        key.name,
        key.uid,
        key.project_number,
        key.project_id,
        key.display_name,
        key.created,
        key.updated,
        key.deleted,
        key.key_type._value_,
        key.service_account,
        key.api_targets,
        key.application_restriction._value_,
        key.application_values,
        key.annotations,
        key.gemini_enabled,
        key.owners,
        key.creator,
        key.key_admins,
        key.etag,
    )
    if key.leaks:
        values += (("leaks", key.leaks),)
    if key.api_methods:
        values += (("api_methods", key.api_methods),)
    if key.string_read:
        values += (("string_read", key.string_read),)
    return _digest(values)


def finding_digest(f: Finding) -> str:
    kind = f.deadline_kind.value if f.deadline_kind else None
    values: tuple[Any, ...] = (f.severity.value, f.summary, f.checklist, f.deadline, kind)
    values += (f.timeline_entry,)
    if f.accepted_by is not None:  # only then: findings nobody accepted keep their digests
        values += (("accepted_by", f.accepted_by),)
    return _digest(values)


def findings_digest(findings: Sequence[Finding]) -> str:
    """One digest over everything finding_digest covers of each of a key's
    findings, with what fingerprints them: equal digests mean the same
    fingerprints in the same states, so the scan has nothing to write."""
    if len(findings) > 1:
        findings = sorted(findings, key=_RULE_ID)
    # _value_ rather than .value: the same string, without the enum property
    # (this runs for every key of every scan).
    return _digest(
        tuple(
            (
                f.rule_id,
                f.subject,
                f.severity._value_,
                f.summary,
                f.checklist,
                f.deadline,
                f.deadline_kind._value_ if f.deadline_kind else None,
                f.timeline_entry,
                f.accepted_by,
            )
            for f in findings
        )
    )


def usage_digest(u: KeyUsage) -> str:
    return _digest(
        (
            u.last_used,
            u.lookback_days,
            u.requests_7d,
            u.requests_30d,
            u.gemini_requests_7d,
            u.gemini_rejected_7d,
            u.requests_1d,
            u.daily_median_28d,
            u.services,
            u.covered_days,
        )
    )


def services_document(services: tuple[ServiceUse, ...]) -> list[dict[str, Any]] | None:
    """A key's per-service usage as stored (JSON); None for none."""
    if not services:
        return None
    return [
        {
            "service": u.service,
            "requests": u.requests,
            "by_class": dict(u.by_class),
            "first_day": u.first_day.isoformat(),
            "last_day": u.last_day.isoformat(),
        }
        for u in services
    ]


def key_row(
    assessment: KeyAssessment, content_hash: str, findings_hash: str, source_hash: bytes | None
) -> dict[str, Any]:
    key = assessment.key
    return {
        "key_name": key.name,
        "uid": key.uid,
        "project_number": key.project_number,
        "project_id": key.project_id,
        "display_name": key.display_name,
        "created_at": key.created,
        "updated_at": key.updated,
        "deleted_at": key.deleted,
        "key_type": key.key_type.value,
        "service_account": key.service_account,
        "api_targets": list(key.api_targets),
        "api_methods": {s: list(m) for s, m in key.api_methods} or None,
        "application_restriction": key.application_restriction.value,
        "application_values": list(key.application_values),
        "annotations": dict(key.annotations),
        "gemini_enabled": key.gemini_enabled,
        "status": assessment.status.value,
        "score": assessment.score,
        "owners": list(key.owners),
        "creator": key.creator,
        "key_admins": list(key.key_admins),
        "content_hash": content_hash,
        "findings_hash": findings_hash,
        "etag": key.etag,
        "source_hash": source_hash and source_hash.hex(),
    }


def finding_row(f: Finding, fp: str, state_hash: str) -> dict[str, Any]:
    return {
        "fingerprint": fp,
        "rule_id": f.rule_id,
        "key_name": f.subject,
        "severity": f.severity.value,
        "summary": f.summary,
        "checklist": f.checklist,
        "deadline": f.deadline,
        "deadline_kind": f.deadline_kind.value if f.deadline_kind else None,
        "timeline_entry": f.timeline_entry,
        "accepted_by": f.accepted_by,
        "state_hash": state_hash,
    }


def usage_row(key_name: str, u: KeyUsage, content_hash: str) -> dict[str, Any]:
    return {
        "key_name": key_name,
        "content_hash": content_hash,
        "last_used": u.last_used,
        "lookback_days": u.lookback_days,
        "requests_7d": u.requests_7d,
        "requests_30d": u.requests_30d,
        "gemini_requests_7d": u.gemini_requests_7d,
        "gemini_rejected_7d": u.gemini_rejected_7d,
        "requests_1d": u.requests_1d,
        "daily_median_28d": u.daily_median_28d,
        "services": services_document(u.services),
        "covered_days": u.covered_days,
    }
