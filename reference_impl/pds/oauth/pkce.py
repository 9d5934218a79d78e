"""PKCE (RFC 7636), S256 only: ``plain`` would let a stolen code be redeemed."""

from __future__ import annotations

import hashlib
import hmac
import re

from ...common.dpop import b64url

# A SHA-256 digest in base64url is exactly 43 characters.
_CHALLENGE = re.compile(r"[A-Za-z0-9_-]{43}")
# RFC 7636 §4.1: 43-128 unreserved characters.
_VERIFIER = re.compile(r"[A-Za-z0-9._~-]{43,128}")


def challenge_problem(challenge: str | None, method: str | None) -> str | None:
    """Why a PAR's PKCE parameters are unacceptable, or None when they are fine."""
    if not challenge:
        return "code_challenge is required"
    if method is None:
        # RFC 7636 defaults a missing method to "plain", which is not supported.
        return "code_challenge_method is required and must be S256"
    if method != "S256":
        return f"code_challenge_method {method!r} is not supported; use S256"
    if not _CHALLENGE.fullmatch(challenge):
        return "code_challenge is not a base64url SHA-256 digest"
    return None


def s256(verifier: str) -> str:
    return b64url(hashlib.sha256(verifier.encode("ascii")).digest())


def verifier_matches(verifier: str | None, challenge: str) -> bool:
    if verifier is None or not _VERIFIER.fullmatch(verifier):
        return False
    return hmac.compare_digest(s256(verifier), challenge)
