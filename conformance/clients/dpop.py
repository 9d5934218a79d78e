"""Client-side DPoP (RFC 9449): keys, thumbprints and proofs.

``make_dpop_proof`` is a pure function (given its clock and jti inputs) so suites, the fuzzer and
load profiles all build proofs the same way; the probes that send deliberately wrong proofs use
its keyword arguments instead of hand-building JWTs.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

# RFC 7638 §3.2: the required members of each key type, in lexicographic order.
_THUMBPRINT_MEMBERS = {"EC": ("crv", "kty", "x", "y"), "RSA": ("e", "kty", "n"), "OKP": ("crv", "kty", "x")}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def jwk_thumbprint(jwk: dict[str, Any]) -> str:
    """RFC 7638 JWK thumbprint (SHA-256, base64url without padding)."""
    members = _THUMBPRINT_MEMBERS.get(jwk.get("kty", ""))
    if members is None:
        raise ValueError(f"unsupported JWK key type {jwk.get('kty')!r}")
    canonical = json.dumps({m: jwk[m] for m in members}, separators=(",", ":"), sort_keys=True)
    return b64url(hashlib.sha256(canonical.encode("utf-8")).digest())


def access_token_hash(access_token: str) -> str:
    """The ``ath`` claim: base64url(SHA-256(ASCII access token))."""
    return b64url(hashlib.sha256(access_token.encode("ascii")).digest())


@dataclass(frozen=True)
class DpopKey:
    """An ES256 key pair a client binds its tokens to. The private half never leaves memory."""

    private_key: ec.EllipticCurvePrivateKey = field(repr=False)

    @classmethod
    def generate(cls) -> DpopKey:
        return cls(ec.generate_private_key(ec.SECP256R1()))

    @property
    def public_jwk(self) -> dict[str, Any]:
        jwk: dict[str, Any] = ECAlgorithm.to_jwk(self.private_key.public_key(), as_dict=True)
        return {k: jwk[k] for k in ("kty", "crv", "x", "y")}

    @property
    def thumbprint(self) -> str:
        return jwk_thumbprint(self.public_jwk)


def htu_of(url: str) -> str:
    """The ``htu`` for a request URL: scheme, host, port and path; no query or fragment."""
    without_fragment = url.split("#", 1)[0]
    return without_fragment.split("?", 1)[0]


def make_dpop_proof(
    key: DpopKey,
    htm: str,
    htu: str,
    *,
    nonce: str | None = None,
    access_token: str | None = None,
    iat: float | None = None,
    jti: str | None = None,
    typ: str = "dpop+jwt",
    extra_claims: dict[str, Any] | None = None,
    header_jwk: dict[str, Any] | None = None,
) -> str:
    """Build one DPoP proof JWT.

    Defaults give a conforming proof; probes override ``iat``, ``jti``, ``typ``, ``htm``/``htu``
    or the header ``jwk`` to produce the specific violation a requirement is about.
    ``htu`` is used as given, so callers pass ``htu_of(url)`` for a correct one.
    """
    claims: dict[str, Any] = {
        "jti": jti if jti is not None else secrets.token_urlsafe(16),
        "htm": htm,
        "htu": htu,
        "iat": int(iat if iat is not None else time.time()),
    }
    if nonce is not None:
        claims["nonce"] = nonce
    if access_token is not None:
        claims["ath"] = access_token_hash(access_token)
    if extra_claims:
        claims.update(extra_claims)
    headers = {"typ": typ, "jwk": header_jwk if header_jwk is not None else key.public_jwk}
    return jwt.encode(claims, key.private_key, algorithm="ES256", headers=headers)
