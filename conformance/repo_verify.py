"""Verifying repository CARs a target serves, with the harness's own code.

Every block's bytes are hashed against its CID, the MST is walked with ``atmst``, and the
commit signature is checked with the ``atproto`` SDK (which rejects high-S signatures) against
the key the target's DID document publishes. The result states how far verification got:
``signature-verified`` only when the signature checked out, otherwise ``cid-only`` (data
integrity only), never "verified" without that qualifier (STR-VER-01).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import cbrrr
from atmst.blockstore import BlockStore
from atmst.mst.node import MSTNode
from atmst.mst.node_store import NodeStore
from atmst.mst.node_walker import NodeWalker
from atproto_crypto.verify import verify_signature
from cbrrr import CID

CODEC_DAG_CBOR = 0x71
CODEC_RAW = 0x55
MULTIHASH_SHA256 = 0x12
# The problem check_commit reports when it was given no key (the level stays cid-only).
NO_KEY_PROBLEM = "no #atproto key published; signature not checked"
# The CID of an empty MST node ({"e": [], "l": null}): the data root of a repo with no records.
EMPTY_MST_ROOT = CID.cidv1_dag_cbor_sha256_32_from(cbrrr.encode_dag_cbor({"e": [], "l": None}))


class CarInvalid(ValueError):
    """The bytes are not a well-formed CAR whose blocks match their CIDs."""


class VerificationLevel(StrEnum):
    SIGNATURE_VERIFIED = "signature-verified"
    CID_ONLY = "cid-only"


@dataclass(frozen=True)
class Car:
    roots: tuple[CID, ...]
    blocks: Mapping[CID, bytes] = field(repr=False)


def _read_varint(stream: io.BytesIO) -> int | None:
    shift = value = 0
    while True:
        byte = stream.read(1)
        if not byte:
            if shift == 0:
                return None
            raise CarInvalid("truncated varint")
        value |= (byte[0] & 0x7F) << shift
        if not byte[0] & 0x80:
            return value
        shift += 7
        if shift > 63:
            raise CarInvalid("varint too long")


def _split_cid(section: bytes) -> tuple[CID, int, bytes]:
    """Parse a binary CIDv1 at the start of a block section; returns (cid, codec, data)."""
    stream = io.BytesIO(section)
    version, codec, hash_code, digest_len = (_read_varint(stream) for _ in range(4))
    if version != 1 or codec is None or hash_code is None or digest_len is None:
        raise CarInvalid("block CID is not a CIDv1")
    digest = stream.read(digest_len)
    if len(digest) != digest_len:
        raise CarInvalid("truncated block CID")
    cid_len = stream.tell()
    cid = CID(section[:cid_len])
    if hash_code != MULTIHASH_SHA256:
        raise CarInvalid(f"block {cid} uses unsupported multihash 0x{hash_code:x}")
    data = section[cid_len:]
    if hashlib.sha256(data).digest() != digest:
        raise CarInvalid(f"block {cid} does not match its bytes")
    return cid, codec, data


def read_car(data: bytes) -> Car:
    """Parse a CAR v1 file, checking every block's hash. Raises CarInvalid."""
    stream = io.BytesIO(data)
    header_len = _read_varint(stream)
    if header_len is None:
        raise CarInvalid("empty CAR")
    header_bytes = stream.read(header_len)
    if len(header_bytes) != header_len:
        raise CarInvalid("truncated CAR header")
    try:
        header = cbrrr.decode_dag_cbor(header_bytes)
    except Exception as exc:
        raise CarInvalid(f"CAR header is not DAG-CBOR: {exc}") from exc
    if not isinstance(header, dict) or header.get("version") != 1:
        raise CarInvalid("CAR header is not version 1")
    roots = header.get("roots")
    if not isinstance(roots, list) or not all(isinstance(r, CID) for r in roots):
        raise CarInvalid("CAR header roots are not CIDs")
    blocks: dict[CID, bytes] = {}
    while (length := _read_varint(stream)) is not None:
        section = stream.read(length)
        if len(section) != length:
            raise CarInvalid("truncated CAR block")
        cid, codec, block = _split_cid(section)
        if codec not in (CODEC_DAG_CBOR, CODEC_RAW):
            raise CarInvalid(f"block {cid} has unsupported codec 0x{codec:x}")
        blocks[cid] = block
    return Car(tuple(r for r in roots if isinstance(r, CID)), blocks)


class _CarBlockStore(BlockStore):
    def __init__(self, car: Car) -> None:
        self._by_bytes = {bytes(cid): block for cid, block in car.blocks.items()}

    def get_block(self, key: bytes) -> bytes:
        return self._by_bytes[key]

    def put_block(self, key: bytes, value: bytes) -> None:
        raise TypeError("read-only")

    def del_block(self, key: bytes) -> None:
        raise TypeError("read-only")


def decode_block(car: Car, cid: CID) -> Any:
    block = car.blocks.get(cid)
    if block is None:
        raise CarInvalid(f"block {cid} is missing from the CAR")
    try:
        return cbrrr.decode_dag_cbor(block)
    except Exception as exc:
        raise CarInvalid(f"block {cid} is not DAG-CBOR: {exc}") from exc


def atproto_signing_key(did_document: Mapping[str, Any]) -> str | None:
    """The ``#atproto`` key of a DID document as a did:key, or None when it publishes none."""
    did = did_document.get("id", "")
    for method in did_document.get("verificationMethod", []) or []:
        if not isinstance(method, Mapping):
            continue
        method_id = str(method.get("id", ""))
        if method_id in ("#atproto", f"{did}#atproto") and isinstance(
            method.get("publicKeyMultibase"), str
        ):
            return "did:key:" + method["publicKeyMultibase"]
    return None


def commit_signature_valid(commit: Mapping[str, Any], did_key: str) -> bool:
    sig = commit.get("sig")
    if not isinstance(sig, bytes):
        return False
    unsigned = {k: v for k, v in commit.items() if k != "sig"}
    try:
        return bool(verify_signature(did_key, cbrrr.encode_dag_cbor(unsigned), sig))
    except Exception:
        return False


@dataclass(frozen=True)
class CommitCheck:
    commit_cid: CID
    commit: Mapping[str, Any]
    level: VerificationLevel
    problems: tuple[str, ...]


def check_commit(car: Car, did: str, did_key: str | None) -> CommitCheck:
    """The CAR's root must be a v3 commit for ``did``; its signature decides the level."""
    problems: list[str] = []
    if len(car.roots) != 1:
        raise CarInvalid(f"expected one root, found {len(car.roots)}")
    commit_cid = car.roots[0]
    commit = decode_block(car, commit_cid)
    if not isinstance(commit, dict):
        raise CarInvalid("root block is not a commit object")
    if commit.get("did") != did:
        problems.append(f"commit is for {commit.get('did')!r}, expected {did}")
    if commit.get("version") != 3:
        problems.append(f"commit version is {commit.get('version')!r}, expected 3")
    if not isinstance(commit.get("data"), CID):
        problems.append("commit has no data CID")
    if not isinstance(commit.get("rev"), str):
        problems.append("commit has no rev")
    level = VerificationLevel.CID_ONLY
    if did_key is None:
        problems.append(NO_KEY_PROBLEM)
    elif commit_signature_valid(commit, did_key):
        level = VerificationLevel.SIGNATURE_VERIFIED
    else:
        problems.append("commit signature does not verify against the published key")
    return CommitCheck(commit_cid, commit, level, tuple(problems))


@dataclass(frozen=True)
class RecordProof:
    commit: CommitCheck
    record_cid: CID | None
    value: Any


def verify_record_proof(
    car_bytes: bytes, did: str, collection: str, rkey: str, did_key: str | None
) -> RecordProof:
    """A ``sync.getRecord`` CAR: commit → MST path → record (or its absence)."""
    car = read_car(car_bytes)
    commit = check_commit(car, did, did_key)
    walker = NodeWalker(NodeStore(_CarBlockStore(car)), commit.commit.get("data"))
    try:
        record_cid = walker.find_rpath(f"{collection}/{rkey}")
    except KeyError as exc:
        raise CarInvalid("the MST path to the record is incomplete") from exc
    value = decode_block(car, record_cid) if record_cid is not None else None
    return RecordProof(commit, record_cid, value)


@dataclass(frozen=True)
class RepoContents:
    commit: CommitCheck
    records: Mapping[str, CID]


def iter_mst(car: Car, root: CID) -> Iterator[tuple[str, CID]]:
    walker = NodeWalker(NodeStore(_CarBlockStore(car)), root)
    try:
        yield from walker.iter_kv()
    except KeyError as exc:
        raise CarInvalid("MST blocks are missing from the CAR") from exc


def verify_repo(car_bytes: bytes, did: str, did_key: str | None) -> RepoContents:
    """A full ``getRepo`` CAR: every MST node and record block present and hash-valid."""
    car = read_car(car_bytes)
    commit = check_commit(car, did, did_key)
    records: dict[str, CID] = {}
    for key, cid in iter_mst(car, commit.commit["data"]):
        if cid not in car.blocks:
            raise CarInvalid(f"record block {cid} for {key} is missing")
        records[key] = cid
    return RepoContents(commit, records)


# --- partial exports (``since``) ------------------------------------------------------------


@dataclass(frozen=True)
class PartialRepo:
    """A ``since`` export: the signed commit, every block the CAR holds, and the MST entries
    reachable through the nodes it holds (older subtrees are left out by design)."""

    commit: CommitCheck
    blocks: frozenset[CID]
    entries: Mapping[str, CID]


def iter_mst_present(car: Car, root: CID) -> Iterator[tuple[str, CID]]:
    """MST entries under ``root`` reachable through nodes present in ``car``; a subtree whose
    node is absent is skipped (a ``since`` export leaves out unchanged subtrees)."""
    stack: list[CID] = [root]
    seen: set[CID] = set()
    while stack:
        cid = stack.pop()
        if cid in seen or cid not in car.blocks:
            continue
        seen.add(cid)
        try:
            node = MSTNode.deserialise(car.blocks[cid])
        except Exception as exc:  # atmst raises ValueError/KeyError/TypeError on bad nodes
            raise CarInvalid(f"block {cid} is not an MST node: {exc}") from exc
        yield from zip(node.keys, node.vals, strict=True)
        stack.extend(subtree for subtree in node.subtrees if subtree is not None)


def verify_since_export(car_bytes: bytes, did: str, did_key: str | None) -> PartialRepo:
    """A ``getRepo?since=<rev>`` CAR: every block hash-valid, a root commit for ``did`` (its
    signature decides the level), and the MST entries the CAR's nodes reveal."""
    car = read_car(car_bytes)
    commit = check_commit(car, did, did_key)
    data = commit.commit.get("data")
    entries = dict(iter_mst_present(car, data)) if isinstance(data, CID) else {}
    return PartialRepo(commit, frozenset(car.blocks), entries)


# --- writing CARs (the harness builds deliberately broken ones) -----------------------------


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def write_car(roots: Sequence[CID], blocks: Iterable[tuple[CID, bytes]]) -> bytes:
    """A CAR v1 of ``blocks`` as given: the bytes are NOT checked against their CIDs, so a
    block can be made not to match (an importer must refuse that)."""
    header = cbrrr.encode_dag_cbor({"version": 1, "roots": list(roots)})
    out = bytearray(_varint(len(header)))
    out += header
    for cid, data in blocks:
        section = bytes(cid) + data
        out += _varint(len(section))
        out += section
    return bytes(out)


# --- signatures over DAG-CBOR (enrollment attestations) -------------------------------------


def signature_valid(did_key: str, data: bytes, sig: bytes) -> bool:
    """Whether ``sig`` (raw r||s, low-S) over ``data`` verifies against ``did_key``."""
    try:
        return bool(verify_signature(did_key, data, sig))
    except Exception:  # the SDK raises several types for malformed keys or signatures
        return False


def published_keys(did_document: Mapping[str, Any]) -> tuple[str, ...]:
    """Every Multikey a DID document publishes, as did:keys (``#atproto`` first)."""
    first = atproto_signing_key(did_document)
    keys = [first] if first is not None else []
    for method in did_document.get("verificationMethod", []) or []:
        if isinstance(method, Mapping) and isinstance(method.get("publicKeyMultibase"), str):
            did_key = "did:key:" + method["publicKeyMultibase"]
            if did_key not in keys:
                keys.append(did_key)
    return tuple(keys)


def json_bytes(value: Any) -> bytes | None:
    """The bytes of an ATProto JSON ``{"$bytes": <base64>}`` value (padding optional)."""
    if not isinstance(value, Mapping) or set(value) != {"$bytes"}:
        return None
    text = value["$bytes"]
    if not isinstance(text, str):
        return None
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None


def attestation_payload(boundaries: Iterable[str], did: str, signing_key: str) -> bytes:
    """The DAG-CBOR a Stratos enrollment attestation signs: ``{boundaries (sorted), did,
    signingKey}`` (STR-ENR-05)."""
    payload: dict[str, Any] = {
        "boundaries": sorted(boundaries),
        "did": did,
        "signingKey": signing_key,
    }
    return cbrrr.encode_dag_cbor(payload)
