"""Shared scenario types: what a probe sent (in words) and what came back.

Scenarios send requests and return these values; checks judge them. Nothing here decides a
verdict. ``Probe.case`` is a plain description of what was sent ("proof with typ 'jwt'") and
never holds a token or a proof, so checks can quote it in a Failure message.

``parse_www_authenticate`` lives here (not in a check) because scenarios need it too: a probe
that is not about nonces retries once when the server answers ``use_dpop_nonce``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx


@dataclass(frozen=True)
class Probe:
    """One request a scenario sent, described in words, and the response it got."""

    case: str
    response: httpx.Response


@dataclass(frozen=True)
class NegativeProbes:
    """A set of requests that must each be rejected, plus one valid *control* request.

    The control is the same request done right; it must succeed, otherwise the rejections
    prove nothing (a server that rejects everything would pass every negative case).
    """

    control: Probe
    cases: tuple[Probe, ...]


# --- WWW-Authenticate (RFC 9110 §11.6.1) ----------------------------------------------------

_TCHAR = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_TOKEN68 = _TCHAR | frozenset("/")  # token68 = 1*( ALPHA / DIGIT / "-._~+/" ) *"="
_OWS = " \t"


@dataclass(frozen=True)
class Challenge:
    """One authentication challenge: its scheme and auth-params (names lower-cased)."""

    scheme: str
    params: Mapping[str, str] = field(default_factory=dict)
    token68: str | None = None

    def is_scheme(self, scheme: str) -> bool:
        return self.scheme.lower() == scheme.lower()


def _skip(value: str, i: int, chars: str) -> int:
    while i < len(value) and value[i] in chars:
        i += 1
    return i


def _read(value: str, i: int, allowed: frozenset[str]) -> tuple[str, int]:
    start = i
    while i < len(value) and value[i] in allowed:
        i += 1
    return value[start:i], i


def _read_quoted(value: str, i: int) -> tuple[str, int]:
    """Read a quoted-string starting at the opening quote; handles backslash escapes."""
    out: list[str] = []
    i += 1
    while i < len(value):
        ch = value[i]
        if ch == "\\" and i + 1 < len(value):
            out.append(value[i + 1])
            i += 2
            continue
        if ch == '"':
            return "".join(out), i + 1
        out.append(ch)
        i += 1
    return "".join(out), i  # unterminated: take what is there


def _token68_at(value: str, i: int) -> tuple[str, int] | None:
    """A token68 starting at ``i`` that is the whole rest of the challenge, else None."""
    body, j = _read(value, i, _TOKEN68)
    if not body:
        return None
    while j < len(value) and value[j] == "=":
        j += 1
    k = _skip(value, j, _OWS)
    if k < len(value) and value[k] != ",":
        return None  # e.g. `error="..."`: an auth-param, not a token68
    return value[i:j], k


def parse_www_authenticate(values: str | list[str]) -> tuple[Challenge, ...]:
    """Parse one or more ``WWW-Authenticate`` field values into challenges.

    Accepts several challenges per value (``Bearer realm="x", DPoP algs="ES256"``), quoted
    strings with escapes, token68 credentials and surrounding whitespace. Malformed pieces are
    skipped rather than raised: a check reports what it could read.
    """
    challenges: list[Challenge] = []
    for value in [values] if isinstance(values, str) else values:
        # (scheme, params, token68) of the challenge being read; appended when the next starts
        current: tuple[str, dict[str, str], str | None] | None = None
        i = 0
        while i < len(value):
            i = _skip(value, i, _OWS + ",")
            if i >= len(value):
                break
            name, j = _read(value, i, _TCHAR)
            if not name:
                i += 1  # a stray character; skip it
                continue
            k = _skip(value, j, _OWS)
            if current is not None and k < len(value) and value[k] == "=":
                k = _skip(value, k + 1, _OWS)
                if k < len(value) and value[k] == '"':
                    param_value, i = _read_quoted(value, k)
                else:
                    param_value, i = _read(value, k, _TCHAR)
                current[1][name.lower()] = param_value
                continue
            if current is not None:
                challenges.append(Challenge(current[0], current[1], current[2]))
            i = _skip(value, j, _OWS)
            found = _token68_at(value, i)
            token68: str | None = None
            if found is not None:
                token68, i = found
            current = (name, {}, token68)
        if current is not None:
            challenges.append(Challenge(current[0], current[1], current[2]))
    return tuple(challenges)


def challenges_of(response: httpx.Response) -> tuple[Challenge, ...]:
    return parse_www_authenticate(response.headers.get_list("www-authenticate"))


def dpop_challenge(response: httpx.Response) -> Challenge | None:
    """The response's ``DPoP`` challenge (the first, if several), if any."""
    for challenge in challenges_of(response):
        if challenge.is_scheme("DPoP"):
            return challenge
    return None


def dpop_error(response: httpx.Response) -> str | None:
    """The ``error`` auth-param of the response's DPoP challenge."""
    challenge = dpop_challenge(response)
    return None if challenge is None else challenge.params.get("error")


def is_success(response: httpx.Response) -> bool:
    return 200 <= response.status_code < 300


def json_body(response: httpx.Response) -> Any:
    """The parsed JSON body, or None when the body is not JSON."""
    try:
        return json.loads(response.content)
    except (ValueError, UnicodeDecodeError):
        return None


def describe_response(response: httpx.Response) -> str:
    """A one-line, secret-free summary: status, auth challenge or XRPC error name, content type."""
    parts = [str(response.status_code)]
    challenges = challenges_of(response)
    if challenges:
        rendered = []
        for challenge in challenges:
            error = challenge.params.get("error")
            rendered.append(f'{challenge.scheme} error="{error}"' if error else challenge.scheme)
        parts.append(f"WWW-Authenticate: {', '.join(rendered)}")
    body = json_body(response)
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        parts.append(f"error {body['error']!r}")
    content_type = response.headers.get("content-type")
    parts.append(f"content-type {content_type}" if content_type else "no content-type")
    return " ".join([parts[0], f"({'; '.join(parts[1:])})"])


def body_of(response: httpx.Response) -> dict[str, Any] | None:
    """The JSON object of a 2xx response, else None."""
    body = json_body(response) if is_success(response) else None
    return body if isinstance(body, dict) else None


# Bounds every pagination loop, so a target answering the same cursor forever cannot hang a run.
MAX_PAGES = 50


def list_all(
    fetch: Callable[[str | None], httpx.Response], case: str, *, max_pages: int = MAX_PAGES
) -> tuple[Probe, ...]:
    """Every page of a cursor-paginated list (at most ``max_pages``), in order."""
    pages: list[Probe] = []
    cursor: str | None = None
    for index in range(max_pages):
        response = fetch(cursor)
        pages.append(Probe(case if index == 0 else f"{case} (page {index + 1})", response))
        body = body_of(response)
        next_cursor = body.get("cursor") if body is not None else None
        if not isinstance(next_cursor, str) or not next_cursor or next_cursor == cursor:
            break
        cursor = next_cursor
    return tuple(pages)
