"""Access tokens (ES256 JWTs, RFC 9068 shape) and the opaque secrets the server hands out.

Access tokens are self-contained so a resource server can check them with the AS's JWKS; the
server also records each token id so revocation takes effect before ``exp``. Refresh tokens,
codes and request URIs are random strings stored only as hashes.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

from ...common.dpop import b64url, jwk_thumbprint

ACCESS_TOKEN_TYP = "at+jwt"  # noqa: S105 - RFC 9068 media type
ACCESS_TOKEN_ALG = "ES256"  # noqa: S105 - algorithm name


def new_secret(prefix: str) -> str:
    """A 256-bit random value; the prefix tells kinds apart in logs and bug reports."""
    return prefix + b64url(secrets.token_bytes(32))


def secret_hash(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class AccessTokenClaims:
    sub: str
    scope: str
    client_id: str
    jkt: str
    jti: str
    iat: int
    exp: int


class InvalidAccessToken(Exception):
    def __init__(self, description: str, *, expired: bool = False) -> None:
        super().__init__(description)
        self.description = description
        self.expired = expired


class AccessTokenCodec:
    """Signs and checks this server's access tokens."""

    def __init__(self, key: ec.EllipticCurvePrivateKey, issuer: str, audience: str) -> None:
        self._key = key
        self._public = key.public_key()
        self.issuer = issuer
        self.audience = audience
        jwk = ECAlgorithm.to_jwk(self._public, as_dict=True)
        # The key's own thumbprint is a stable kid that changes exactly when the key does.
        self.kid = jwk_thumbprint(jwk)
        self._public_jwk: dict[str, Any] = {
            **jwk,
            "kid": self.kid,
            "use": "sig",
            "alg": ACCESS_TOKEN_ALG,
        }

    def public_jwk(self) -> dict[str, Any]:
        return dict(self._public_jwk)

    def issue(
        self, *, sub: str, scope: str, client_id: str, jkt: str, jti: str, now: float, ttl_s: int
    ) -> str:
        iat = int(now)
        claims = {
            "iss": self.issuer,
            "sub": sub,
            "aud": self.audience,
            "iat": iat,
            "exp": iat + ttl_s,
            "jti": jti,
            "scope": scope,
            "client_id": client_id,
            "cnf": {"jkt": jkt},
        }
        headers = {"typ": ACCESS_TOKEN_TYP, "kid": self.kid}
        return jwt.encode(claims, self._key, algorithm=ACCESS_TOKEN_ALG, headers=headers)

    def is_ours(self, token: str) -> bool:
        """Whether a token claims to be one of ours (header only; no verification)."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            return False
        return header.get("alg") == ACCESS_TOKEN_ALG and header.get("kid") == self.kid

    def decode(self, token: str, now: float, *, check_expiry: bool = True) -> AccessTokenClaims:
        """Verify signature, issuer, audience and shape; raise InvalidAccessToken otherwise."""
        try:
            header = jwt.get_unverified_header(token)
            if header.get("typ") != ACCESS_TOKEN_TYP or header.get("kid") != self.kid:
                raise InvalidAccessToken("not an access token of this server")
            # Expiry is checked against the injected clock below, not PyJWT's wall clock.
            claims = jwt.decode(
                token,
                self._public,
                algorithms=[ACCESS_TOKEN_ALG],
                audience=self.audience,
                issuer=self.issuer,
                options={
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                    "require": ["iss", "sub", "aud", "exp", "iat", "jti"],
                },
            )
        except jwt.PyJWTError as exc:
            raise InvalidAccessToken(f"access token rejected: {exc}") from exc
        cnf = claims.get("cnf")
        jkt = cnf.get("jkt") if isinstance(cnf, dict) else None
        fields = (
            claims.get("sub"),
            claims.get("scope"),
            claims.get("client_id"),
            jkt,
            claims.get("jti"),
        )
        if not all(isinstance(v, str) and v for v in fields):
            raise InvalidAccessToken("access token lacks sub, scope, client_id, cnf.jkt or jti")
        iat, exp = claims.get("iat"), claims.get("exp")
        if not isinstance(iat, int) or not isinstance(exp, int):
            raise InvalidAccessToken("access token iat/exp are not integers")
        if check_expiry and exp <= now:
            raise InvalidAccessToken("access token expired", expired=True)
        sub, scope, client_id, jkt_s, jti = (str(v) for v in fields)
        return AccessTokenClaims(
            sub=sub, scope=scope, client_id=client_id, jkt=jkt_s, jti=jti, iat=iat, exp=exp
        )
