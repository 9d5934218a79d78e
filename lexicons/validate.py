"""Validating JSON-form values against lexicon schemas.

The functions here are pure: they take the schema, the value and a `Resolver` that turns ref
strings into definitions (the `Catalog` is one). They raise `LexiconValidationError` with the
path of the first problem found and never change the value they are given.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Protocol

import regex

from lexicons.datamodel import (
    bytes_length,
    check_data_model,
    check_value,
    is_cid_link,
    special_kind,
)
from lexicons.errors import LexiconValidationError
from lexicons.paths import ROOT, child, item
from lexicons.schema import split_ref
from lexicons.syntax import validate_format

__all__ = [
    "Resolver",
    "coerce_params",
    "validate_body",
    "validate_record_value",
    "validate_value",
]

_INTEGER_PARAM_RE = re.compile(r"-?[0-9]+")
_MAX_INTEGER_DIGITS = 19  # len(str(2**63))
_GRAPHEME_RE = regex.compile(r"\X")


class Resolver(Protocol):
    def resolve(self, ref: str, context_nsid: str) -> tuple[str, Mapping[str, Any]]:
        """Return `(nsid of the document holding the def, the def)`; raise
        LexiconSchemaError when the ref names nothing known."""
        ...


@dataclass(frozen=True)
class _Context:
    resolver: Resolver
    nsid: str  # the document local refs are relative to

    def at(self, nsid: str) -> _Context:
        return _Context(self.resolver, nsid)


# --- entry points ---------------------------------------------------------------------------


def validate_record_value(
    resolver: Resolver, nsid: str, record_def: Mapping[str, Any], value: Any
) -> None:
    """A record as stored: a data-model object whose `$type` is the collection NSID."""
    check_data_model(value)
    type_name = value.get("$type")
    if type_name is None:
        raise LexiconValidationError(f"record is missing $type (expected {nsid!r})", ROOT)
    if type_name != nsid:
        raise LexiconValidationError(
            f"record $type is {type_name!r}, expected {nsid!r}", child(ROOT, "$type")
        )
    _validate_object(record_def["record"], value, ROOT, _Context(resolver, nsid))


def validate_body(resolver: Resolver, nsid: str, schema: Mapping[str, Any], value: Any) -> None:
    """An XRPC JSON body (or subscription message) against its object/ref/union schema."""
    check_data_model(value)
    _validate(schema, value, ROOT, _Context(resolver, nsid))


def validate_value(
    resolver: Resolver, nsid: str, schema: Mapping[str, Any], value: Any, path: str = ROOT
) -> None:
    """Any value against a field schema; `nsid` is the document the schema came from."""
    check_value(value, path)
    _validate(schema, value, path, _Context(resolver, nsid))


def coerce_params(
    resolver: Resolver,
    nsid: str,
    params: Mapping[str, Any] | None,
    raw: Mapping[str, Sequence[str]],
) -> dict[str, Any]:
    """Turn query-string values into typed parameters.

    Integers and booleans are parsed, repeated keys become arrays, defaults fill in absent
    parameters, required ones must be present. Parameters the schema does not name are
    dropped: XRPC servers ignore unknown parameters.
    """
    if params is None:
        return {}
    ctx = _Context(resolver, nsid)
    properties: Mapping[str, Any] = params.get("properties", {})
    required = set(params.get("required", []))
    result: dict[str, Any] = {}
    for name, schema in properties.items():
        path = child(ROOT, name)
        found = raw.get(name, [])
        # A plain mapping of name -> str (one value per key) is accepted too; list() would
        # split such a string into characters.
        strings = [found] if isinstance(found, str) else list(found)
        if not strings:
            if "default" in schema:
                result[name] = schema["default"]
            elif name in required:
                raise LexiconValidationError(f"required parameter {name!r} is missing", path)
            continue
        if schema["type"] == "array":
            value: Any = [
                _coerce_param(schema["items"], s, item(path, i)) for i, s in enumerate(strings)
            ]
        else:
            if len(strings) > 1:
                raise LexiconValidationError(
                    f"parameter {name!r} takes one value, got {len(strings)}", path
                )
            value = _coerce_param(schema, strings[0], path)
        _validate(schema, value, path, ctx)
        result[name] = value
    return result


def _coerce_param(schema: Mapping[str, Any], text: str, path: str) -> Any:
    type_name = schema["type"]
    if type_name == "integer":
        if _INTEGER_PARAM_RE.fullmatch(text) is None:
            raise LexiconValidationError(f"expected an integer, got {text[:40]!r}", path)
        # Past 64 bits it is out of range anyway; checking first also keeps int() away
        # from Python's limit on very long digit strings.
        if len(text.lstrip("-")) > _MAX_INTEGER_DIGITS:
            raise LexiconValidationError("integer out of range", path)
        return int(text)
    if type_name == "boolean":
        if text not in ("true", "false"):
            raise LexiconValidationError(f"expected true or false, got {text[:40]!r}", path)
        return text == "true"
    return text


# --- per-type validation --------------------------------------------------------------------


def _validate(schema: Mapping[str, Any], value: Any, path: str, ctx: _Context) -> None:
    type_name = schema["type"]
    validator = _VALIDATORS.get(type_name)
    if validator is None:
        raise LexiconValidationError(f"schema type {type_name!r} cannot validate a value", path)
    validator(schema, value, path, ctx)


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        kind = special_kind(value)
        return f"a {kind} object" if kind else "an object"
    return type(value).__name__


def _expected(what: str, value: Any, path: str) -> LexiconValidationError:
    return LexiconValidationError(f"expected {what}, got {_describe(value)}", path)


def _validate_boolean(schema: Mapping[str, Any], value: Any, path: str, ctx: _Context) -> None:
    if not isinstance(value, bool):
        raise _expected("a boolean", value, path)
    if "const" in schema and value != schema["const"]:
        raise LexiconValidationError(f"must be {str(schema['const']).lower()}", path)


def _is_integer(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    # An integral float is the same JSON number as the integer (see datamodel).
    return isinstance(value, int) or (
        isinstance(value, float) and math.isfinite(value) and value.is_integer()
    )


def _validate_integer(schema: Mapping[str, Any], value: Any, path: str, ctx: _Context) -> None:
    if not _is_integer(value):
        raise _expected("an integer", value, path)
    number = int(value)
    if "const" in schema and number != schema["const"]:
        raise LexiconValidationError(f"must be {schema['const']}, got {number}", path)
    if "enum" in schema and number not in schema["enum"]:
        raise LexiconValidationError(f"must be one of {schema['enum']}, got {number}", path)
    if "minimum" in schema and number < schema["minimum"]:
        raise LexiconValidationError(f"must be at least {schema['minimum']}, got {number}", path)
    if "maximum" in schema and number > schema["maximum"]:
        raise LexiconValidationError(f"must be at most {schema['maximum']}, got {number}", path)


def _count_graphemes(text: str) -> int:
    return len(_GRAPHEME_RE.findall(text))


def _validate_string(schema: Mapping[str, Any], value: Any, path: str, ctx: _Context) -> None:
    if not isinstance(value, str):
        raise _expected("a string", value, path)
    if "const" in schema and value != schema["const"]:
        raise LexiconValidationError(f"must be {schema['const']!r}, got {value!r}", path)
    if "enum" in schema and value not in schema["enum"]:
        raise LexiconValidationError(f"must be one of {schema['enum']}, got {value!r}", path)
    # knownValues is an open set: any string is allowed, so it is not checked.
    if "minLength" in schema or "maxLength" in schema:
        size = len(value.encode("utf-8"))
        if size < schema.get("minLength", 0):
            raise LexiconValidationError(
                f"must be at least {schema['minLength']} bytes (UTF-8), got {size}", path
            )
        if "maxLength" in schema and size > schema["maxLength"]:
            raise LexiconValidationError(
                f"must be at most {schema['maxLength']} bytes (UTF-8), got {size}", path
            )
    _check_graphemes(schema, value, path)
    fmt = schema.get("format")
    if fmt is not None and not validate_format(fmt, value):
        raise LexiconValidationError(f"not a valid {fmt}: {value[:100]!r}", path)


def _check_graphemes(schema: Mapping[str, Any], value: str, path: str) -> None:
    low = schema.get("minGraphemes")
    high = schema.get("maxGraphemes")
    # Clusters never outnumber code points, so short strings skip the regex for the maximum.
    if low is None and (high is None or len(value) <= high):
        return
    count = _count_graphemes(value)
    if low is not None and count < low:
        raise LexiconValidationError(f"must be at least {low} graphemes, got {count}", path)
    if high is not None and count > high:
        raise LexiconValidationError(f"must be at most {high} graphemes, got {count}", path)


def _validate_bytes(schema: Mapping[str, Any], value: Any, path: str, ctx: _Context) -> None:
    if not isinstance(value, dict) or special_kind(value) != "bytes" or len(value) != 1:
        raise _expected('a bytes object {"$bytes": ...}', value, path)
    encoded = value["$bytes"]
    size = bytes_length(encoded) if isinstance(encoded, str) else None
    if size is None:
        raise LexiconValidationError("$bytes must be a base64 string", child(path, "$bytes"))
    if size < schema.get("minLength", 0):
        raise LexiconValidationError(f"must be at least {schema['minLength']} bytes", path)
    if "maxLength" in schema and size > schema["maxLength"]:
        raise LexiconValidationError(f"must be at most {schema['maxLength']} bytes", path)


def _validate_cid_link(schema: Mapping[str, Any], value: Any, path: str, ctx: _Context) -> None:
    if not isinstance(value, dict) or special_kind(value) != "link" or len(value) != 1:
        raise _expected('a link object {"$link": ...}', value, path)
    link = value["$link"]
    if not isinstance(link, str) or not is_cid_link(link):
        raise LexiconValidationError("$link must be a base32 CIDv1", child(path, "$link"))


def _mime_matches(pattern: str, mime_type: str) -> bool:
    if pattern in ("*/*", "*"):
        return True
    if pattern.endswith("/*"):
        return mime_type.startswith(pattern[:-1])
    return pattern == mime_type


def _validate_blob(schema: Mapping[str, Any], value: Any, path: str, ctx: _Context) -> None:
    if not isinstance(value, dict) or special_kind(value) != "blob":
        raise _expected('a blob object {"$type": "blob", ...}', value, path)
    # The shape (ref, mimeType, size) is the data model's; the whole value passed through it.
    check_value(value, path)
    mime_type = value["mimeType"]
    accept = schema.get("accept")
    if accept is not None and not any(_mime_matches(p, mime_type) for p in accept):
        raise LexiconValidationError(
            f"blob MIME type {mime_type!r} is not accepted (allowed: {', '.join(accept)})",
            child(path, "mimeType"),
        )
    if "maxSize" in schema and value["size"] > schema["maxSize"]:
        raise LexiconValidationError(
            f"blob is {value['size']} bytes, more than the maximum {schema['maxSize']}",
            child(path, "size"),
        )


def _validate_unknown(schema: Mapping[str, Any], value: Any, path: str, ctx: _Context) -> None:
    # `unknown` holds an object of any shape, but not a bare scalar, array, bytes, link or blob.
    if not isinstance(value, dict) or special_kind(value) is not None:
        raise _expected("an object", value, path)


def _validate_array(schema: Mapping[str, Any], value: Any, path: str, ctx: _Context) -> None:
    if not isinstance(value, list):
        raise _expected("an array", value, path)
    if len(value) < schema.get("minLength", 0):
        raise LexiconValidationError(
            f"must have at least {schema['minLength']} items, got {len(value)}", path
        )
    if "maxLength" in schema and len(value) > schema["maxLength"]:
        raise LexiconValidationError(
            f"must have at most {schema['maxLength']} items, got {len(value)}", path
        )
    for index, element in enumerate(value):
        _validate(schema["items"], element, item(path, index), ctx)


def _validate_object(schema: Mapping[str, Any], value: Any, path: str, ctx: _Context) -> None:
    if not isinstance(value, dict) or special_kind(value) is not None:
        raise _expected("an object", value, path)
    properties: Mapping[str, Any] = schema.get("properties", {})
    nullable = set(schema.get("nullable", []))
    for name in schema.get("required", []):
        if name not in value:
            raise LexiconValidationError(f"required field {name!r} is missing", path)
    for name, prop_schema in properties.items():
        if name not in value:
            continue
        prop_path = child(path, name)
        prop_value = value[name]
        if prop_value is None:
            if name in nullable:
                continue
            raise LexiconValidationError("must not be null", prop_path)
        _validate(prop_schema, prop_value, prop_path, ctx)
    # Properties the schema does not name are allowed: lexicon objects are open for
    # forward compatibility.


def _validate_ref(schema: Mapping[str, Any], value: Any, path: str, ctx: _Context) -> None:
    ref = schema["ref"]
    nsid, target = ctx.resolver.resolve(ref, ctx.nsid)
    _validate_target(target, value, path, ctx.at(nsid), _full_ref(ref, ctx.nsid))


def _validate_target(
    target: Mapping[str, Any], value: Any, path: str, ctx: _Context, full_name: str
) -> None:
    type_name = target["type"]
    if type_name == "token":
        # A token is referenced by name: the value is the token's full NSID#name.
        if value != full_name:
            raise LexiconValidationError(f"expected the token {full_name!r}", path)
    elif type_name == "record":
        _validate_object(target["record"], value, path, ctx)
    else:
        _validate(target, value, path, ctx)


def _full_ref(ref: str, context_nsid: str) -> str:
    nsid, name = split_ref(ref, context_nsid)
    return nsid if name == "main" else f"{nsid}#{name}"


def _validate_union(schema: Mapping[str, Any], value: Any, path: str, ctx: _Context) -> None:
    if not isinstance(value, dict) or special_kind(value) is not None:
        raise _expected("an object with $type", value, path)
    type_name = value.get("$type")
    if not isinstance(type_name, str) or not type_name:
        raise LexiconValidationError("union member must have a $type", path)
    wanted = type_name.removesuffix("#main")
    for ref in schema["refs"]:
        if _full_ref(ref, ctx.nsid) == wanted:
            nsid, target = ctx.resolver.resolve(ref, ctx.nsid)
            _validate_target(target, value, path, ctx.at(nsid), wanted)
            return
    if schema.get("closed", False):
        allowed = ", ".join(_full_ref(ref, ctx.nsid) for ref in schema["refs"])
        raise LexiconValidationError(
            f"$type {type_name!r} is not one of the closed union's types ({allowed})",
            child(path, "$type"),
        )
    # Open union, unknown member: accepted as-is (every entry point has already checked the
    # whole value against the data model).


_VALIDATORS = MappingProxyType(
    {
        "boolean": _validate_boolean,
        "integer": _validate_integer,
        "string": _validate_string,
        "bytes": _validate_bytes,
        "cid-link": _validate_cid_link,
        "blob": _validate_blob,
        "unknown": _validate_unknown,
        "array": _validate_array,
        "object": _validate_object,
        "ref": _validate_ref,
        "union": _validate_union,
    }
)
