"""Structural validation of Lexicon v1 documents.

`parse_lexicon` checks that a document is a well-formed lexicon (types in the places they may
appear, constraint fields of the right JSON type, refs that parse, declared errors) and returns
it as a `LexiconDoc`. It is deliberately strict about unknown keys inside a definition: in a
hand-written lexicon an unknown key is nearly always a typo (`maxlength`) that would otherwise
silently switch a constraint off.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, NoReturn

from lexicons.errors import LexiconSchemaError
from lexicons.syntax import FORMATS, is_valid_nsid, is_valid_record_key

__all__ = ["PRIMARY_TYPES", "LexiconDoc", "parse_lexicon", "split_ref"]

PRIMARY_TYPES = frozenset({"record", "query", "procedure", "subscription", "permission-set"})
# Types a named, non-primary definition may have. `ref`, `union` and `unknown` only make sense
# as the type of a field, so a def of those types is rejected (as the interop vectors expect).
_NAMED_TYPES = frozenset(
    {"object", "token", "string", "integer", "boolean", "bytes", "cid-link", "blob", "array"}
)
_FIELD_TYPES = frozenset(
    {
        "boolean",
        "integer",
        "string",
        "bytes",
        "cid-link",
        "blob",
        "unknown",
        "ref",
        "union",
        "array",
        "object",
    }
)
_PARAM_TYPES = frozenset({"boolean", "integer", "string", "unknown", "array"})
_PARAM_ITEM_TYPES = frozenset({"boolean", "integer", "string", "unknown"})
_BODY_SCHEMA_TYPES = frozenset({"object", "ref", "union"})

# Keys each type accepts besides "type" and "description".
_TYPE_KEYS: Mapping[str, frozenset[str]] = MappingProxyType(
    {
        "boolean": frozenset({"default", "const"}),
        "integer": frozenset({"default", "const", "enum", "minimum", "maximum"}),
        "string": frozenset(
            {
                "format",
                "default",
                "const",
                "enum",
                "knownValues",
                "minLength",
                "maxLength",
                "minGraphemes",
                "maxGraphemes",
            }
        ),
        "bytes": frozenset({"minLength", "maxLength"}),
        "cid-link": frozenset(),
        "blob": frozenset({"accept", "maxSize"}),
        "array": frozenset({"items", "minLength", "maxLength"}),
        "object": frozenset({"properties", "required", "nullable"}),
        "params": frozenset({"properties", "required"}),
        "token": frozenset(),
        "ref": frozenset({"ref"}),
        "union": frozenset({"refs", "closed"}),
        "unknown": frozenset(),
        "record": frozenset({"key", "record"}),
        "query": frozenset({"parameters", "output", "errors"}),
        "procedure": frozenset({"parameters", "input", "output", "errors"}),
        "subscription": frozenset({"parameters", "message", "errors"}),
        "permission-set": frozenset(
            {"title", "title:lang", "detail", "detail:lang", "permissions"}
        ),
    }
)
_DOC_KEYS = frozenset({"lexicon", "id", "revision", "description", "defs", "$type"})
_DEF_NAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_PERMISSION_RESOURCES = frozenset({"repo", "rpc", "blob", "account", "identity"})


@dataclass(frozen=True)
class LexiconDoc:
    """A structurally valid lexicon document (an independent copy of the input)."""

    id: str
    defs: Mapping[str, Mapping[str, Any]]
    revision: int | None = None
    description: str | None = None

    def get(self, name: str) -> Mapping[str, Any] | None:
        return self.defs.get(name)


def split_ref(ref: str, context_nsid: str) -> tuple[str, str]:
    """Resolve a ref string to `(nsid, def name)`: `#x` is local, a bare NSID means `main`."""
    nsid, _, name = ref.partition("#")
    return (nsid or context_nsid, name or "main")


def parse_lexicon(doc: Any) -> LexiconDoc:
    """Check a lexicon document's structure; raise LexiconSchemaError on the first problem."""
    if not isinstance(doc, dict):
        raise LexiconSchemaError("a lexicon document must be a JSON object")
    doc_id = doc.get("id")
    if not isinstance(doc_id, str):
        raise LexiconSchemaError("lexicon 'id' must be a string")
    if not is_valid_nsid(doc_id):
        raise LexiconSchemaError(f"lexicon id {doc_id!r} is not a valid NSID")
    checker = _Checker(doc_id)
    version = doc.get("lexicon")
    if isinstance(version, bool) or version != 1:
        checker.fail("document", f"'lexicon' must be the integer 1, got {version!r}")
    checker.no_extra_keys(doc, _DOC_KEYS, "document")
    revision = doc.get("revision")
    if revision is not None and (isinstance(revision, bool) or not isinstance(revision, int)):
        checker.fail("document", "'revision' must be an integer")
    description = doc.get("description")
    if description is not None and not isinstance(description, str):
        checker.fail("document", "'description' must be a string")
    defs = doc.get("defs")
    if not isinstance(defs, dict) or not defs:
        checker.fail("document", "'defs' must be a non-empty object")
    checker.def_names = frozenset(defs)
    for name, definition in defs.items():
        checker.check_def(name, definition)
    frozen_defs = MappingProxyType(copy.deepcopy(defs))
    return LexiconDoc(id=doc_id, defs=frozen_defs, revision=revision, description=description)


class _Checker:
    """Walks one document; carries its id (for messages and local refs)."""

    def __init__(self, doc_id: str) -> None:
        self.doc_id = doc_id
        self.def_names: frozenset[str] = frozenset()

    def fail(self, where: str, message: str) -> NoReturn:
        raise LexiconSchemaError(f"{self.doc_id}: {where}: {message}")

    def no_extra_keys(self, obj: Mapping[str, Any], allowed: frozenset[str], where: str) -> None:
        extra = sorted(set(obj) - allowed)
        if extra:
            self.fail(where, f"unexpected key(s) {', '.join(map(repr, extra))}")

    # --- definitions ------------------------------------------------------------------------

    def check_def(self, name: Any, definition: Any) -> None:
        where = f"defs.{name}"
        if not isinstance(name, str) or _DEF_NAME_RE.fullmatch(name) is None:
            self.fail("defs", f"invalid definition name {name!r}")
        type_name = self.type_of(definition, where)
        if type_name in PRIMARY_TYPES:
            if name != "main":
                self.fail(where, f"a {type_name} definition must be named 'main'")
            self.check_primary(type_name, definition, where)
        elif type_name in _NAMED_TYPES:
            self.check_field(definition, where, _NAMED_TYPES)
        else:
            self.fail(where, f"type {type_name!r} cannot be a named definition")

    def type_of(self, definition: Any, where: str) -> str:
        if not isinstance(definition, dict):
            self.fail(where, "a schema must be a JSON object")
        type_name = definition.get("type")
        if not isinstance(type_name, str):
            self.fail(where, "missing 'type'")
        return type_name

    def check_primary(self, type_name: str, definition: dict[str, Any], where: str) -> None:
        self.check_keys(type_name, definition, where)
        if type_name == "record":
            self.check_record(definition, where)
        elif type_name == "permission-set":
            self.check_permission_set(definition, where)
        else:
            self.check_method(type_name, definition, where)

    def check_keys(self, type_name: str, definition: Mapping[str, Any], where: str) -> None:
        self.no_extra_keys(definition, _TYPE_KEYS[type_name] | {"type", "description"}, where)
        if "description" in definition and not isinstance(definition["description"], str):
            self.fail(where, "'description' must be a string")

    def check_record(self, definition: dict[str, Any], where: str) -> None:
        key = definition.get("key")
        if not isinstance(key, str) or not _is_valid_record_key_type(key):
            self.fail(where, f"record 'key' must be tid, nsid, any or literal:<rkey>, got {key!r}")
        record = definition.get("record")
        if not isinstance(record, dict) or record.get("type") != "object":
            self.fail(f"{where}.record", "a record's 'record' must be a schema of type object")
        self.check_field(record, f"{where}.record", frozenset({"object"}))

    def check_method(self, type_name: str, definition: dict[str, Any], where: str) -> None:
        if "parameters" in definition:
            self.check_params(definition["parameters"], f"{where}.parameters")
        for body_key in ("input", "output"):
            if body_key in definition:
                self.check_body(definition[body_key], f"{where}.{body_key}")
        if "message" in definition:
            self.check_message(definition["message"], f"{where}.message")
        if "errors" in definition:
            self.check_errors(definition["errors"], f"{where}.errors")

    def check_params(self, params: Any, where: str) -> None:
        if self.type_of(params, where) != "params":
            self.fail(where, "'parameters' must have type 'params'")
        self.check_keys("params", params, where)
        properties = self.check_properties(params, where, _PARAM_TYPES)
        for prop_name, prop in properties.items():
            if prop.get("type") == "array":
                self.check_field(
                    prop["items"], f"{where}.properties.{prop_name}.items", _PARAM_ITEM_TYPES
                )
        self.check_name_list(params, "required", properties, where)

    def check_body(self, body: Any, where: str) -> None:
        if not isinstance(body, dict):
            self.fail(where, "a body must be a JSON object")
        self.no_extra_keys(body, frozenset({"encoding", "schema", "description"}), where)
        encoding = body.get("encoding")
        if not isinstance(encoding, str) or not encoding:
            self.fail(where, "'encoding' must be a non-empty string")
        if "schema" in body:
            self.check_field(body["schema"], f"{where}.schema", _BODY_SCHEMA_TYPES)

    def check_message(self, message: Any, where: str) -> None:
        if not isinstance(message, dict):
            self.fail(where, "'message' must be a JSON object")
        self.no_extra_keys(message, frozenset({"schema", "description"}), where)
        if "schema" in message:
            self.check_field(message["schema"], f"{where}.schema", _BODY_SCHEMA_TYPES)

    def check_errors(self, errors: Any, where: str) -> None:
        if not isinstance(errors, list):
            self.fail(where, "'errors' must be an array")
        for index, error in enumerate(errors):
            here = f"{where}[{index}]"
            if not isinstance(error, dict):
                self.fail(here, "an error must be a JSON object")
            self.no_extra_keys(error, frozenset({"name", "description"}), here)
            name = error.get("name")
            if not isinstance(name, str) or not name or any(c.isspace() for c in name):
                self.fail(here, "error 'name' must be a non-empty string without spaces")
            if "description" in error and not isinstance(error["description"], str):
                self.fail(here, "'description' must be a string")

    def check_permission_set(self, definition: dict[str, Any], where: str) -> None:
        for key in ("title", "detail"):
            if key in definition and not isinstance(definition[key], str):
                self.fail(where, f"{key!r} must be a string")
            lang_key = f"{key}:lang"
            if lang_key in definition:
                by_lang = definition[lang_key]
                if not isinstance(by_lang, dict) or not all(
                    isinstance(v, str) for v in by_lang.values()
                ):
                    self.fail(where, f"{lang_key!r} must map language tags to strings")
        permissions = definition.get("permissions")
        if not isinstance(permissions, list):
            self.fail(where, "'permissions' must be an array")
        for index, permission in enumerate(permissions):
            self.check_permission(permission, f"{where}.permissions[{index}]")

    def check_permission(self, permission: Any, where: str) -> None:
        if self.type_of(permission, where) != "permission":
            self.fail(where, "each entry must have type 'permission'")
        resource = permission.get("resource")
        if resource not in _PERMISSION_RESOURCES:
            self.fail(where, f"unknown permission resource {resource!r}")
        for key, value in permission.items():
            if key in ("type", "resource"):
                continue
            is_str_list = isinstance(value, list) and all(isinstance(v, str) for v in value)
            if not (isinstance(value, (str, bool)) or is_str_list):
                self.fail(where, f"{key!r} must be a string, boolean or array of strings")

    # --- field schemas ----------------------------------------------------------------------

    def check_field(self, schema: Any, where: str, allowed: frozenset[str]) -> None:
        type_name = self.type_of(schema, where)
        if type_name not in allowed:
            self.fail(where, f"type {type_name!r} is not allowed here")
        self.check_keys(type_name, schema, where)
        checks = {
            "boolean": self.check_boolean_type,
            "integer": self.check_integer_type,
            "string": self.check_string_type,
            "bytes": self.check_bytes_type,
            "blob": self.check_blob_type,
            "array": self.check_array_type,
            "object": self.check_object_type,
            "ref": self.check_ref_type,
            "union": self.check_union_type,
        }
        check = checks.get(type_name)
        if check is not None:
            check(schema, where)

    def check_boolean_type(self, schema: dict[str, Any], where: str) -> None:
        for key in ("default", "const"):
            if key in schema and not isinstance(schema[key], bool):
                self.fail(where, f"{key!r} must be a boolean")

    def check_integer_type(self, schema: dict[str, Any], where: str) -> None:
        for key in ("default", "const", "minimum", "maximum"):
            if key in schema and not _is_int(schema[key]):
                self.fail(where, f"{key!r} must be an integer")
        if "enum" in schema and not (
            isinstance(schema["enum"], list) and all(_is_int(v) for v in schema["enum"])
        ):
            self.fail(where, "'enum' must be an array of integers")
        if "minimum" in schema and "maximum" in schema and schema["minimum"] > schema["maximum"]:
            self.fail(where, "'minimum' is greater than 'maximum'")

    def check_string_type(self, schema: dict[str, Any], where: str) -> None:
        fmt = schema.get("format")
        if fmt is not None and fmt not in FORMATS:
            self.fail(where, f"unknown string format {fmt!r}")
        for key in ("default", "const"):
            if key in schema and not isinstance(schema[key], str):
                self.fail(where, f"{key!r} must be a string")
        for key in ("enum", "knownValues"):
            if key in schema and not (
                isinstance(schema[key], list) and all(isinstance(v, str) for v in schema[key])
            ):
                self.fail(where, f"{key!r} must be an array of strings")
        self.check_bounds(schema, where, "minLength", "maxLength")
        self.check_bounds(schema, where, "minGraphemes", "maxGraphemes")

    def check_bytes_type(self, schema: dict[str, Any], where: str) -> None:
        self.check_bounds(schema, where, "minLength", "maxLength")

    def check_blob_type(self, schema: dict[str, Any], where: str) -> None:
        accept = schema.get("accept", [])
        if not isinstance(accept, list) or not all(isinstance(v, str) and v for v in accept):
            self.fail(where, "'accept' must be an array of MIME types")
        if "maxSize" in schema and not (_is_int(schema["maxSize"]) and schema["maxSize"] >= 0):
            self.fail(where, "'maxSize' must be a non-negative integer")

    def check_array_type(self, schema: dict[str, Any], where: str) -> None:
        if "items" not in schema:
            self.fail(where, "an array needs 'items'")
        self.check_field(schema["items"], f"{where}.items", _FIELD_TYPES)
        self.check_bounds(schema, where, "minLength", "maxLength")

    def check_object_type(self, schema: dict[str, Any], where: str) -> None:
        properties = self.check_properties(schema, where, _FIELD_TYPES)
        self.check_name_list(schema, "required", properties, where)
        self.check_name_list(schema, "nullable", properties, where)

    def check_ref_type(self, schema: dict[str, Any], where: str) -> None:
        self.check_ref(schema.get("ref"), where)

    def check_union_type(self, schema: dict[str, Any], where: str) -> None:
        refs = schema.get("refs")
        if not isinstance(refs, list):
            self.fail(where, "a union needs 'refs' (an array)")
        for ref in refs:
            self.check_ref(ref, where)
        if "closed" in schema and not isinstance(schema["closed"], bool):
            self.fail(where, "'closed' must be a boolean")

    # --- helpers ----------------------------------------------------------------------------

    def check_properties(
        self, schema: dict[str, Any], where: str, allowed: frozenset[str]
    ) -> dict[str, Any]:
        properties = schema.get("properties")
        if not isinstance(properties, dict):
            self.fail(where, "'properties' must be a JSON object")
        for prop_name, prop in properties.items():
            if not prop_name:
                self.fail(where, "property names must not be empty")
            self.check_field(prop, f"{where}.properties.{prop_name}", allowed)
        return dict(properties)

    def check_name_list(
        self, schema: dict[str, Any], key: str, properties: dict[str, Any], where: str
    ) -> None:
        names = schema.get(key, [])
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            self.fail(where, f"{key!r} must be an array of property names")
        for name in names:
            if name not in properties:
                self.fail(where, f"{key!r} names {name!r}, which is not a property")

    def check_bounds(self, schema: dict[str, Any], where: str, low: str, high: str) -> None:
        for key in (low, high):
            if key in schema and not (_is_int(schema[key]) and schema[key] >= 0):
                self.fail(where, f"{key!r} must be a non-negative integer")
        if low in schema and high in schema and schema[low] > schema[high]:
            self.fail(where, f"{low!r} is greater than {high!r}")

    def check_ref(self, ref: Any, where: str) -> None:
        if not isinstance(ref, str) or not ref:
            self.fail(where, "a ref must be a non-empty string")
        nsid, hash_sign, name = ref.partition("#")
        if nsid and not is_valid_nsid(nsid):
            self.fail(where, f"ref {ref!r} does not start with a valid NSID")
        if hash_sign and _DEF_NAME_RE.fullmatch(name) is None:
            self.fail(where, f"ref {ref!r} has an invalid definition name")
        if not nsid and name not in self.def_names:
            self.fail(where, f"local ref {ref!r} names no definition in this document")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_valid_record_key_type(key: str) -> bool:
    if key in ("tid", "nsid", "any"):
        return True
    prefix, _, literal = key.partition(":")
    return prefix == "literal" and is_valid_record_key(literal)
