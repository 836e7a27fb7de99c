"""A live scan reads each asset's resource data (a protobuf Struct) with
scanner.sources.inventory.struct instead of json_format.MessageToDict: it must give
the same dicts, for the recorded real shapes (tests/data/real, see its
README) and for every kind a Struct value can hold."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from google.protobuf import json_format, struct_pb2

from scanner.inputs.fields import AssetDataError
from scanner.sources.inventory.struct import struct_to_dict

REAL = Path(__file__).parent / "data" / "real"


def as_struct(data: dict[str, object]) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    struct.update(data)
    return struct


def real_resources() -> list[dict[str, object]]:
    listed = json.loads((REAL / "asset-list-resource.json").read_text())
    exported = [
        json.loads(line) for line in (REAL / "asset-export-keys.jsonl").read_text().splitlines()
    ]
    return [a["resource"]["data"] for a in listed + exported if "resource" in a]


def test_real_resources_read_as_message_to_dict_reads_them() -> None:
    resources = real_resources()
    assert len(resources) >= 10
    for data in resources:
        struct = as_struct(data)
        assert struct_to_dict(struct) == json_format.MessageToDict(struct)


def test_every_kind_of_value() -> None:
    struct = as_struct(
        {
            "text": "é\u2028",
            "whole": 3,
            "fraction": 0.5,
            "flag": False,
            "nothing": None,
            "empty": {},
            "nested": {"list": [1, "a", None, True, {"deep": []}, [[]]]},
        }
    )
    struct.fields["unset"].Clear()  # a Value with no kind set reads as null
    converted = struct_to_dict(struct)
    assert converted == json_format.MessageToDict(struct)
    assert type(converted["whole"]) is float  # as MessageToDict gives number values


@pytest.mark.parametrize("number", [math.inf, -math.inf, math.nan])
def test_a_number_json_cannot_hold_is_an_asset_error(number: float) -> None:
    struct = as_struct({"restrictions": {"odd": number}})
    with pytest.raises(AssetDataError, match="not finite"):
        struct_to_dict(struct)
    with pytest.raises(ValueError):
        json_format.MessageToDict(struct)  # what the scan used to raise, uncaught
