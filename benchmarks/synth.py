"""Synthetic organizations: N keys over P projects with a realistic mix,
deterministic from a seed, as Cloud Asset envelopes (the export format).

Mix of keys: 40% unrestricted standard, 30% standard restricted to Gemini, 15% auth
keys, 10% standard restricted to other services, 5% deleted. Application
restrictions: 30% none, 20% browser, 30% server, 10% android, 10% ios. Created
over the six years before the reference date. Gemini is enabled in half the
projects; every project has a few other services too.

`python -m benchmarks.synth --keys 100000 --projects 5000 -o org.jsonl[.gz]`
writes the export file."""

from __future__ import annotations

import argparse
import gzip
import json
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

from tests.assets import iam_policy

REFERENCE = datetime(2026, 11, 21, tzinfo=UTC)
ORG = "organizations/700000000001"
GEMINI = "generativelanguage.googleapis.com"
OTHER_SERVICES = (
    "maps-backend.googleapis.com",
    "translate.googleapis.com",
    "youtube.googleapis.com",
    "places-backend.googleapis.com",
)
FOLDERS = 20
SHA1 = "DA:39:A3:EE:5E:6B:4B:0D:32:55:BF:EF:95:60:18:90:AF:D8:07:09"


def project_number(index: int) -> str:
    return str(400000000000 + index)


def _ancestors(index: int) -> list[str]:
    return [f"projects/{project_number(index)}", f"folders/{800000000 + index % FOLDERS}", ORG]


def _project(index: int) -> dict[str, Any]:
    number = project_number(index)
    return {
        "name": f"//cloudresourcemanager.googleapis.com/projects/{number}",
        "asset_type": "cloudresourcemanager.googleapis.com/Project",
        "resource": {
            "version": "v1",
            "discovery_name": "Project",
            "data": {
                "projectNumber": number,
                "projectId": f"synth-project-{index}",
                "lifecycleState": "ACTIVE",
                "name": f"Synthetic project {index}",
                "createTime": "2020-01-01T00:00:00Z",
            },
        },
        "ancestors": _ancestors(index),
    }


def _service(index: int, service: str) -> dict[str, Any]:
    number = project_number(index)
    return {
        "name": f"//serviceusage.googleapis.com/projects/{number}/services/{service}",
        "asset_type": "serviceusage.googleapis.com/Service",
        "resource": {
            "version": "v1",
            "discovery_name": "Service",
            "data": {
                "name": f"projects/{number}/services/{service}",
                "parent": f"projects/{number}",
                "state": "ENABLED",
            },
        },
        "ancestors": _ancestors(index),
    }


def _app_restriction(rng: random.Random, index: int) -> dict[str, Any]:
    roll = rng.random()
    if roll < 0.30:
        return {}
    if roll < 0.50:
        referrer = "*" if rng.random() < 0.05 else f"https://app{index}.example.com/*"
        return {"browserKeyRestrictions": {"allowedReferrers": [referrer]}}
    if roll < 0.80:
        ip = "0.0.0.0/0" if rng.random() < 0.05 else f"192.0.2.{index % 256}/32"
        return {"serverKeyRestrictions": {"allowedIps": [ip]}}
    if roll < 0.90:
        return {
            "androidKeyRestrictions": {
                "allowedApplications": [
                    {
                        "packageName": f"com.example.app{index}",
                        "sha1Fingerprint": SHA1,
                    }
                ]
            }
        }
    return {"iosKeyRestrictions": {"allowedBundleIds": [f"com.example.app{index}"]}}


def _key(rng: random.Random, index: int, projects: int, changed: bool) -> dict[str, Any]:
    project = rng.randrange(projects)
    number = project_number(project)
    uid = f"{index:08x}-5e17-4000-8000-{index:012x}"
    created = REFERENCE - timedelta(seconds=rng.randrange(6 * 365 * 86400))
    restrictions = _app_restriction(rng, index)
    data: dict[str, Any] = {
        "name": f"projects/{number}/locations/global/keys/{uid}",
        "uid": uid,
        "displayName": f"synthetic key {index}",
        "createTime": created.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "updateTime": created.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "etag": f'W/"{index:x}"',
    }
    kind = rng.random()
    if kind < 0.40:
        pass  # unrestricted standard
    elif kind < 0.70:
        restrictions["apiTargets"] = [{"service": GEMINI}]
    elif kind < 0.85:
        restrictions["apiTargets"] = [{"service": GEMINI}]
        data["serviceAccountEmail"] = (
            f"caller-{index}@synth-project-{project}.iam.gserviceaccount.com"
        )
    elif kind < 0.95:
        restrictions["apiTargets"] = [{"service": rng.choice(OTHER_SERVICES)}]
    else:
        data["deleteTime"] = (created + timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    if changed:
        # Half are renamed; half are restricted to Gemini from a server (findings change).
        if index % 2:
            data["displayName"] += " (renamed)"
        else:
            restrictions = {
                "apiTargets": [{"service": GEMINI}],
                "serverKeyRestrictions": {"allowedIps": ["198.51.100.1/32"]},
            }
        data["updateTime"] = REFERENCE.strftime("%Y-%m-%dT%H:%M:%SZ")
    data["restrictions"] = restrictions
    return {
        "name": f"//apikeys.googleapis.com/{data['name']}",
        "asset_type": "apikeys.googleapis.com/Key",
        "resource": {"version": "v2", "discovery_name": "Key", "data": data},
        "ancestors": _ancestors(project),
    }


def organization(
    keys: int,
    projects: int,
    seed: int = 1,
    changed_fraction: float = 0.0,
    changed_slices: int = 1,
    iam: bool = False,
) -> Iterator[dict[str, Any]]:
    """Projects, their services, then keys. CHANGED_FRACTION of the keys (every
    1/fraction-th) differ from the seed's baseline, for changed-scan runs;
    CHANGED_SLICES such fractions (keys whose index modulo 1/fraction is below
    it), so that scan N of a series can change one more fraction than scan N-1.
    IAM: with the organization's IAM policy and an owner on each project."""
    rng = random.Random(seed)
    if iam:
        yield iam_policy(ORG, {"roles/viewer": ["group:security@example.com"]}, ORG)
    for index in range(projects):
        yield _project(index)
        if iam:
            owner = f"user:owner-{index}@example.com"
            policy = {"roles/owner": [owner]}
            yield iam_policy(f"projects/{project_number(index)}", policy, ORG)
        if index % 2 == 0:
            yield _service(index, GEMINI)
        for service in rng.sample(OTHER_SERVICES, 2):
            yield _service(index, service)
    step = round(1 / changed_fraction) if changed_fraction else 0
    key_rng = random.Random(seed + 1)
    for index in range(keys):
        yield _key(key_rng, index, projects, changed=bool(step) and index % step < changed_slices)


def write_export(path: Path, envelopes: Iterator[dict[str, Any]]) -> int:
    opener: Any = gzip.open if path.suffix == ".gz" else open
    count = 0
    handle: IO[str]
    with opener(path, "wt", encoding="utf-8") as handle:
        for envelope in envelopes:
            handle.write(json.dumps(envelope, separators=(",", ":")) + "\n")
            count += 1
    return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keys", type=int, default=100_000)
    parser.add_argument("--projects", type=int, default=5_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--changed-fraction", type=float, default=0.0)
    parser.add_argument("-o", "--output", type=Path, required=True)
    args = parser.parse_args()
    count = write_export(
        args.output, organization(args.keys, args.projects, args.seed, args.changed_fraction)
    )
    print(json.dumps({"assets": count, "output": str(args.output)}))


if __name__ == "__main__":
    main()
