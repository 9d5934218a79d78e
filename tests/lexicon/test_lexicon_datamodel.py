"""The ATProto data model in JSON form: interop vectors and our own edges."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from lexicons import LexiconValidationError
from lexicons.datamodel import MAX_DEPTH, bytes_length, check_data_model, is_cid_link

CID = "bafyreiclp443lavogvhj3d2ob2cxbfuscni2k5jk7bebjzg7khl3esabwq"


def _blob(**overrides: Any) -> dict[str, Any]:
    blob = {"$type": "blob", "ref": {"$link": CID}, "mimeType": "image/png", "size": 1}
    blob.update(overrides)
    return blob


def test_data_model_vector(data_model_vector) -> None:
    if data_model_vector.valid:
        check_data_model(data_model_vector.value)
    else:
        with pytest.raises(LexiconValidationError):
            check_data_model(data_model_vector.value)


def test_fixture_values_are_valid_and_their_cids_parse(interop_dir: Path) -> None:
    fixtures = json.loads((interop_dir / "data-model" / "data-model-fixtures.json").read_text())
    assert fixtures
    for fixture in fixtures:
        check_data_model(fixture["json"])
        assert is_cid_link(fixture["cid"])


@pytest.mark.parametrize(
    ("value", "path"),
    [
        ({"a": float("nan")}, "$.a"),
        ({"a": [1, 2.5]}, "$.a[1]"),
        ({"a": 2**63}, "$.a"),
        ({"a": _blob(mimeType="")}, "$.a.mimeType"),
        ({"a": _blob(size=True)}, "$.a.size"),
        ({"a": _blob(size=-1)}, "$.a.size"),
        ({"a": _blob(extra=1)}, "$.a"),
        ({"a": _blob(ref=CID)}, "$.a.ref"),
        ({"a": {"$link": "Qmb" + "a" * 40}}, "$.a.$link"),
        ({"a": b"raw bytes"}, "$.a"),
    ],
)
def test_rejections_point_at_the_value(value: dict[str, Any], path: str) -> None:
    with pytest.raises(LexiconValidationError) as caught:
        check_data_model(value)
    assert caught.value.path == path


def test_booleans_and_big_integers_within_range_are_fine() -> None:
    check_data_model({"t": True, "f": False, "max": 2**63 - 1, "min": -(2**63)})


def test_nesting_limit_stops_hostile_depth() -> None:
    shallow: Any = "leaf"
    for _ in range(MAX_DEPTH - 1):
        shallow = [shallow]
    check_data_model({"a": shallow})
    deep: Any = "leaf"
    for _ in range(MAX_DEPTH + 5):
        deep = [deep]
    with pytest.raises(LexiconValidationError, match="nested more than"):
        check_data_model({"a": deep})


@pytest.mark.parametrize(
    ("encoded", "length"),
    [("", 0), ("b25l", 3), ("b25lbw", 4), ("b25lbw==", 4), ("123", 2), ("a", None), ("a b=", None)],
)
def test_bytes_length(encoded: str, length: int | None) -> None:
    assert bytes_length(encoded) == length


def test_cid_link_must_be_complete() -> None:
    assert is_cid_link(CID)
    assert not is_cid_link(CID[:-4])  # digest cut short
    assert not is_cid_link(CID.upper())
