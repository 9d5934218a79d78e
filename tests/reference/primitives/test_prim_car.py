from __future__ import annotations

import pytest

from reference_impl.primitives import dagcbor
from reference_impl.primitives.car import (
    CarError,
    encode_varint,
    frame_bytes,
    header_bytes,
    iter_car,
    iter_car_chunks,
    read_car,
    write_car,
)


def _blocks() -> dict[dagcbor.CID, bytes]:
    out: dict[dagcbor.CID, bytes] = {}
    for i in range(5):
        block = dagcbor.encode({"i": i, "text": "x" * (i * 50)})
        out[dagcbor.cid_for_cbor(block)] = block
    raw = b"\x00binary blob\xff" * 20
    out[dagcbor.cid_for_raw(raw)] = raw
    return out


def test_round_trip_keeps_roots_blocks_and_order() -> None:
    blocks = _blocks()
    root = next(iter(blocks))
    car = read_car(write_car(root, blocks))
    assert car.roots == (root,)
    assert car.root == root
    assert car.blocks == blocks
    assert list(car.blocks) == list(blocks)


def test_streaming_chunks_equal_whole_file() -> None:
    blocks = _blocks()
    root = next(iter(blocks))
    chunks = list(iter_car_chunks(root, iter(blocks.items())))
    assert len(chunks) == 1 + len(blocks)
    assert b"".join(chunks) == write_car([root], blocks)


def test_iter_car_is_lazy_and_parses_header_eagerly() -> None:
    blocks = _blocks()
    root = next(iter(blocks))
    data = write_car(root, blocks)
    roots, it = iter_car(data)
    assert roots == (root,)
    assert next(it)[0] == root
    with pytest.raises(CarError, match="header"):
        iter_car(b"\x05\xa0")


def test_header_only_car_has_no_blocks() -> None:
    root = dagcbor.cid_for_cbor(b"\xa0")
    car = read_car(header_bytes([root]))
    assert car.blocks == {}


def test_tampered_block_is_rejected() -> None:
    blocks = _blocks()
    root = next(iter(blocks))
    data = bytearray(write_car(root, blocks))
    data[-3] ^= 0x01
    with pytest.raises(CarError, match="does not match its CID"):
        read_car(bytes(data))


@pytest.mark.parametrize("cut", [1, 10, 37, 60])
def test_truncated_input_is_rejected_with_a_clear_message(cut: int) -> None:
    blocks = _blocks()
    root = next(iter(blocks))
    data = write_car(root, blocks)
    with pytest.raises(CarError, match="truncated"):
        read_car(data[: len(data) - cut])


def _header(obj: object) -> bytes:
    body = dagcbor.encode(obj)
    return encode_varint(len(body)) + body


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"\x00", "zero"),
        (b"\x0a\xa0", "truncated"),
        (b"\x01\xff", "not DAG-CBOR"),
        (_header([1]), "not a map"),
        (_header({"version": 2, "roots": []}), "version"),
        (_header({"version": 1, "roots": ["x"]}), "roots"),
        (_header({"version": 1, "roots": []}), "no roots"),
        (b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", "too long"),
    ],
)
def test_bad_headers(data: bytes, message: str) -> None:
    with pytest.raises(CarError, match=message):
        read_car(data)


def test_bad_frames() -> None:
    root = dagcbor.cid_for_cbor(b"\xa0")
    head = header_bytes([root])
    sha_other = b"\x01\x71\x13\x20" + b"\x00" * 32  # sha2-512 code with a 32-byte digest
    cases = {
        "CIDv0": encode_varint(34 + 1) + b"\x12\x20" + b"\x00" * 32 + b"\xa0",
        "CID version": encode_varint(3) + b"\x02\x71\x12",
        "codec": encode_varint(37) + b"\x01\x70\x12\x20" + b"\x00" * 32 + b"\xa0",
        "hash function": encode_varint(37) + sha_other + b"\xa0",
        "invalid length 0": encode_varint(0),
        "ends inside its CID": encode_varint(10) + b"\x01\x71\x12\x20" + b"\x00" * 6,
    }
    for message, frame in cases.items():
        with pytest.raises(CarError, match=message):
            read_car(head + frame)


def test_duplicate_blocks_collapse() -> None:
    block = dagcbor.encode({"a": 1})
    cid = dagcbor.cid_for_cbor(block)
    data = header_bytes([cid]) + frame_bytes(cid, block) + frame_bytes(cid, block)
    assert read_car(data).blocks == {cid: block}


def test_root_requires_exactly_one() -> None:
    a = dagcbor.cid_for_cbor(b"\xa0")
    b = dagcbor.cid_for_raw(b"")
    with pytest.raises(CarError, match="exactly one"):
        _ = read_car(write_car([a, b], {})).root
