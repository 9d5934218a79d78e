"""Lexicon document structure: the interop vectors, and mistakes we want caught in our own."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from lexicons import LexiconSchemaError, parse_lexicon


def test_lexicon_vector(lexicon_vector) -> None:
    if lexicon_vector.valid:
        doc = parse_lexicon(lexicon_vector.value)
        assert doc.id == lexicon_vector.value["id"]
        assert set(doc.defs) == set(lexicon_vector.value["defs"])
    else:
        with pytest.raises(LexiconSchemaError):
            parse_lexicon(lexicon_vector.value)


def test_interop_catalog_documents_parse(interop_dir: Path) -> None:
    paths = sorted((interop_dir / "lexicon" / "catalog").glob("*.json"))
    assert paths
    for path in paths:
        doc = json.loads(path.read_text(encoding="utf-8"))
        assert parse_lexicon(doc).id == doc["id"]


def _record_doc() -> dict[str, Any]:
    return {
        "lexicon": 1,
        "id": "com.example.thing",
        "defs": {
            "main": {
                "type": "record",
                "key": "tid",
                "record": {
                    "type": "object",
                    "required": ["name"],
                    "properties": {
                        "name": {"type": "string", "maxLength": 10},
                        "part": {"type": "ref", "ref": "#part"},
                    },
                },
            },
            "part": {"type": "object", "properties": {"n": {"type": "integer"}}},
        },
    }


def test_parsed_doc_is_a_copy() -> None:
    source = _record_doc()
    doc = parse_lexicon(source)
    source["defs"]["main"]["record"]["properties"]["name"]["maxLength"] = 99
    assert doc.defs["main"]["record"]["properties"]["name"]["maxLength"] == 10


def _broken(change: str) -> dict[str, Any]:
    doc = copy.deepcopy(_record_doc())
    record = doc["defs"]["main"]["record"]
    if change == "typo in constraint":
        record["properties"]["name"] = {"type": "string", "maxlength": 10}
    elif change == "required names no property":
        record["required"] = ["nmae"]
    elif change == "dangling local ref":
        record["properties"]["part"]["ref"] = "#prat"
    elif change == "unknown format":
        record["properties"]["name"] = {"type": "string", "format": "email"}
    elif change == "bad record key type":
        doc["defs"]["main"]["key"] = "uuid"
    elif change == "maxLength not an integer":
        record["properties"]["name"] = {"type": "string", "maxLength": "10"}
    elif change == "minimum above maximum":
        record["properties"]["name"] = {"type": "integer", "minimum": 5, "maximum": 1}
    elif change == "array without items":
        record["properties"]["name"] = {"type": "array"}
    elif change == "token as a field":
        record["properties"]["name"] = {"type": "token"}
    elif change == "lexicon version true":
        doc["lexicon"] = True
    return doc


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("typo in constraint", "unexpected key(s) 'maxlength'"),
        ("required names no property", "'nmae', which is not a property"),
        ("dangling local ref", "local ref '#prat'"),
        ("unknown format", "unknown string format 'email'"),
        ("bad record key type", "record 'key'"),
        ("maxLength not an integer", "'maxLength' must be a non-negative integer"),
        ("minimum above maximum", "'minimum' is greater than 'maximum'"),
        ("array without items", "an array needs 'items'"),
        ("token as a field", "type 'token' is not allowed here"),
        ("lexicon version true", "'lexicon' must be the integer 1"),
    ],
)
def test_schema_mistakes_are_reported_clearly(change: str, message: str) -> None:
    with pytest.raises(LexiconSchemaError) as caught:
        parse_lexicon(_broken(change))
    assert message in str(caught.value)
    assert str(caught.value).startswith("com.example.thing")


def test_method_errors_need_names() -> None:
    doc = {
        "lexicon": 1,
        "id": "com.example.doThing",
        "defs": {"main": {"type": "procedure", "errors": [{"description": "no name"}]}},
    }
    with pytest.raises(LexiconSchemaError, match="error 'name'"):
        parse_lexicon(doc)


def test_params_may_not_hold_objects() -> None:
    doc = {
        "lexicon": 1,
        "id": "com.example.getThing",
        "defs": {
            "main": {
                "type": "query",
                "parameters": {
                    "type": "params",
                    "properties": {"filter": {"type": "object", "properties": {}}},
                },
            }
        },
    }
    with pytest.raises(LexiconSchemaError, match="type 'object' is not allowed here"):
        parse_lexicon(doc)
