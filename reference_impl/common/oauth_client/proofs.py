"""Client-side DPoP: proofs, and reading what servers say about nonces and tokens."""

from __future__ import annotations

import json
import re
import secrets
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from ...primitives.keys import SigningKey
from ..dpop import access_token_hash
from ..jwt_keys import sign_jwt

_CHALLENGE_ERROR = re.compile(r'\berror\s*=\s*"?([A-Za-z0-9_\-]+)"?', re.IGNORECASE)


def htu_of(url: str) -> str:
    """The ``htu`` of a request URL: no query, no fragment (RFC 9449 §4.2)."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path or "/", "", ""))


def dpop_proof(
    key: SigningKey,
    method: str,
    url: str,
    now: float,
    *,
    nonce: str | None = None,
    access_token: str | None = None,
) -> str:
    claims: dict[str, Any] = {
        "jti": secrets.token_urlsafe(18),
        "htm": method.upper(),
        "htu": htu_of(url),
        "iat": int(now),
    }
    if nonce is not None:
        claims["nonce"] = nonce
    if access_token is not None:
        claims["ath"] = access_token_hash(access_token)
    return sign_jwt(claims, key, {"typ": "dpop+jwt", "jwk": key.public_jwk()})


def _json_error(response: httpx.Response) -> str | None:
    try:
        body = json.loads(response.content)
    except (ValueError, UnicodeDecodeError):
        return None
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, str) else None


def challenge_errors(response: httpx.Response) -> set[str]:
    """``error`` values of the response's ``WWW-Authenticate: DPoP ...`` challenges."""
    found: set[str] = set()
    for value in response.headers.get_list("www-authenticate"):
        found.update(m.group(1) for m in _CHALLENGE_ERROR.finditer(value))
    return found


def wants_nonce(response: httpx.Response) -> bool:
    """A ``use_dpop_nonce`` answer: 401 with the challenge at a resource server, 400 with the
    OAuth error body at an authorization server."""
    if response.status_code not in (400, 401):
        return False
    return "use_dpop_nonce" in challenge_errors(response) or _json_error(response) == (
        "use_dpop_nonce"
    )


def token_rejected(response: httpx.Response) -> bool:
    """The resource server refused the access token itself (expired or revoked)."""
    if response.status_code != 401:
        return False
    return "invalid_token" in challenge_errors(response) or _json_error(response) in (
        "InvalidToken",
        "ExpiredToken",
        "invalid_token",
    )


def oauth_error(response: httpx.Response) -> str | None:
    """The ``error`` code of an OAuth error body, if any."""
    return _json_error(response)
