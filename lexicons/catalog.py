"""The Catalog: a set of parsed lexicons, ref resolution, and validation by NSID."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Any, Literal

from lexicons.errors import LexiconSchemaError, LexiconValidationError
from lexicons.paths import ROOT
from lexicons.schema import LexiconDoc, parse_lexicon, split_ref
from lexicons.validate import coerce_params, validate_body, validate_record_value

__all__ = ["Catalog", "MethodKind", "MethodSchema", "RecordSchema", "load_catalog"]

MethodKind = Literal["query", "procedure", "subscription"]
_JSON = "application/json"


@dataclass(frozen=True)
class MethodSchema:
    """What a caller needs to know about an XRPC method without reading its JSON."""

    nsid: str
    kind: MethodKind
    errors: tuple[str, ...]
    input_encoding: str | None
    output_encoding: str | None
    description: str | None = None
    # The raw lexicon def, for tools that translate lexicons (e.g. to OpenAPI).
    definition: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True)
class RecordSchema:
    nsid: str
    key: str  # "tid" | "nsid" | "any" | "literal:<rkey>"
    description: str | None = None
    definition: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)


class Catalog:
    """Parsed lexicon documents keyed by NSID.

    Refs are resolved lazily, at validation time, so documents may be added in any order;
    `unresolved_refs()` reports refs that name nothing in the catalog.
    """

    def __init__(self, docs: Iterable[Mapping[str, Any] | LexiconDoc] = ()) -> None:
        self._docs: dict[str, LexiconDoc] = {}
        for doc in docs:
            self.add(doc)

    # --- contents ---------------------------------------------------------------------------

    def add(self, doc: Mapping[str, Any] | LexiconDoc) -> LexiconDoc:
        """Parse (if needed) and add a document; a second document with the same id is an
        error, since silently replacing a schema would hide which one is in force."""
        parsed = doc if isinstance(doc, LexiconDoc) else parse_lexicon(dict(doc))
        if parsed.id in self._docs:
            raise LexiconSchemaError(f"{parsed.id}: a lexicon with this id is already loaded")
        self._docs[parsed.id] = parsed
        return parsed

    def __contains__(self, nsid: object) -> bool:
        return nsid in self._docs

    def __len__(self) -> int:
        return len(self._docs)

    def __iter__(self) -> Iterator[LexiconDoc]:
        return iter(sorted(self._docs.values(), key=lambda d: d.id))

    def doc(self, nsid: str) -> LexiconDoc | None:
        return self._docs.get(nsid)

    def resolve(self, ref: str, context_nsid: str) -> tuple[str, Mapping[str, Any]]:
        nsid, name = split_ref(ref, context_nsid)
        doc = self._docs.get(nsid)
        definition = doc.get(name) if doc is not None else None
        if definition is None:
            raise LexiconSchemaError(f"{context_nsid}: ref {ref!r} names no loaded definition")
        return nsid, definition

    def unresolved_refs(self) -> tuple[str, ...]:
        """Every `ref`/union member, as `<doc id>: <ref>`, that resolves to nothing."""
        missing: list[str] = []
        for doc in self:
            for ref in _refs_in(doc.defs):
                try:
                    self.resolve(ref, doc.id)
                except LexiconSchemaError:
                    missing.append(f"{doc.id}: {ref}")
        return tuple(missing)

    def method(self, nsid: str) -> MethodSchema | None:
        main = self._main(nsid)
        if main is None or main["type"] not in ("query", "procedure", "subscription"):
            return None
        return MethodSchema(
            nsid=nsid,
            kind=main["type"],
            errors=tuple(error["name"] for error in main.get("errors", [])),
            input_encoding=main.get("input", {}).get("encoding"),
            output_encoding=main.get("output", {}).get("encoding"),
            description=main.get("description"),
            definition=main,
        )

    def record_schema(self, nsid: str) -> RecordSchema | None:
        main = self._main(nsid)
        if main is None or main["type"] != "record":
            return None
        return RecordSchema(
            nsid=nsid, key=main["key"], description=main.get("description"), definition=main
        )

    # --- validation -------------------------------------------------------------------------

    def validate_record(self, nsid: str, value: Any) -> None:
        """Validate a record in JSON form. Its `$type` must be present and equal `nsid`
        (fill it in before validating if a client may omit it, as createRecord allows)."""
        main = self._require(nsid, ("record",))
        validate_record_value(self, nsid, main, value)

    def validate_params(self, nsid: str, raw: Mapping[str, Sequence[str]]) -> dict[str, Any]:
        """Query-string values (as `{name: [values...]}`) to typed parameters; see
        `validate.coerce_params`."""
        main = self._require(nsid, ("query", "procedure", "subscription"))
        return coerce_params(self, nsid, main.get("parameters"), raw)

    def validate_input(self, nsid: str, body: Any) -> None:
        """Validate a procedure's JSON input. Bodies of other encodings (CAR, blobs) are
        the caller's to check; a method that declares no input accepts whatever it is sent."""
        main = self._require(nsid, ("procedure",))
        self._validate_payload(nsid, main.get("input"), body, "input")

    def validate_output(self, nsid: str, body: Any) -> None:
        main = self._require(nsid, ("query", "procedure"))
        self._validate_payload(nsid, main.get("output"), body, "output")

    def validate_message(self, nsid: str, body: Any, message_type: str | None = None) -> None:
        """Validate one subscription message against the message union.

        On the wire a frame header carries the type (`t: "#commit"`) and the body has no
        `$type`; pass that header value as `message_type`. Without it the body itself
        must carry `$type`.
        """
        main = self._require(nsid, ("subscription",))
        message = main.get("message")
        if message_type is not None and message is not None and "schema" in message:
            body = _with_type(body, _qualify(message_type, nsid))
        self._validate_payload(nsid, message, body, "message")

    def _validate_payload(
        self, nsid: str, payload: Mapping[str, Any] | None, body: Any, what: str
    ) -> None:
        if payload is None or "schema" not in payload:
            return
        if payload.get("encoding", _JSON) != _JSON:
            return
        if body is None:
            raise LexiconValidationError(f"{what} body is required", ROOT)
        validate_body(self, nsid, payload["schema"], body)

    def _main(self, nsid: str) -> Mapping[str, Any] | None:
        doc = self._docs.get(nsid)
        return doc.get("main") if doc is not None else None

    def _require(self, nsid: str, types: tuple[str, ...]) -> Mapping[str, Any]:
        main = self._main(nsid)
        if main is None or main["type"] not in types:
            raise LexiconSchemaError(f"no {' or '.join(types)} lexicon for {nsid!r}")
        return main


def _qualify(type_name: str, nsid: str) -> str:
    return f"{nsid}{type_name}" if type_name.startswith("#") else type_name


def _with_type(body: Any, type_name: str) -> Any:
    # A copy: validation must never change the caller's value.
    if isinstance(body, dict) and "$type" not in body:
        return {"$type": type_name, **body}
    return body


def _refs_in(node: Any) -> Iterator[str]:
    if isinstance(node, Mapping):
        if node.get("type") == "ref" and isinstance(node.get("ref"), str):
            yield node["ref"]
        if node.get("type") == "union" and isinstance(node.get("refs"), list):
            yield from node["refs"]
        for value in node.values():
            yield from _refs_in(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs_in(value)


def load_catalog() -> Catalog:
    """A new Catalog holding every lexicon bundled with this package."""
    catalog = Catalog()
    for path in sorted(_json_files(resources.files("lexicons")), key=lambda p: str(p)):
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise LexiconSchemaError(f"{path}: not valid JSON: {exc}") from exc
        catalog.add(doc)
    return catalog


def _json_files(folder: Traversable) -> Iterator[Traversable]:
    for entry in folder.iterdir():
        if entry.is_dir():
            yield from _json_files(entry)
        elif entry.name.endswith(".json"):
            yield entry
