"""CAR v1 files: a writer (whole or streamed) and a reader that checks every block's hash.

Layout: ``varint(len) || dag-cbor({"version": 1, "roots": [CID, ...]})`` followed by frames of
``varint(len(cid) + len(data)) || cid bytes || data``. Only CIDv1 with sha2-256 is accepted,
with the dag-cbor (0x71) or raw (0x55) codec: that is all ATProto repositories use.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from cbrrr import CID

from . import dagcbor

_SHA2_256 = 0x12
_CODECS = {0x71: "dag-cbor", 0x55: "raw"}
# A frame header claiming more than this is treated as corrupt rather than allocated.
_MAX_FRAME = 1 << 30


class CarError(ValueError):
    """Malformed CAR input: bad header, truncated frame, bad CID, or data not matching its CID."""


@dataclass(frozen=True)
class CarFile:
    roots: tuple[CID, ...]
    blocks: dict[CID, bytes]  # in file order; duplicates collapse to the first

    @property
    def root(self) -> CID:
        if len(self.roots) != 1:
            raise CarError(f"expected exactly one CAR root, found {len(self.roots)}")
        return self.roots[0]


def encode_varint(n: int) -> bytes:
    if n < 0:
        raise ValueError("varints are unsigned")
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _read_varint(data: bytes | memoryview, pos: int, what: str) -> tuple[int, int]:
    value = 0
    shift = 0
    start = pos
    while True:
        if pos >= len(data):
            raise CarError(f"truncated CAR: input ends inside the {what} varint at byte {start}")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            if byte == 0 and shift:
                raise CarError(f"non-minimal {what} varint at byte {start}")
            return value, pos
        shift += 7
        if shift > 63:
            raise CarError(f"{what} varint at byte {start} is too long")


def header_bytes(roots: Sequence[CID]) -> bytes:
    header = dagcbor.encode({"version": 1, "roots": list(roots)})
    return encode_varint(len(header)) + header


def frame_bytes(cid: CID, data: bytes) -> bytes:
    cid_bytes = bytes(cid)
    return encode_varint(len(cid_bytes) + len(data)) + cid_bytes + data


def iter_car_chunks(
    roots: CID | Sequence[CID], blocks: Iterable[tuple[CID, bytes]] | Mapping[CID, bytes]
) -> Iterator[bytes]:
    """Yield the CAR piece by piece (header, then one chunk per block) for streaming responses."""
    root_list = [roots] if isinstance(roots, CID) else list(roots)
    yield header_bytes(root_list)
    pairs = blocks.items() if isinstance(blocks, Mapping) else blocks
    for cid, data in pairs:
        yield frame_bytes(cid, data)


def write_car(
    roots: CID | Sequence[CID], blocks: Iterable[tuple[CID, bytes]] | Mapping[CID, bytes]
) -> bytes:
    return b"".join(iter_car_chunks(roots, blocks))


def _parse_cid(frame: memoryview, offset: int) -> tuple[CID, int]:
    """Parse the CID at the start of a frame; returns (cid, length of the CID in bytes)."""
    if len(frame) >= 2 and frame[0] == 0x12 and frame[1] == 0x20:
        raise CarError(f"block at byte {offset}: CIDv0 is not supported in ATProto CARs")
    version, pos = _read_varint(frame, 0, "CID version")
    if version != 1:
        raise CarError(f"block at byte {offset}: unsupported CID version {version}")
    codec, pos = _read_varint(frame, pos, "CID codec")
    if codec not in _CODECS:
        raise CarError(f"block at byte {offset}: unsupported CID codec 0x{codec:x}")
    hash_code, pos = _read_varint(frame, pos, "CID multihash code")
    if hash_code != _SHA2_256:
        raise CarError(f"block at byte {offset}: unsupported hash function 0x{hash_code:x}")
    digest_len, pos = _read_varint(frame, pos, "CID digest length")
    if digest_len != 32:
        raise CarError(f"block at byte {offset}: sha2-256 digest length is {digest_len}, not 32")
    end = pos + digest_len
    if end > len(frame):
        raise CarError(f"truncated CAR: block at byte {offset} ends inside its CID")
    return CID(bytes(frame[:end])), end


def read_car_header(data: bytes | memoryview) -> tuple[tuple[CID, ...], int]:
    """Parse the header; returns (roots, offset of the first block frame)."""
    view = memoryview(data)
    if not len(view):
        raise CarError("empty input is not a CAR file")
    length, pos = _read_varint(view, 0, "header length")
    if length == 0:
        raise CarError("CAR header length is zero")
    if pos + length > len(view):
        raise CarError("truncated CAR: input ends inside the header")
    try:
        header = dagcbor.decode(bytes(view[pos : pos + length]))
    except dagcbor.DagCborError as exc:
        raise CarError(f"CAR header is not DAG-CBOR: {exc}") from None
    if not isinstance(header, dict):
        raise CarError("CAR header is not a map")
    if header.get("version") != 1:
        raise CarError(f"unsupported CAR version {header.get('version')!r} (need 1)")
    roots = header.get("roots")
    if not isinstance(roots, list) or not all(isinstance(r, CID) for r in roots):
        raise CarError("CAR header 'roots' must be a list of CIDs")
    if not roots:
        raise CarError("CAR header has no roots")
    return tuple(roots), pos + length


def iter_car(data: bytes | memoryview) -> tuple[tuple[CID, ...], Iterator[tuple[CID, bytes]]]:
    """Parse the header now and return (roots, lazy iterator of hash-checked blocks).

    The iterator raises CarError at the first bad frame, so a consumer that stores blocks as it
    goes must be ready to discard them.
    """
    view = memoryview(data)
    roots, start = read_car_header(view)
    return roots, _iter_blocks(view, start)


def _iter_blocks(view: memoryview, pos: int) -> Iterator[tuple[CID, bytes]]:
    while pos < len(view):
        frame_start = pos
        length, pos = _read_varint(view, pos, "block length")
        if length == 0 or length > _MAX_FRAME:
            raise CarError(f"block at byte {frame_start} has an invalid length {length}")
        if pos + length > len(view):
            raise CarError(
                f"truncated CAR: block at byte {frame_start} claims {length} bytes, "
                f"only {len(view) - pos} remain"
            )
        frame = view[pos : pos + length]
        cid, cid_len = _parse_cid(frame, frame_start)
        block = bytes(frame[cid_len:])
        if hashlib.sha256(block).digest() != bytes(cid)[-32:]:
            raise CarError(
                f"block at byte {frame_start}: data does not match its CID {cid.encode()}"
            )
        yield cid, block
        pos += length


def read_car(data: bytes | memoryview) -> CarFile:
    roots, blocks_iter = iter_car(data)
    blocks: dict[CID, bytes] = {}
    for cid, block in blocks_iter:
        blocks.setdefault(cid, block)
    return CarFile(roots=roots, blocks=blocks)
