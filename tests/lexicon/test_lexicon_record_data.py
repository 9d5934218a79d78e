"""Record validation against the interop catalog lexicons."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from lexicons import Catalog, LexiconSchemaError, LexiconValidationError

RECORD_NSID = "example.lexicon.record"
CID = "bafyreiclp443lavogvhj3d2ob2cxbfuscni2k5jk7bebjzg7khl3esabwq"


@pytest.fixture
def interop_catalog(interop_dir: Path) -> Catalog:
    catalog = Catalog()
    for path in sorted((interop_dir / "lexicon" / "catalog").glob("*.json")):
        catalog.add(json.loads(path.read_text(encoding="utf-8")))
    return catalog


def test_record_data_vector(interop_catalog: Catalog, record_data_vector) -> None:
    if record_data_vector.valid:
        interop_catalog.validate_record(RECORD_NSID, record_data_vector.value)
    else:
        with pytest.raises(LexiconValidationError):
            interop_catalog.validate_record(RECORD_NSID, record_data_vector.value)


@pytest.mark.parametrize(
    "unknown_value",
    [
        pytest.param(False, id="bool"),
        pytest.param({"$bytes": "123"}, id="bytes"),
        pytest.param(
            {"$type": "blob", "mimeType": "text/plain", "size": 1, "ref": {"$link": CID}},
            id="blob",
        ),
    ],
)
def test_unknown_field_rejects_non_objects(interop_catalog: Catalog, unknown_value: Any) -> None:
    """The interop "unknown wrong type" vectors also lack the required `integer`, so they
    would fail even if `unknown` accepted anything; here only `unknown` is wrong."""
    record = {"$type": RECORD_NSID, "integer": 1, "unknown": unknown_value}
    with pytest.raises(LexiconValidationError) as caught:
        interop_catalog.validate_record(RECORD_NSID, record)
    assert caught.value.path == "$.unknown"


def test_record_type_must_match_collection(interop_catalog: Catalog) -> None:
    with pytest.raises(LexiconValidationError, match=r"\$type is 'example.lexicon.other'"):
        interop_catalog.validate_record(
            RECORD_NSID, {"$type": "example.lexicon.other", "integer": 1}
        )
    with pytest.raises(LexiconValidationError, match="missing \\$type"):
        interop_catalog.validate_record(RECORD_NSID, {"integer": 1})


def test_validation_leaves_the_value_untouched(interop_catalog: Catalog) -> None:
    record = {"$type": RECORD_NSID, "integer": 1, "union": {"$type": f"{RECORD_NSID}#demoObject"}}
    snapshot = json.loads(json.dumps(record))
    interop_catalog.validate_record(RECORD_NSID, record)
    assert record == snapshot


def test_union_type_may_spell_main_explicitly(interop_catalog: Catalog) -> None:
    catalog = interop_catalog
    catalog.add(
        {
            "lexicon": 1,
            "id": "example.lexicon.holder",
            "defs": {
                "main": {
                    "type": "record",
                    "key": "any",
                    "record": {
                        "type": "object",
                        "properties": {
                            "u": {"type": "union", "refs": [RECORD_NSID], "closed": True}
                        },
                    },
                }
            },
        }
    )
    inner = {"integer": 5}
    for type_name in (RECORD_NSID, f"{RECORD_NSID}#main"):
        value = {"$type": "example.lexicon.holder", "u": {"$type": type_name, **inner}}
        catalog.validate_record("example.lexicon.holder", value)
    bad = {"$type": "example.lexicon.holder", "u": {"$type": RECORD_NSID, "integer": "x"}}
    with pytest.raises(LexiconValidationError) as caught:
        catalog.validate_record("example.lexicon.holder", bad)
    assert caught.value.path == "$.u.integer"


def test_missing_ref_target_is_a_schema_error(interop_catalog: Catalog) -> None:
    # example.lexicon.procedure refs app.bsky.actor.defs#preferences, which is not loaded.
    assert interop_catalog.unresolved_refs() == (
        "example.lexicon.procedure: app.bsky.actor.defs#preferences",
    )
    with pytest.raises(LexiconSchemaError, match="names no loaded definition"):
        interop_catalog.validate_input("example.lexicon.procedure", {"preferences": {}})


def test_adding_the_same_id_twice_is_refused(interop_catalog: Catalog, interop_dir: Path) -> None:
    doc = json.loads((interop_dir / "lexicon" / "catalog" / "record.json").read_text())
    with pytest.raises(LexiconSchemaError, match="already loaded"):
        interop_catalog.add(doc)
