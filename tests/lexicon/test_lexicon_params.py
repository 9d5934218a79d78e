"""Query-string parameters: coercion, defaults, required, arrays."""

from __future__ import annotations

import pytest

from lexicons import Catalog, LexiconSchemaError, LexiconValidationError

TIMELINE = "zone.stratos.feed.getTimeline"
LIST_RECORDS = "com.atproto.repo.listRecords"
DID = "did:plc:ewvi7nxzyoun6zhxrhs64oiz"


def test_default_applied_when_absent(catalog: Catalog) -> None:
    assert catalog.validate_params(TIMELINE, {}) == {"limit": 50}


def test_integer_coerced(catalog: Catalog) -> None:
    assert catalog.validate_params(TIMELINE, {"limit": ["25"], "cursor": ["abc"]}) == {
        "limit": 25,
        "cursor": "abc",
    }


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("abc", "expected an integer, got 'abc'"),
        ("2.5", "expected an integer"),
        ("", "expected an integer"),
        ("200", "at most 100, got 200"),
        ("0", "at least 1, got 0"),
    ],
)
def test_bad_limit_rejected(catalog: Catalog, raw: str, message: str) -> None:
    with pytest.raises(LexiconValidationError) as caught:
        catalog.validate_params(TIMELINE, {"limit": [raw]})
    assert caught.value.path == "$.limit"
    assert message in caught.value.message


def test_huge_integer_is_a_validation_error_not_a_crash(catalog: Catalog) -> None:
    with pytest.raises(LexiconValidationError, match="out of range"):
        catalog.validate_params(TIMELINE, {"limit": ["9" * 5000]})


def test_single_value_mapping_is_accepted(catalog: Catalog) -> None:
    # e.g. a framework's query-params object whose get() returns one string
    assert catalog.validate_params(TIMELINE, {"limit": "25"}) == {"limit": 25}


def test_boolean_coerced_and_checked(catalog: Catalog) -> None:
    raw = {"repo": [DID], "collection": ["zone.stratos.feed.post"], "reverse": ["true"]}
    params = catalog.validate_params(LIST_RECORDS, raw)
    assert params["reverse"] is True
    assert params["limit"] == 50
    with pytest.raises(LexiconValidationError, match="expected true or false, got 'yes'"):
        catalog.validate_params(LIST_RECORDS, {**raw, "reverse": ["yes"]})


def test_required_params(catalog: Catalog) -> None:
    with pytest.raises(LexiconValidationError) as caught:
        catalog.validate_params(LIST_RECORDS, {"repo": [DID]})
    assert caught.value.path == "$.collection"
    assert "required parameter 'collection' is missing" in caught.value.message


def test_formats_checked_in_params(catalog: Catalog) -> None:
    with pytest.raises(LexiconValidationError) as caught:
        catalog.validate_params("zone.stratos.enrollment.status", {"did": ["alice.test"]})
    assert caught.value.path == "$.did"
    assert "not a valid did" in caught.value.message


def test_unknown_params_ignored(catalog: Catalog) -> None:
    assert catalog.validate_params(TIMELINE, {"limit": ["5"], "utm_source": ["x"]}) == {"limit": 5}


def test_repeated_key_for_scalar_rejected(catalog: Catalog) -> None:
    with pytest.raises(LexiconValidationError, match="takes one value, got 2"):
        catalog.validate_params(TIMELINE, {"limit": ["5", "6"]})


def test_arrays_from_repeated_keys() -> None:
    catalog = Catalog()
    catalog.add(
        {
            "lexicon": 1,
            "id": "com.example.getThings",
            "defs": {
                "main": {
                    "type": "query",
                    "parameters": {
                        "type": "params",
                        "properties": {
                            "ids": {
                                "type": "array",
                                "maxLength": 3,
                                "items": {"type": "integer", "minimum": 0},
                            },
                            "flag": {"type": "boolean", "default": False},
                        },
                    },
                }
            },
        }
    )
    assert catalog.validate_params("com.example.getThings", {"ids": ["1", "2"]}) == {
        "ids": [1, 2],
        "flag": False,
    }
    with pytest.raises(LexiconValidationError) as caught:
        catalog.validate_params("com.example.getThings", {"ids": ["1", "x"]})
    assert caught.value.path == "$.ids[1]"
    with pytest.raises(LexiconValidationError, match="at most 3 items"):
        catalog.validate_params("com.example.getThings", {"ids": ["1", "2", "3", "4"]})


def test_method_without_params_returns_empty(catalog: Catalog) -> None:
    assert catalog.validate_params("zone.stratos.server.listDomains", {"x": ["1"]}) == {}


def test_params_of_unknown_method_is_a_schema_error(catalog: Catalog) -> None:
    with pytest.raises(LexiconSchemaError, match=r"com\.example\.nothing"):
        catalog.validate_params("com.example.nothing", {})
