from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import pytest

from reference_impl.primitives import dagcbor
from reference_impl.primitives.dagcbor import CID


def _b64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4))


def test_data_model_fixtures(interop_json: Callable[[str], Any]) -> None:
    cases = interop_json("data-model/data-model-fixtures.json")
    assert cases
    for case in cases:
        expected_cbor = _b64(case["cbor_base64"])
        ipld = dagcbor.json_to_ipld(case["json"])
        block = dagcbor.encode(ipld)
        assert block == expected_cbor
        assert dagcbor.cid_for_cbor(block).encode() == case["cid"]
        assert dagcbor.ipld_to_json(dagcbor.decode(expected_cbor)) == case["json"]


def test_bytes_that_look_like_a_cid_stay_bytes() -> None:
    # The libipld gotcha: raw bytes equal to a CID's bytes must not turn into a link.
    cid = dagcbor.cid_for_cbor(b"\xa0")
    block = dagcbor.encode({"b": bytes(cid)})
    assert dagcbor.decode(block) == {"b": bytes(cid)}
    assert block != dagcbor.encode({"b": cid})


def test_blob_ref_round_trip() -> None:
    blob_cid = dagcbor.cid_for_raw(b"image bytes")
    assert blob_cid.is_cidv1_raw_sha256_32()
    assert bytes(blob_cid)[:4] == b"\x01\x55\x12\x20"
    as_json = {
        "$type": "blob",
        "ref": {"$link": blob_cid.encode()},
        "mimeType": "image/png",
        "size": 11,
    }
    ipld = dagcbor.json_to_ipld(as_json)
    assert ipld["ref"] == blob_cid
    assert dagcbor.ipld_to_json(dagcbor.decode(dagcbor.encode(ipld))) == as_json


def test_cid_for_cbor_prefix() -> None:
    cid = dagcbor.cid_for_cbor(b"\xa0")
    assert isinstance(cid, CID)
    assert bytes(cid)[:4] == b"\x01\x71\x12\x20"


def test_bytes_json_form_is_unpadded_and_accepts_padding() -> None:
    assert dagcbor.ipld_to_json(b"ab") == {"$bytes": "YWI"}
    assert dagcbor.json_to_ipld({"$bytes": "YWI="}) == b"ab"


@pytest.mark.parametrize(
    "bad",
    [
        {"$link": 5},
        {"$link": "not-a-cid"},
        {"$link": "bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm", "x": 1},
        {"$bytes": "!!!"},
        {"n": 1.5},
        {"s": {1, 2}},
    ],
)
def test_json_to_ipld_refuses_malformed_values(bad: Any) -> None:
    with pytest.raises(dagcbor.DagCborError):
        dagcbor.json_to_ipld(bad)


@pytest.mark.parametrize(
    "bad",
    [
        b"",
        b"\xa2\x61b\x01\x61a\x02",  # map keys not in canonical order
        b"\x18\x01",  # integer not minimally encoded
        b"\xa0\xa0",  # trailing bytes
        b"\xa1\x01\x02",  # non-string map key
    ],
)
def test_decode_refuses_non_canonical_input(bad: bytes) -> None:
    with pytest.raises(dagcbor.DagCborError):
        dagcbor.decode(bad)


def test_parse_cid() -> None:
    text = "bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm"
    assert dagcbor.parse_cid(text).encode() == text
    with pytest.raises(dagcbor.DagCborError):
        dagcbor.parse_cid("QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG")
