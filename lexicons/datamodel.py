"""The ATProto data model, checked on the JSON form of values.

JSON form is what travels over XRPC: byte strings are `{"$bytes": "<base64>"}`, links are
`{"$link": "<cid>"}`, blobs are `{"$type": "blob", "ref": {"$link": ...}, "mimeType", "size"}`.
The model has no floats (an integral float such as `123.0` is accepted, because JSON cannot
tell it apart from `123`), 64-bit signed integers, and `$type` is always a non-empty string.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from typing import Any, Literal

from lexicons.errors import LexiconValidationError
from lexicons.paths import ROOT, child, item

__all__ = [
    "SpecialKind",
    "bytes_length",
    "check_data_model",
    "check_value",
    "is_cid_link",
    "special_kind",
]

SpecialKind = Literal["bytes", "link", "blob"]

_INT_MIN = -(2**63)
_INT_MAX = 2**63 - 1
_BASE32_RE = re.compile(r"[a-z2-7]+")
_BASE64_RE = re.compile(r"[A-Za-z0-9+/]*={0,2}")
_BLOB_KEYS = frozenset({"$type", "ref", "mimeType", "size"})
# Far deeper than any real record; stops hostile input from exhausting the Python stack.
MAX_DEPTH = 128


def check_data_model(value: Any, path: str = ROOT) -> None:
    """Raise LexiconValidationError unless `value` is a data-model object in JSON form.

    The top level must be an object (records and XRPC bodies always are).
    """
    if not isinstance(value, dict):
        raise LexiconValidationError("expected an object at the top level", path)
    _check_value(value, path, 0)


def check_value(value: Any, path: str = ROOT) -> None:
    """Like check_data_model, for a value at any position (no top-level object rule)."""
    _check_value(value, path, 0)


def special_kind(value: dict[str, Any]) -> SpecialKind | None:
    """Which reserved JSON-form object `value` claims to be, judged by its marker key."""
    if "$bytes" in value:
        return "bytes"
    if "$link" in value:
        return "link"
    if value.get("$type") == "blob":
        return "blob"
    return None


def is_cid_link(value: str) -> bool:
    """A CIDv1 in base32 multibase (the only form `$link` uses), fully decoded."""
    if not value.startswith("b") or _BASE32_RE.fullmatch(value[1:]) is None:
        return False
    encoded = value[1:].upper()
    try:
        raw = base64.b32decode(encoded + "=" * (-len(encoded) % 8))
    except binascii.Error:
        return False
    fields: list[int] = []
    pos = 0
    # version, codec, multihash code, digest length: four varints, then the digest.
    for _ in range(4):
        decoded = _read_varint(raw, pos)
        if decoded is None:
            return False
        number, pos = decoded
        fields.append(number)
    version, _codec, _hash_code, digest_len = fields
    return version == 1 and digest_len > 0 and len(raw) - pos == digest_len


def bytes_length(encoded: str) -> int | None:
    """Length of the bytes a `$bytes` string decodes to, or None when it is not base64.

    Padding is optional, as in the data model spec.
    """
    if _BASE64_RE.fullmatch(encoded) is None:
        return None
    unpadded = encoded.rstrip("=")
    if len(unpadded) % 4 == 1:
        return None
    try:
        return len(base64.b64decode(unpadded + "=" * (-len(unpadded) % 4), validate=True))
    except binascii.Error:
        return None


def _read_varint(data: bytes, pos: int) -> tuple[int, int] | None:
    result = 0
    shift = 0
    while pos < len(data) and shift < 63:
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
    return None


def _check_value(value: Any, path: str, depth: int) -> None:
    if depth > MAX_DEPTH:
        raise LexiconValidationError(f"nested more than {MAX_DEPTH} levels deep", path)
    # bool is a subclass of int; test it first so True is not range-checked as 1.
    if value is None or isinstance(value, (bool, str)):
        return
    if isinstance(value, int):
        if not _INT_MIN <= value <= _INT_MAX:
            raise LexiconValidationError("integer outside the signed 64-bit range", path)
        return
    if isinstance(value, float):
        if not math.isfinite(value) or not value.is_integer():
            raise LexiconValidationError(f"floats are not allowed (got {value!r})", path)
        return
    if isinstance(value, list):
        for index, element in enumerate(value):
            _check_value(element, item(path, index), depth + 1)
        return
    if isinstance(value, dict):
        _check_object(value, path, depth)
        return
    raise LexiconValidationError(f"{type(value).__name__} is not a JSON data model value", path)


def _check_object(value: dict[Any, Any], path: str, depth: int) -> None:
    for key in value:
        if not isinstance(key, str):
            raise LexiconValidationError(f"object key {key!r} is not a string", path)
    if "$type" in value:
        type_name = value["$type"]
        if not isinstance(type_name, str) or not type_name:
            raise LexiconValidationError("$type must be a non-empty string", child(path, "$type"))
    kind = special_kind(value)
    if kind == "bytes":
        _check_bytes(value, path)
    elif kind == "link":
        _check_link(value, path)
    elif kind == "blob":
        _check_blob(value, path)
    else:
        for key, element in value.items():
            _check_value(element, child(path, key), depth + 1)


def _check_bytes(value: dict[str, Any], path: str) -> None:
    if len(value) != 1:
        raise LexiconValidationError("a $bytes object must have no other keys", path)
    encoded = value["$bytes"]
    if not isinstance(encoded, str) or bytes_length(encoded) is None:
        raise LexiconValidationError("$bytes must be a base64 string", child(path, "$bytes"))


def _check_link(value: dict[str, Any], path: str) -> None:
    if len(value) != 1:
        raise LexiconValidationError("a $link object must have no other keys", path)
    link = value["$link"]
    if not isinstance(link, str) or not is_cid_link(link):
        raise LexiconValidationError("$link must be a base32 CIDv1 string", child(path, "$link"))


def _check_blob(value: dict[str, Any], path: str) -> None:
    missing = sorted(_BLOB_KEYS - value.keys())
    if missing:
        raise LexiconValidationError(f"blob is missing {', '.join(missing)}", path)
    extra = sorted(value.keys() - _BLOB_KEYS)
    if extra:
        raise LexiconValidationError(f"blob has unexpected keys {', '.join(extra)}", path)
    ref = value["ref"]
    if not isinstance(ref, dict) or special_kind(ref) != "link":
        raise LexiconValidationError("blob ref must be a $link object", child(path, "ref"))
    _check_link(ref, child(path, "ref"))
    mime_type = value["mimeType"]
    if not isinstance(mime_type, str) or not mime_type:
        raise LexiconValidationError(
            "blob mimeType must be a non-empty string", child(path, "mimeType")
        )
    size = value["size"]
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise LexiconValidationError(
            "blob size must be a non-negative integer", child(path, "size")
        )
