"""DAG-CBOR for ATProto, on ``cbrrr``, and the JSON form that travels over XRPC.

Two shapes of the same data:

* IPLD form (what gets encoded): links are ``cbrrr.CID``, byte strings are ``bytes``.
* JSON form (what lexicons validate and XRPC carries): ``{"$link": "bafy..."}`` and
  ``{"$bytes": "<base64, no padding>"}``. Blob refs are ordinary objects whose ``ref`` is a link,
  so they need no special case.

``cbrrr`` rather than ``libipld`` because libipld encodes any ``bytes`` that happen to parse as a
CID as a link, which silently changes record content.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from cbrrr import CID, decode_dag_cbor, encode_dag_cbor

__all__ = [
    "CID",
    "DagCborError",
    "cid_for_cbor",
    "cid_for_raw",
    "decode",
    "encode",
    "ipld_to_json",
    "json_to_ipld",
    "parse_cid",
]


class DagCborError(ValueError):
    """Bytes that are not canonical DAG-CBOR, or a value that cannot be encoded."""


def encode(obj: Any) -> bytes:
    """Canonical DAG-CBOR of an IPLD-form value (map keys sorted by cbrrr)."""
    try:
        return encode_dag_cbor(obj)
    except (TypeError, ValueError, OverflowError, RecursionError) as exc:
        raise DagCborError(f"cannot encode as DAG-CBOR: {exc}") from None


def decode(data: bytes) -> Any:
    """Decode exactly one DAG-CBOR value; trailing bytes or non-canonical input raise."""
    try:
        return decode_dag_cbor(bytes(data))
    except (TypeError, ValueError, OverflowError, RecursionError, EOFError) as exc:
        raise DagCborError(f"invalid DAG-CBOR: {exc}") from None


def cid_for_cbor(block: bytes) -> CID:
    """CIDv1, dag-cbor codec (0x71), sha2-256."""
    return CID.cidv1_dag_cbor_sha256_32_from(bytes(block))


def cid_for_raw(data: bytes) -> CID:
    """CIDv1, raw codec (0x55), sha2-256: the CID of a blob."""
    return CID.cidv1_raw_sha256_32_from(bytes(data))


def parse_cid(text: str) -> CID:
    """A base32 (``b...``) CIDv1 string as used by ATProto; raises DagCborError otherwise."""
    if not isinstance(text, str) or not text.startswith("b"):
        raise DagCborError(f"expected a base32 CIDv1 string, got {text!r}")
    try:
        cid = CID.decode(text)
    except (ValueError, binascii.Error) as exc:
        raise DagCborError(f"invalid CID {text!r}: {exc}") from None
    if not (cid.is_cidv1_dag_cbor_sha256_32() or cid.is_cidv1_raw_sha256_32()):
        raise DagCborError(f"unsupported CID (need v1 sha2-256 dag-cbor or raw): {text!r}")
    return cid


def _b64decode(text: str) -> bytes:
    # ATProto writes $bytes unpadded; tolerate padding on input.
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise DagCborError(f"invalid $bytes base64: {exc}") from None


def json_to_ipld(value: Any) -> Any:
    """JSON form -> IPLD form. Floats are refused: the ATProto data model has none."""
    if isinstance(value, dict):
        if "$link" in value:
            link = value["$link"]
            if len(value) != 1 or not isinstance(link, str):
                raise DagCborError("a $link object must be exactly {'$link': '<cid>'}")
            return parse_cid(link)
        if "$bytes" in value:
            data = value["$bytes"]
            if len(value) != 1 or not isinstance(data, str):
                raise DagCborError("a $bytes object must be exactly {'$bytes': '<base64>'}")
            return _b64decode(data)
        out: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise DagCborError(f"map keys must be strings, got {type(key).__name__}")
            out[key] = json_to_ipld(item)
        return out
    if isinstance(value, list):
        return [json_to_ipld(item) for item in value]
    if isinstance(value, float):
        raise DagCborError("floats are not part of the ATProto data model")
    if value is None or isinstance(value, (str, bool, int)):
        return value
    raise DagCborError(f"not a JSON value: {type(value).__name__}")


def ipld_to_json(value: Any) -> Any:
    """IPLD form -> JSON form (CID -> $link, bytes -> unpadded base64 $bytes)."""
    if isinstance(value, CID):
        return {"$link": value.encode()}
    if isinstance(value, (bytes, bytearray)):
        return {"$bytes": base64.b64encode(bytes(value)).rstrip(b"=").decode("ascii")}
    if isinstance(value, dict):
        return {key: ipld_to_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [ipld_to_json(item) for item in value]
    return value
