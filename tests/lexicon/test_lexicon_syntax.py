"""String format checks against the interop syntax vectors, plus a few edges of our own."""

from __future__ import annotations

import pytest

from lexicons import syntax
from lexicons.syntax import FORMATS, validate_format


def test_syntax_vector(syntax_vector) -> None:
    assert validate_format(syntax_vector.fmt, syntax_vector.value) is syntax_vector.valid


def test_parse_invalid_vector(parse_invalid_vector) -> None:
    """`datetime_parse_invalid.txt` and `language_parse_invalid.txt` hold values that match
    the surface grammar but are not real values: month 0, hour 25, an offset that puts the
    instant before year 0; a BCP 47 tag repeating a variant or extension singleton (RFC 5646
    section 2.2.9). We read them as "a validator must reject these too": a lexicon `format`
    promises a usable value, not just a well-shaped string."""
    assert validate_format(parse_invalid_vector.fmt, parse_invalid_vector.value) is False


def test_every_lexicon_format_has_a_check() -> None:
    expected = {
        "at-identifier", "at-uri", "cid", "datetime", "did", "handle",
        "language", "nsid", "record-key", "tid", "uri",
    }  # fmt: skip
    assert set(FORMATS) == expected


def test_unknown_format_is_a_schema_error_not_a_pass() -> None:
    with pytest.raises(ValueError, match="unknown lexicon string format"):
        validate_format("email", "a@b.test")


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("2024-02-29T12:00:00Z", True),  # leap year
        ("2023-02-29T12:00:00Z", False),  # not a leap year
        ("1900-02-29T12:00:00Z", False),  # century rule
        ("2000-02-29T12:00:00Z", True),  # 400-year rule
        ("2024-04-31T00:00:00Z", False),
        ("2024-01-01T00:00:60Z", False),  # no leap seconds
        ("0000-01-01T01:00:00+01:00", True),  # exactly the earliest instant
        ("0000-01-01T00:59:59+01:00", False),
        ("2024-01-01T00:00:00+24:00", False),
    ],
)
def test_datetime_calendar_edges(value: str, valid: bool) -> None:
    assert syntax.is_valid_datetime(value) is valid


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("did:plc:abc%2F", True),
        ("did:plc:abc%2Fdef", True),
        ("did:plc:abc%zzdef", False),  # % must start a %XX escape
        ("did:plc:caf\u00e9", False),
    ],
)
def test_did_percent_and_ascii(value: str, valid: bool) -> None:
    assert syntax.is_valid_did(value) is valid


def test_record_key_length_limit() -> None:
    assert syntax.is_valid_record_key("a" * 512)
    assert not syntax.is_valid_record_key("a" * 513)
