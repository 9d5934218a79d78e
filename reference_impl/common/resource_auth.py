"""A resource server for users' PDS-issued, DPoP-bound OAuth access tokens.

Stratos, its AppView and the ATCR AppView do not issue tokens: clients log in to their own PDS
and present that PDS's access token with a DPoP proof made for *this* service's URL. Checking
such a request takes two independent parts:

1. the DPoP proof, with this service's own nonces and replay cache (``common/dpop.py``);
2. the token, verified *remotely*: its ``sub`` names a DID, whose document names a PDS, whose
   protected-resource metadata names exactly one authorization server — that must be the
   token's ``iss`` — whose JWKS must hold the ES256 key that signed the token (DPOP-09).

A token signed by anyone else, naming another user's DID, or issued by a server that is not the
user's own PDS's authorization server is refused, however well-formed.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from starlette.requests import Request

from .dpop import SUPPORTED_ALGS, DpopError, DpopVerifier, NonceSource, ReplayCache
from .errors import XrpcError
from .oauth_client.errors import ResolutionError
from .oauth_client.resolve import AuthServerMetadata, IdentityResolver, TtlCache, is_supported_did
from .xrpc import AuthResult

Clock = Callable[[], float]

TOKEN_ALG = "ES256"  # noqa: S105 - an algorithm name
# Media types an access token may declare (RFC 9068 §2.1); an absent typ is tolerated because
# some servers omit it. A DPoP proof (``dpop+jwt``) is never a token.
_TOKEN_TYPS = frozenset({None, "at+jwt", "application/at+jwt", "jwt"})
_MAX_TOKEN_CHARS = 8192
# A forged token with a random ``kid`` must not make us hammer the issuer's JWKS endpoint.
_JWKS_REFETCH_MIN_INTERVAL_S = 10.0


@dataclass(frozen=True)
class VerifiedToken:
    sub: str
    iss: str
    scope: str
    jkt: str
    exp: int
    client_id: str


class InvalidToken(Exception):
    """A refused access token. ``description`` goes into the challenge; never holds the token."""

    def __init__(self, description: str, expired: bool = False) -> None:
        super().__init__(description)
        self.description = description
        self.expired = expired


class TokenVerifier(Protocol):
    async def verify(self, token: str) -> VerifiedToken: ...


@dataclass(frozen=True)
class _Unverified:
    header: dict[str, Any]
    claims: dict[str, Any]


def _decode_unverified(token: str) -> _Unverified:
    if not token or len(token) > _MAX_TOKEN_CHARS or token.count(".") != 2:
        raise InvalidToken("access token is not a compact JWS")
    try:
        header = jwt.get_unverified_header(token)
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError as exc:
        raise InvalidToken("access token is not a parsable JWT") from exc
    if not isinstance(claims, dict):
        raise InvalidToken("access token payload is not a JSON object")
    return _Unverified(header, claims)


def _jkt_of(claims: dict[str, Any]) -> str | None:
    cnf = claims.get("cnf")
    jkt = cnf.get("jkt") if isinstance(cnf, dict) else None
    return jkt if isinstance(jkt, str) and jkt else None


def _int_claim(claims: dict[str, Any], name: str) -> int:
    value = claims.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidToken(f"access token has no numeric {name}")
    return int(value)


class RemoteTokenVerifier:
    """Verifies PDS-issued access tokens against the issuer's published keys.

    Discovery documents and key sets are cached per instance for ``cache_ttl_s``; the JWKS is
    fetched again (at most once per request, and not more often than every few seconds) when a
    token names a ``kid`` the cached set lacks, so an issuer's key rotation is picked up at once.
    ``verify_signature=False`` is the ``accept-forged-token`` fault: the discovery chain, the
    issuer binding and every claim are still checked, only the signature is not.
    """

    def __init__(
        self,
        http: httpx.AsyncClient,
        plc_url: str,
        clock: Clock,
        *,
        verify_signature: bool = True,
        cache_ttl_s: float = 300,
    ) -> None:
        self._resolver = IdentityResolver(http, plc_url)
        self._clock = clock
        self._verify_signature = verify_signature
        self._pds_of_did: TtlCache[str, str] = TtlCache(cache_ttl_s, clock)
        self._issuer_of_pds: TtlCache[str, str] = TtlCache(cache_ttl_s, clock)
        self._as_metadata: TtlCache[str, AuthServerMetadata] = TtlCache(cache_ttl_s, clock)
        self._jwks: TtlCache[str, list[dict[str, Any]]] = TtlCache(cache_ttl_s, clock)
        self._jwks_fetched_at: TtlCache[str, float] = TtlCache(_JWKS_REFETCH_MIN_INTERVAL_S, clock)

    async def verify(self, token: str) -> VerifiedToken:
        parsed = _decode_unverified(token)
        header, claims = parsed.header, parsed.claims
        alg = header.get("alg")
        # Only ES256: "none" and HMAC (a public key misused as a shared secret) are the classic
        # forgeries, and the ATProto profile signs access tokens with ES256.
        if alg != TOKEN_ALG:
            raise InvalidToken(f"access token alg {alg!r} is not accepted (ES256 only)")
        typ = header.get("typ")
        if (typ.lower() if isinstance(typ, str) else typ) not in _TOKEN_TYPS:
            raise InvalidToken(f"JWT typ {typ!r} is not an access token")

        sub, iss = claims.get("sub"), claims.get("iss")
        if not isinstance(sub, str) or not is_supported_did(sub):
            raise InvalidToken("access token sub is not a supported DID")
        if not isinstance(iss, str) or not iss:
            raise InvalidToken("access token has no iss")
        jkt = _jkt_of(claims)
        if jkt is None:
            raise InvalidToken("access token is not DPoP-bound (no cnf.jkt)")
        exp = _int_claim(claims, "exp")
        scope = claims.get("scope")
        if not isinstance(scope, str):
            raise InvalidToken("access token has no scope")
        client_id = claims.get("client_id")

        # The issuer must be the authorization server of the user's own PDS; any other server
        # could mint tokens for any DID.
        try:
            metadata = await self._authorization_server_for(sub)
        except ResolutionError as exc:
            raise InvalidToken(f"cannot establish the issuer for {sub}: {exc.message}") from exc
        if metadata.issuer.rstrip("/") != iss.rstrip("/"):
            raise InvalidToken("access token iss is not the authorization server of the user's PDS")

        if self._verify_signature:
            await self._check_signature(token, header.get("kid"), metadata)

        # The audience is the user's PDS, not this service (clients reuse their PDS token here
        # by design), so ``aud`` is not compared against our own URL.
        if exp <= self._clock():
            raise InvalidToken("access token expired", expired=True)
        return VerifiedToken(
            sub=sub,
            iss=iss,
            scope=scope,
            jkt=jkt,
            exp=exp,
            client_id=client_id if isinstance(client_id, str) else "",
        )

    async def _authorization_server_for(self, did: str) -> AuthServerMetadata:
        pds = self._pds_of_did.get(did)
        if pds is None:
            pds = (await self._resolver.resolve_did(did)).pds_url
            self._pds_of_did.put(did, pds)
        issuer = self._issuer_of_pds.get(pds)
        if issuer is None:
            issuer = await self._resolver.authorization_server_of(pds)
            self._issuer_of_pds.put(pds, issuer)
        metadata = self._as_metadata.get(issuer)
        if metadata is None:
            metadata = await self._resolver.authorization_server_metadata(issuer)
            self._as_metadata.put(issuer, metadata)
        return metadata

    async def _keys(self, jwks_uri: str, *, refresh: bool) -> list[dict[str, Any]] | None:
        keys = None if refresh else self._jwks.get(jwks_uri)
        if keys is not None:
            return keys
        if refresh and self._jwks_fetched_at.get(jwks_uri) is not None:
            return None  # fetched moments ago: a new kid would not be there yet
        try:
            keys = await self._resolver.jwks(jwks_uri)
        except ResolutionError as exc:
            raise InvalidToken(f"cannot fetch the issuer's keys: {exc.message}") from exc
        self._jwks.put(jwks_uri, keys)
        self._jwks_fetched_at.put(jwks_uri, self._clock())
        return keys

    async def _check_signature(self, token: str, kid: object, metadata: AuthServerMetadata) -> None:
        if metadata.jwks_uri is None:
            raise InvalidToken("the issuer publishes no jwks_uri")
        keys = await self._keys(metadata.jwks_uri, refresh=False) or []
        candidates = _matching_keys(keys, kid)
        if not candidates and kid is not None:
            keys = await self._keys(metadata.jwks_uri, refresh=True) or []
            candidates = _matching_keys(keys, kid)
        if not candidates:
            raise InvalidToken("no key of the issuer matches the access token's kid")
        for key in candidates:
            try:
                jwt.decode(
                    token,
                    key,
                    algorithms=[TOKEN_ALG],
                    # Expiry is checked against the injected clock; aud is the PDS (see above).
                    options={
                        "verify_exp": False,
                        "verify_iat": False,
                        "verify_nbf": False,
                        "verify_aud": False,
                        "verify_iss": False,
                    },
                )
                return
            except jwt.PyJWTError:
                continue
        raise InvalidToken("access token signature does not verify")


def _matching_keys(keys: list[dict[str, Any]], kid: object) -> list[ec.EllipticCurvePublicKey]:
    out: list[ec.EllipticCurvePublicKey] = []
    for jwk in keys:
        if kid is not None and jwk.get("kid") != kid:
            continue
        if jwk.get("kty") != "EC" or jwk.get("crv") != "P-256":
            continue
        if jwk.get("use", "sig") != "sig" or jwk.get("alg", TOKEN_ALG) != TOKEN_ALG:
            continue
        try:
            key = jwt.PyJWK(dict(jwk), algorithm=TOKEN_ALG).key
        except Exception:  # noqa: S112 - PyJWT raises several types for unusable keys
            continue
        if isinstance(key, ec.EllipticCurvePublicKey):
            out.append(key)
    return out


# --- the XRPC authenticator ---------------------------------------------------------------------


@dataclass(frozen=True)
class Caller:
    """An authenticated caller of a resource server."""

    did: str
    scope: str
    client_id: str


class NoReplayCheck(ReplayCache):
    """A replay cache that never reports a replay: the ``dpop-no-replay-check`` fault."""

    def __init__(self) -> None:
        super().__init__(max_entries=1)

    def add(self, key: str, expires_at: float, now: float) -> bool:
        return True


def resource_dpop_verifier(
    nonce_secret: bytes,
    clock: Clock,
    *,
    require_nonce: bool = True,
    check_replay: bool = True,
    nonce_rotation_s: int = 180,
) -> DpopVerifier:
    """The DPoP verifier of a resource server: its own nonces, its own replay cache.

    ``check_replay=False`` builds the ``dpop-no-replay-check`` fault. The ±10 s / 60 s ``iat``
    window is the DpopVerifier default (accepts ordinary skew, CLOCK-02).
    """
    return DpopVerifier(
        NonceSource(nonce_secret, clock, nonce_rotation_s),
        ReplayCache() if check_replay else NoReplayCheck(),
        clock,
        require_nonce=require_nonce,
    )


def _quoted(text: str) -> str:
    # RFC 6750 §3: error_description is printable ASCII without '"' and '\'.
    return "".join(c for c in text if 0x20 <= ord(c) <= 0x7E and c not in '"\\')


class ResourceAuthenticator:
    """An :class:`~reference_impl.common.xrpc.Authenticator` for DPoP-bound PDS tokens.

    Returns None when the request carries no ``Authorization`` header (the router decides
    whether that is acceptable); any header that is present but not acceptable is refused with
    401, a ``WWW-Authenticate: DPoP`` challenge and a fresh ``DPoP-Nonce``, as the reference PDS
    answers (DPOP-01..10).
    """

    def __init__(self, public_url: str, dpop: DpopVerifier, tokens: TokenVerifier) -> None:
        self._public_url = public_url.rstrip("/")
        self._dpop = dpop
        self._tokens = tokens

    def current_nonce(self) -> str:
        return self._dpop.nonces.current()

    def challenge(
        self, error: str | None, description: str, xrpc_error: str = "AuthRequired"
    ) -> XrpcError:
        """The 401 refusal; ``error`` None is the bare challenge for a request without
        credentials (RFC 6750 §3.1), for methods that require authentication."""
        params = [f'algs="{" ".join(SUPPORTED_ALGS)}"']
        if error is not None:
            params = [f'error="{error}"', f'error_description="{_quoted(description)}"', *params]
        return XrpcError(
            401,
            xrpc_error,
            description,
            headers={
                "WWW-Authenticate": "DPoP " + ", ".join(params),
                "DPoP-Nonce": self.current_nonce(),
            },
        )

    async def __call__(self, request: Request) -> AuthResult | None:
        values = request.headers.getlist("authorization")
        if not values:
            return None
        if len(values) > 1:
            raise self.challenge(
                "invalid_token", "more than one Authorization header", "InvalidToken"
            )
        scheme, _, token = values[0].strip().partition(" ")
        token = token.strip()
        if scheme.lower() == "bearer":
            # DPOP-10: a DPoP-bound token is never downgraded to a bearer token; and this
            # service accepts no other kind, so every Bearer credential is refused.
            raise self.challenge(
                "invalid_token",
                "DPoP-bound access token must be sent with the DPoP authorization scheme",
                "InvalidToken",
            )
        if scheme.lower() != "dpop" or not token:
            raise self.challenge(
                "invalid_token", "expected Authorization: DPoP <access token>", "InvalidToken"
            )

        # The proof first: an honest client missing the nonce just retries, at no network cost.
        # The client addressed our public URL, not the socket we are bound to.
        url = self._public_url + request.url.path
        try:
            proof = self._dpop.verify(request.headers.getlist("dpop"), request.method, url, token)
        except DpopError as exc:
            raise self.challenge(exc.error, exc.description, "AuthRequired") from exc

        try:
            verified = await self._tokens.verify(token)
        except InvalidToken as exc:
            raise self.challenge(
                "invalid_token",
                exc.description,
                "ExpiredToken" if exc.expired else "InvalidToken",
            ) from exc
        # DPOP-07: the proof key must be the key the token is bound to.
        if not hmac.compare_digest(proof.jkt, verified.jkt):
            raise self.challenge(
                "invalid_token", "DPoP key does not match the token's cnf.jkt", "InvalidToken"
            )
        return AuthResult(
            Caller(did=verified.sub, scope=verified.scope, client_id=verified.client_id),
            {"DPoP-Nonce": self.current_nonce()},
        )
