"""String syntax checks for the ATProto identifier types and lexicon string formats.

Each check is a pure function `str -> bool`. They follow the ATProto specs and agree with the
interop test vectors (`syntax/*.txt`). Inputs are never trimmed: surrounding whitespace makes
a value invalid.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from types import MappingProxyType

__all__ = [
    "FORMATS",
    "is_valid_at_identifier",
    "is_valid_at_uri",
    "is_valid_cid",
    "is_valid_datetime",
    "is_valid_did",
    "is_valid_handle",
    "is_valid_language",
    "is_valid_nsid",
    "is_valid_record_key",
    "is_valid_tid",
    "is_valid_uri",
    "validate_format",
]

# --- DID ------------------------------------------------------------------------------------

_DID_MAX = 2048
# The method is lowercase letters only; the identifier may hold ':' but may not end with it
# (nor with '%', which is only allowed as the start of a %XX escape).
_DID_RE = re.compile(r"did:[a-z]+:[a-zA-Z0-9._:%-]*[a-zA-Z0-9._-]")
_BAD_PERCENT_RE = re.compile(r"%(?![0-9a-fA-F]{2})")


def is_valid_did(value: str) -> bool:
    if len(value) > _DID_MAX or not value.isascii():
        return False
    if _DID_RE.fullmatch(value) is None:
        return False
    return _BAD_PERCENT_RE.search(value) is None


# --- Handle ---------------------------------------------------------------------------------

_HANDLE_MAX = 253
# Labels are DNS labels (1-63 chars, no leading/trailing hyphen); the last label (TLD) must
# start with a letter, which rules out IP addresses and "john.0".
_HANDLE_RE = re.compile(
    r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?\.)+"
    r"[a-zA-Z](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?"
)


def is_valid_handle(value: str) -> bool:
    return len(value) <= _HANDLE_MAX and value.isascii() and _HANDLE_RE.fullmatch(value) is not None


# --- NSID -----------------------------------------------------------------------------------

_NSID_MAX = 317
# Reversed domain authority (at least two labels, first one starting with a letter), then a
# name segment of letters and digits that starts with a letter.
_NSID_RE = re.compile(
    r"[a-zA-Z](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?"
    r"(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)+"
    r"\.[a-zA-Z][a-zA-Z0-9]{0,62}"
)


def is_valid_nsid(value: str) -> bool:
    return len(value) <= _NSID_MAX and value.isascii() and _NSID_RE.fullmatch(value) is not None


# --- TID and record key ---------------------------------------------------------------------

# base32-sortable, 13 chars; the first char keeps the top bit of the 64-bit value zero.
_TID_RE = re.compile(r"[234567abcdefghij][234567abcdefghijklmnopqrstuvwxyz]{12}")


def is_valid_tid(value: str) -> bool:
    return _TID_RE.fullmatch(value) is not None


_RKEY_RE = re.compile(r"[a-zA-Z0-9_~.:-]{1,512}")


def is_valid_record_key(value: str) -> bool:
    return value not in (".", "..") and _RKEY_RE.fullmatch(value) is not None


# --- AT identifier and AT-URI ---------------------------------------------------------------


def is_valid_at_identifier(value: str) -> bool:
    if value.startswith("did:"):
        return is_valid_did(value)
    return is_valid_handle(value)


_AT_URI_MAX = 8 * 1024


def is_valid_at_uri(value: str) -> bool:
    """The restricted AT-URI form lexicons use: `at://<authority>[/<nsid>[/<rkey>]]`.

    No query, no fragment, no trailing slash.
    """
    if len(value) > _AT_URI_MAX or not value.startswith("at://"):
        return False
    parts = value[len("at://") :].split("/")
    if len(parts) > 3:
        return False
    if not is_valid_at_identifier(parts[0]):
        return False
    if len(parts) >= 2 and not is_valid_nsid(parts[1]):
        return False
    return len(parts) < 3 or is_valid_record_key(parts[2])


# --- Datetime -------------------------------------------------------------------------------

# RFC 3339 restricted to the ISO 8601 intersection: uppercase T and Z, seconds required,
# fractional seconds optional (at least one digit), offset required and never "-00:00".
_DATETIME_RE = re.compile(
    r"(?P<year>[0-9]{4})-(?P<month>[0-9]{2})-(?P<day>[0-9]{2})"
    r"T(?P<hour>[0-9]{2}):(?P<minute>[0-9]{2}):(?P<second>[0-9]{2})(?:\.[0-9]+)?"
    r"(?P<tz>Z|[+-][0-9]{2}:[0-9]{2})"
)
_DAYS_IN_MONTH = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _is_leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def is_valid_datetime(value: str) -> bool:
    """Syntax plus meaning: the calendar fields must exist and the instant must not fall
    before 0000-01-01T00:00:00Z once normalised to UTC."""
    match = _DATETIME_RE.fullmatch(value)
    if match is None:
        return False
    year, month, day = int(match["year"]), int(match["month"]), int(match["day"])
    hour, minute, second = int(match["hour"]), int(match["minute"]), int(match["second"])
    if not 1 <= month <= 12:
        return False
    days = _DAYS_IN_MONTH[month - 1] + (1 if month == 2 and _is_leap(year) else 0)
    if not 1 <= day <= days or hour > 23 or minute > 59 or second > 59:
        return False
    tz = match["tz"]
    if tz == "-00:00":
        return False
    if tz != "Z":
        off_hours, off_minutes = int(tz[1:3]), int(tz[4:6])
        if off_hours > 23 or off_minutes > 59:
            return False
        # A positive offset moves the UTC instant earlier; only year 0 can underflow.
        if tz[0] == "+" and year == 0:
            offset = off_hours * 60 + off_minutes
            leap_day = 1 if month > 2 and _is_leap(year) else 0
            day_of_year = sum(_DAYS_IN_MONTH[: month - 1]) + leap_day + day - 1
            minutes_into_year = day_of_year * 1440 + hour * 60 + minute
            if minutes_into_year < offset:
                return False
    return True


# --- CID (string form) ----------------------------------------------------------------------

# Loose multibase shape, as the spec allows; CIDv0 ("Qm...") is not accepted.
_CID_RE = re.compile(r"[a-zA-Z0-9+=]{8,256}")


def is_valid_cid(value: str) -> bool:
    return _CID_RE.fullmatch(value) is not None and not value.startswith("Qm")


# --- Language (BCP 47) ----------------------------------------------------------------------

# RFC 5646 grandfathered tags, matched case-insensitively as whole tags.
_GRANDFATHERED = frozenset(
    tag.lower()
    for tag in (
        "en-GB-oed",
        "i-ami",
        "i-bnn",
        "i-default",
        "i-enochian",
        "i-hak",
        "i-klingon",
        "i-lux",
        "i-mingo",
        "i-navajo",
        "i-pwn",
        "i-tao",
        "i-tay",
        "i-tsu",
        "sgn-BE-FR",
        "sgn-BE-NL",
        "sgn-CH-DE",
        "art-lojban",
        "cel-gaulish",
        "no-bok",
        "no-nyn",
        "zh-guoyu",
        "zh-hakka",
        "zh-min",
        "zh-min-nan",
        "zh-xiang",
    )
)
# The primary language subtag must be lowercase (the vectors reject "JA"); the other subtags
# are case-insensitive as in RFC 5646.
_LANGTAG_RE = re.compile(
    r"(?P<language>[a-z]{2,3}(?:-[A-Za-z]{3}){0,3}|[a-z]{5,8})"
    r"(?:-(?P<script>[A-Za-z]{4}))?"
    r"(?:-(?P<region>[A-Za-z]{2}|[0-9]{3}))?"
    r"(?P<variants>(?:-(?:[A-Za-z0-9]{5,8}|[0-9][A-Za-z0-9]{3}))*)"
    r"(?P<extensions>(?:-[0-9A-WY-Za-wy-z](?:-[A-Za-z0-9]{2,8})+)*)"
    r"(?:-[xX](?:-[A-Za-z0-9]{1,8})+)?"
)
_PRIVATE_USE_RE = re.compile(r"[xX](?:-[A-Za-z0-9]{1,8})+")


def _has_duplicates(items: list[str]) -> bool:
    lowered = [item.lower() for item in items]
    return len(set(lowered)) != len(lowered)


def is_valid_language(value: str) -> bool:
    """BCP 47 tag, also "valid" in the RFC 5646 sense: no repeated variant subtag and no
    repeated extension singleton (both compared case-insensitively)."""
    if value.lower() in _GRANDFATHERED or _PRIVATE_USE_RE.fullmatch(value):
        return True
    match = _LANGTAG_RE.fullmatch(value)
    if match is None:
        return False
    variants = [v for v in match["variants"].split("-") if v]
    singletons = [s for s in match["extensions"].split("-") if len(s) == 1]
    return not _has_duplicates(variants) and not _has_duplicates(singletons)


# --- Generic URI ----------------------------------------------------------------------------

_URI_MAX = 8 * 1024
# RFC 3986 scheme, then something that is not empty and holds no whitespace.
_URI_RE = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*:(?://)?[^\s/][^\s]*")


def is_valid_uri(value: str) -> bool:
    return len(value) <= _URI_MAX and _URI_RE.fullmatch(value) is not None


# --- Lexicon string formats -----------------------------------------------------------------

FORMATS: Mapping[str, Callable[[str], bool]] = MappingProxyType(
    {
        "at-identifier": is_valid_at_identifier,
        "at-uri": is_valid_at_uri,
        "cid": is_valid_cid,
        "datetime": is_valid_datetime,
        "did": is_valid_did,
        "handle": is_valid_handle,
        "language": is_valid_language,
        "nsid": is_valid_nsid,
        "record-key": is_valid_record_key,
        "tid": is_valid_tid,
        "uri": is_valid_uri,
    }
)


def validate_format(fmt: str, value: str) -> bool:
    """True when `value` matches the lexicon string `format` named `fmt`.

    An unknown format name is a schema bug, so it raises ValueError rather than passing.
    """
    check = FORMATS.get(fmt)
    if check is None:
        raise ValueError(f"unknown lexicon string format {fmt!r}")
    return check(value)
