"""Parsing ``application/x-www-form-urlencoded`` request bodies strictly.

OAuth parameters must not repeat (RFC 6749 §3.1); a repeated one is an error rather than a
silent first-or-last pick.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from .errors import invalid_request

FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
MAX_FORM_BYTES = 64 * 1024


def parse_form(body: bytes, content_type: str | None) -> dict[str, str]:
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if media_type != FORM_CONTENT_TYPE:
        raise invalid_request(f"request body must be {FORM_CONTENT_TYPE}")
    if len(body) > MAX_FORM_BYTES:
        raise invalid_request("request body too large")
    try:
        text = body.decode("utf-8")
        pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=False, errors="strict")
    except (UnicodeDecodeError, ValueError) as exc:
        raise invalid_request("request body is not valid form encoding") from exc
    form: dict[str, str] = {}
    for name, value in pairs:
        if name in form:
            raise invalid_request(f"parameter {name!r} is repeated")
        form[name] = value
    return form
