"""Registry tokens (docs/atcr.md, "Token auth"): scopes, the grant decision, ES256 JWTs, JWKS.

Pure apart from the grant decision, which asks the ``OwnerResolver`` port who a repository's
owner segment is. No framework code here; ``auth.py`` adapts it to HTTP.
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec

from ..ports import Caller, NameUnknown, OwnerResolver
from .names import InvalidName, parse_name

ACTIONS = frozenset({"pull", "push", "delete"})
# Our own clock issues and checks the tokens; a little slack on ``nbf`` covers AppView replicas.
NBF_LEEWAY_S = 5


class InvalidToken(ValueError):
    """Not a registry token of this AppView, or no longer valid."""


@dataclass(frozen=True)
class Scope:
    """One requested ``<type>:<name>:<actions>`` scope."""

    type: str
    name: str
    actions: frozenset[str]


def parse_scopes(values: Iterable[str]) -> list[Scope]:
    """Every ``scope`` parameter, each possibly several space-separated scopes.

    Names can hold ``:`` (a DID owner), so the type ends at the first ``:`` and the actions
    start after the last. Malformed scopes are ignored, as unknown types are by the grant.
    """
    scopes: list[Scope] = []
    for value in values:
        for item in value.split():
            kind, _, rest = item.partition(":")
            name, _, actions = rest.rpartition(":")
            if not kind or not name:
                continue
            scopes.append(Scope(kind, name, frozenset(a for a in actions.split(",") if a)))
    return scopes


def format_scope(name: str, actions: Iterable[str]) -> str:
    order = ["pull", "push", "delete"]
    return f"repository:{name}:{','.join(a for a in order if a in set(actions))}"


async def decide_access(
    scopes: Iterable[Scope],
    caller_did: str | None,
    owners: OwnerResolver,
    *,
    push_anywhere: bool = False,
) -> dict[str, frozenset[str]]:
    """What the caller gets of what it asked: ``pull`` on any well-formed repository name;
    ``push``/``delete`` only when the owner segment resolves to the caller's DID (anonymous
    callers never). ``push_anywhere`` is the ``push-other-namespace`` fault."""
    granted: dict[str, set[str]] = {}
    owner_dids: dict[str, str | None] = {}
    for scope in scopes:
        if scope.type != "repository":
            continue
        try:
            name = parse_name(scope.name)
        except InvalidName:
            continue
        wanted = ACTIONS if "*" in scope.actions else scope.actions & ACTIONS
        actions = granted.setdefault(str(name), set())
        if "pull" in wanted:
            actions.add("pull")
        writes = wanted & {"push", "delete"}
        if not writes or caller_did is None:
            continue
        if not push_anywhere:
            if name.owner not in owner_dids:
                owner_dids[name.owner] = await _owner_did(owners, name.owner)
            if owner_dids[name.owner] != caller_did:
                continue
        actions.update(writes)
    return {name: frozenset(actions) for name, actions in granted.items() if actions}


async def _owner_did(owners: OwnerResolver, owner: str) -> str | None:
    try:
        return (await owners.resolve(owner)).did
    except NameUnknown:
        return None


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def public_jwk(key: ec.EllipticCurvePublicKey) -> dict[str, str]:
    numbers = key.public_numbers()
    return {
        "kty": "EC",
        "crv": "P-256",
        "x": _b64url(numbers.x.to_bytes(32, "big")),
        "y": _b64url(numbers.y.to_bytes(32, "big")),
    }


def jwk_thumbprint(jwk: Mapping[str, str]) -> str:
    """RFC 7638: SHA-256 over the required members, sorted, without whitespace."""
    required = {k: jwk[k] for k in ("crv", "kty", "x", "y")}
    canonical = json.dumps(required, sort_keys=True, separators=(",", ":"))
    return _b64url(hashlib.sha256(canonical.encode("utf-8")).digest())


@dataclass(frozen=True)
class IssuedToken:
    token: str
    expires_in: int
    issued_at: str  # RFC 3339, UTC

    def body(self) -> dict[str, Any]:
        return {
            "token": self.token,
            "access_token": self.token,
            "expires_in": self.expires_in,
            "issued_at": self.issued_at,
        }


@dataclass(frozen=True)
class TokenIssuer:
    """Issues and verifies this AppView's registry JWTs (ES256, P-256 key)."""

    key: ec.EllipticCurvePrivateKey
    issuer: str  # the base URL
    audience: str  # the service name
    ttl_s: int = 300
    clock: Callable[[], float] = lambda: datetime.now(UTC).timestamp()

    def __post_init__(self) -> None:
        if not isinstance(self.key.curve, ec.SECP256R1):
            raise ValueError("registry tokens are ES256: the signing key must be P-256")

    @cached_property
    def jwk(self) -> dict[str, str]:
        jwk = public_jwk(self.key.public_key())
        return {**jwk, "kid": jwk_thumbprint(jwk), "use": "sig", "alg": "ES256"}

    @property
    def kid(self) -> str:
        return self.jwk["kid"]

    def jwks(self) -> dict[str, Any]:
        return {"keys": [self.jwk]}

    def issue(self, subject: str | None, access: Mapping[str, frozenset[str]]) -> IssuedToken:
        now = int(self.clock())
        claims = {
            "iss": self.issuer,
            "sub": subject or "",
            "aud": self.audience,
            "iat": now,
            "nbf": now,
            "exp": now + self.ttl_s,
            "jti": uuid.uuid4().hex,
            "access": [
                {"type": "repository", "name": name, "actions": sorted(actions)}
                for name, actions in sorted(access.items())
            ],
        }
        token = jwt.encode(claims, self.key, algorithm="ES256", headers={"kid": self.kid})
        issued = datetime.fromtimestamp(now, UTC).isoformat().replace("+00:00", "Z")
        return IssuedToken(token, self.ttl_s, issued)

    def verify(self, token: str) -> Caller:
        try:
            header = jwt.get_unverified_header(token)
            if header.get("kid") != self.kid:
                raise InvalidToken("token signed by an unknown key")
            claims = jwt.decode(
                token,
                self.key.public_key(),
                algorithms=["ES256"],
                audience=self.audience,
                issuer=self.issuer,
                # Times are checked below against the injected clock, not the wall clock.
                options={
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                    "require": ["iss", "sub", "aud", "exp", "nbf", "iat", "jti"],
                },
            )
        except jwt.PyJWTError as exc:
            raise InvalidToken(f"invalid registry token: {exc}") from None
        now = self.clock()
        exp, nbf = claims.get("exp"), claims.get("nbf")
        if not isinstance(exp, int) or not isinstance(nbf, int):
            raise InvalidToken("invalid registry token: bad time claims")
        if now >= exp:
            raise InvalidToken("registry token expired")
        if now + NBF_LEEWAY_S < nbf:
            raise InvalidToken("registry token not yet valid")
        subject = claims.get("sub")
        if not isinstance(subject, str):
            raise InvalidToken("invalid registry token: bad sub")
        return Caller(did=subject or None, access=_access_claim(claims.get("access")))


def _access_claim(value: Any) -> dict[str, frozenset[str]]:
    if value is None:
        return {}
    if not isinstance(value, list):
        raise InvalidToken("invalid registry token: bad access claim")
    access: dict[str, frozenset[str]] = {}
    for entry in value:
        if not isinstance(entry, dict) or entry.get("type") != "repository":
            continue
        name, actions = entry.get("name"), entry.get("actions")
        if isinstance(name, str) and isinstance(actions, list):
            access[name] = access.get(name, frozenset()) | frozenset(
                a for a in actions if isinstance(a, str)
            )
    return access
