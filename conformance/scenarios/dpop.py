"""DPoP probes against a resource server (DPOP-01..12): they send, ``checks.dpop`` judges.

Every probe takes its dependencies as arguments: an ``httpx.Client`` and a ``ProtectedEndpoint``
(a URL + method the server protects, an access token bound to ``key`` via ``cnf.jkt``). Probes
that are not about nonces behave like a real client: they first send a nonce-less proof to learn
the server's ``DPoP-Nonce`` and then present it, and when a defective request is answered with
``use_dpop_nonce`` and a new nonce they resend it once with that nonce, so the server's verdict is
about the defect. Every set of negative cases comes with a valid *control* request.

``Probe.case`` strings describe what was sent; they never contain a token, proof or nonce.
The forged-token and odd-proof builders are pure functions.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from conformance.clients.dpop import DpopKey, access_token_hash, b64url, htu_of, make_dpop_proof
from conformance.localserver import serve_in_thread
from conformance.scenarios.base import NegativeProbes, Probe, dpop_error, is_success


@dataclass(frozen=True)
class ProtectedEndpoint:
    """A DPoP-protected endpoint on a resource server, and a token bound to ``key``.

    ``url`` may carry a query string (``htu`` drops it); ``body``/``content_type`` are sent with
    every request (procedures). ``secret_sink`` (e.g. the run's ``Redactor.add``) receives every
    proof and token the probes send, so evidence scrubbing knows them.
    """

    url: str
    method: str
    access_token: str = field(repr=False)
    key: DpopKey = field(repr=False)
    body: bytes | None = None
    content_type: str | None = None
    secret_sink: Callable[[str], None] | None = field(default=None, repr=False, compare=False)


def nonce_of(response: httpx.Response) -> str | None:
    """The ``DPoP-Nonce`` a response hands out, if any."""
    value = response.headers.get("dpop-nonce")
    return value or None


def send_protected(
    http: httpx.Client,
    endpoint: ProtectedEndpoint,
    dpop: Sequence[str],
    *,
    scheme: str | None = "DPoP",
    token: str | None = None,
) -> httpx.Response:
    """Send the endpoint's request with exactly these ``DPoP`` header values (zero, one or more).

    ``Authorization: <scheme> <token>`` uses the endpoint's token unless ``token`` is given;
    ``scheme=None`` sends no Authorization header.
    """
    token = token if token is not None else endpoint.access_token
    if endpoint.secret_sink is not None:
        for value in (token, *dpop):
            if value.count(".") == 2:  # JWT-shaped; garbage like "not-a-jwt!" is no secret
                endpoint.secret_sink(value)
    headers: list[tuple[str, str]] = []
    if scheme is not None:
        headers.append(("Authorization", f"{scheme} {token}"))
    headers.extend(("DPoP", value) for value in dpop)
    if endpoint.content_type is not None:
        headers.append(("Content-Type", endpoint.content_type))
    return http.request(endpoint.method, endpoint.url, headers=headers, content=endpoint.body)


class DpopCaller:
    """Sends requests to one endpoint and remembers the newest ``DPoP-Nonce`` it was given.

    One caller belongs to one probe (it is not shared between threads).
    """

    def __init__(self, http: httpx.Client, endpoint: ProtectedEndpoint) -> None:
        self.http = http
        self.endpoint = endpoint
        self.nonce: str | None = None

    def proof(
        self,
        nonce: str | None,
        *,
        key: DpopKey | None = None,
        htm: str | None = None,
        htu: str | None = None,
        iat: float | None = None,
        jti: str | None = None,
        typ: str = "dpop+jwt",
        token: str | None = None,
        ath: bool = True,
        header_jwk: dict[str, Any] | None = None,
        extra_claims: dict[str, Any] | None = None,
    ) -> str:
        """A proof for this endpoint; correct unless an override says otherwise."""
        ep = self.endpoint
        return make_dpop_proof(
            key if key is not None else ep.key,
            htm if htm is not None else ep.method,
            htu if htu is not None else htu_of(ep.url),
            nonce=nonce,
            access_token=(token if token is not None else ep.access_token) if ath else None,
            iat=iat,
            jti=jti,
            typ=typ,
            header_jwk=header_jwk,
            extra_claims=extra_claims,
        )

    def send(
        self, dpop: Sequence[str], *, scheme: str | None = "DPoP", token: str | None = None
    ) -> httpx.Response:
        response = send_protected(self.http, self.endpoint, dpop, scheme=scheme, token=token)
        self.nonce = nonce_of(response) or self.nonce
        return response

    def prime(self) -> httpx.Response:
        """Send a valid nonce-less proof, as a client's first request does, to learn the nonce."""
        return self.send([self.proof(None)])

    def send_built(
        self,
        build: Callable[[str | None], Sequence[str]],
        *,
        scheme: str | None = "DPoP",
        token: str | None = None,
    ) -> httpx.Response:
        """Send ``build(nonce)``; once more with the new nonce if told ``use_dpop_nonce``."""
        sent = self.nonce
        response = self.send(build(sent), scheme=scheme, token=token)
        fresh = nonce_of(response)
        if dpop_error(response) == "use_dpop_nonce" and fresh is not None and fresh != sent:
            response = self.send(build(fresh), scheme=scheme, token=token)
        return response

    def valid(self, *, token: str | None = None) -> httpx.Response:
        """A correct request (the control), with at most one nonce retry."""
        return self.send_built(lambda n: [self.proof(n, token=token)], token=token)


def _started(http: httpx.Client, endpoint: ProtectedEndpoint) -> tuple[DpopCaller, Probe]:
    """A primed caller and the control probe (a correct request with the current nonce)."""
    caller = DpopCaller(http, endpoint)
    caller.prime()
    control = Probe("a correct request (valid proof, current nonce, DPoP scheme)", caller.valid())
    return caller, control


# --- pure builders for deliberately wrong proofs and tokens ------------------------------------


def _b64json(value: dict[str, Any]) -> str:
    return b64url(json.dumps(value, separators=(",", ":")).encode("utf-8"))


def _b64decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def decode_jwt_unverified(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Header and payload of a compact JWS, without verifying anything."""
    header_b64, payload_b64, _signature = token.split(".")
    return json.loads(_b64decode(header_b64)), json.loads(_b64decode(payload_b64))


def unsigned_jws(header: dict[str, Any], payload: dict[str, Any]) -> str:
    """An ``alg: none`` JWS (header's ``alg`` forced to ``none``, empty signature)."""
    return f"{_b64json({**header, 'alg': 'none'})}.{_b64json(payload)}."


def proof_alg_none(proof: str) -> str:
    """The same proof claims and header, re-encoded as an unsigned ``alg: none`` JWS."""
    header, payload = decode_jwt_unverified(proof)
    return unsigned_jws(header, payload)


def proof_hs256(proof: str, secret: bytes) -> str:
    """The same proof claims and header (incl. the public ``jwk``), signed with HMAC-SHA256."""
    header, payload = decode_jwt_unverified(proof)
    extra = {k: v for k, v in header.items() if k not in ("alg", "typ")}
    return jwt.encode(
        payload, secret, algorithm="HS256", headers={"typ": header.get("typ"), **extra}
    )


def private_jwk(key: DpopKey) -> dict[str, Any]:
    """The key's JWK *with* its private parameter ``d`` (what a proof header must never carry)."""
    d = key.private_key.private_numbers().private_value.to_bytes(32, "big")
    return {**key.public_jwk, "d": b64url(d)}


def other_did(did: str | None) -> str:
    """A syntactically valid ``did:plc`` that differs from ``did``."""
    alphabet = "abcdefghijklmnopqrstuvwxyz234567"
    while True:
        candidate = "did:plc:" + "".join(secrets.choice(alphabet) for _ in range(24))
        if candidate != did:
            return candidate


def token_with_claims(token: str, changes: dict[str, Any]) -> str:
    """The token with payload claims changed and the *original* signature kept (so it no longer
    verifies)."""
    header_b64, _payload_b64, signature = token.split(".")
    _header, payload = decode_jwt_unverified(token)
    return f"{header_b64}.{_b64json({**payload, **changes})}.{signature}"


def token_signed_by(
    token: str,
    signing_key: ec.EllipticCurvePrivateKey,
    *,
    kid: str | None,
    changes: dict[str, Any] | None = None,
) -> str:
    """The token's claims (``changes`` applied) re-signed ES256 by a key the harness made up.

    ``cnf.jkt`` is kept, so the DPoP binding still matches: only the issuer's signature is wrong.
    """
    header, payload = decode_jwt_unverified(token)
    headers: dict[str, Any] = {"typ": header.get("typ", "at+jwt")}
    if kid is not None:
        headers["kid"] = kid
    return jwt.encode(
        {**payload, **(changes or {})}, signing_key, algorithm="ES256", headers=headers
    )


def token_alg_none(token: str) -> str:
    """The token's header and claims as an unsigned ``alg: none`` JWS."""
    header, payload = decode_jwt_unverified(token)
    return unsigned_jws(header, payload)


def _other_origin(url: str) -> str:
    """Same scheme and host, another port: the "proof made for the PDS origin" pitfall."""
    parsed = httpx.URL(url)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    other = port + 1 if port < 65535 else port - 1
    return htu_of(str(parsed.copy_with(port=other)))


def _other_scheme(url: str) -> str:
    parsed = httpx.URL(url)
    scheme = "http" if parsed.scheme == "https" else "https"
    return htu_of(str(parsed.copy_with(scheme=scheme)))


def _other_path(url: str) -> str:
    parsed = httpx.URL(url)
    path = parsed.path.rstrip("/") + "Other" if parsed.path not in ("", "/") else "/other"
    return htu_of(str(parsed.copy_with(path=path)))


# --- DPOP-01 ---------------------------------------------------------------------------------


def probe_proof_presence(http: httpx.Client, endpoint: ProtectedEndpoint) -> NegativeProbes:
    """DPOP-01: no DPoP header, two DPoP headers, an unparsable one."""
    caller, control = _started(http, endpoint)
    cases = (
        Probe("Authorization: DPoP without any DPoP header", caller.send_built(lambda n: [])),
        Probe(
            "two DPoP headers (two otherwise valid proofs)",
            caller.send_built(lambda n: [caller.proof(n), caller.proof(n)]),
        ),
        Probe("a DPoP header that is not a JWT", caller.send_built(lambda n: ["not-a-jwt!"])),
    )
    return NegativeProbes(control, cases)


# --- DPOP-02 ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class NonceChallengeProbes:
    """DPOP-02: a nonce-less proof, a made-up nonce, and the retries with the nonce handed out
    (``None`` when the server handed none out)."""

    missing: Probe
    missing_retry: Probe | None
    stale: Probe
    stale_nonce: str = field(repr=False)
    stale_retry: Probe | None


def probe_nonce_challenge(http: httpx.Client, endpoint: ProtectedEndpoint) -> NonceChallengeProbes:
    caller = DpopCaller(http, endpoint)
    missing = Probe("a valid proof without a nonce", caller.send([caller.proof(None)]))
    missing_retry = None
    if (given := nonce_of(missing.response)) is not None:
        missing_retry = Probe(
            "the same request retried with the DPoP-Nonce the server handed out",
            caller.send([caller.proof(given)]),
        )
    made_up = "atconform-" + secrets.token_urlsafe(16)
    stale = Probe(
        "a valid proof with a nonce the server never issued", caller.send([caller.proof(made_up)])
    )
    stale_retry = None
    if (given := nonce_of(stale.response)) is not None and given != made_up:
        stale_retry = Probe(
            "the same request retried with the DPoP-Nonce the server handed out",
            caller.send([caller.proof(given)]),
        )
    return NonceChallengeProbes(missing, missing_retry, stale, made_up, stale_retry)


# --- DPOP-03 ---------------------------------------------------------------------------------


def probe_htm_htu(http: httpx.Client, endpoint: ProtectedEndpoint) -> NegativeProbes:
    """DPOP-03: wrong ``htm``; ``htu`` with another path, another origin (port), another scheme."""
    caller, control = _started(http, endpoint)
    method = endpoint.method.upper()
    wrong_method = "POST" if method == "GET" else "GET"
    cases = (
        Probe(
            f"htm {wrong_method!r} for a {method} request",
            caller.send_built(lambda n: [caller.proof(n, htm=wrong_method)]),
        ),
        Probe(
            "htu with another path on the same origin",
            caller.send_built(lambda n: [caller.proof(n, htu=_other_path(endpoint.url))]),
        ),
        Probe(
            "htu for another origin (same host, another port)",
            caller.send_built(lambda n: [caller.proof(n, htu=_other_origin(endpoint.url))]),
        ),
        Probe(
            "htu with the other scheme (http/https swapped)",
            caller.send_built(lambda n: [caller.proof(n, htu=_other_scheme(endpoint.url))]),
        ),
    )
    return NegativeProbes(control, cases)


# --- DPOP-04 ---------------------------------------------------------------------------------


def probe_iat_window(
    http: httpx.Client, endpoint: ProtectedEndpoint, *, offset_seconds: float = 300.0
) -> NegativeProbes:
    """DPOP-04: ``iat`` ``offset_seconds`` in the future and in the past."""
    caller, control = _started(http, endpoint)
    offset = f"{offset_seconds:g} s"
    cases = (
        Probe(
            f"iat {offset} in the future",
            caller.send_built(lambda n: [caller.proof(n, iat=time.time() + offset_seconds)]),
        ),
        Probe(
            f"iat {offset} in the past",
            caller.send_built(lambda n: [caller.proof(n, iat=time.time() - offset_seconds)]),
        ),
    )
    return NegativeProbes(control, cases)


# --- DPOP-05 ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReplayProbes:
    """DPOP-05: one valid proof sent twice (the first must succeed, the second be rejected)."""

    first: Probe
    replay: Probe


def probe_replay(http: httpx.Client, endpoint: ProtectedEndpoint) -> ReplayProbes:
    caller = DpopCaller(http, endpoint)
    caller.prime()
    # Reach a state where a proof with the current nonce is accepted, then replay that proof.
    proof = caller.proof(caller.nonce)
    first = caller.send([proof])
    if dpop_error(first) == "use_dpop_nonce" and caller.nonce is not None:
        proof = caller.proof(caller.nonce)
        first = caller.send([proof])
    replay = caller.send([proof])
    return ReplayProbes(
        Probe("a valid proof (first use)", first),
        Probe("the identical proof again (same jti)", replay),
    )


# --- DPOP-06 ---------------------------------------------------------------------------------


def probe_ath(http: httpx.Client, endpoint: ProtectedEndpoint) -> NegativeProbes:
    """DPOP-06: ``ath`` of another token; ``ath`` missing."""
    caller, control = _started(http, endpoint)
    other_ath = access_token_hash("atconform-some-other-access-token")
    cases = (
        Probe(
            "ath is the hash of another token",
            caller.send_built(
                lambda n: [caller.proof(n, ath=False, extra_claims={"ath": other_ath})]
            ),
        ),
        Probe("no ath claim", caller.send_built(lambda n: [caller.proof(n, ath=False)])),
    )
    return NegativeProbes(control, cases)


# --- DPOP-07 ---------------------------------------------------------------------------------


def probe_key_binding(http: httpx.Client, endpoint: ProtectedEndpoint) -> NegativeProbes:
    """DPOP-07: a proof by a key other than the token's ``cnf.jkt`` (own jwk; and the bound
    key's jwk in the header with the other key's signature)."""
    caller, control = _started(http, endpoint)
    other = DpopKey.generate()
    cases = (
        Probe(
            "a valid proof signed by another key (its own jwk in the header)",
            caller.send_built(lambda n: [caller.proof(n, key=other)]),
        ),
        Probe(
            "the bound key's jwk in the header, signed by another key",
            caller.send_built(
                lambda n: [caller.proof(n, key=other, header_jwk=endpoint.key.public_jwk)]
            ),
        ),
    )
    return NegativeProbes(control, cases)


# --- DPOP-08 ---------------------------------------------------------------------------------


def probe_proof_type_and_alg(http: httpx.Client, endpoint: ProtectedEndpoint) -> NegativeProbes:
    """DPOP-08: ``typ: jwt``; ``alg: none``; ``HS256``; a header ``jwk`` with private ``d``."""
    caller, control = _started(http, endpoint)
    hmac_secret = secrets.token_bytes(32)
    cases = (
        Probe(
            "proof typ 'jwt' instead of 'dpop+jwt'",
            caller.send_built(lambda n: [caller.proof(n, typ="jwt")]),
        ),
        Probe(
            "unsigned proof (alg 'none')",
            caller.send_built(lambda n: [proof_alg_none(caller.proof(n))]),
        ),
        Probe(
            "proof signed with HS256 (symmetric)",
            caller.send_built(lambda n: [proof_hs256(caller.proof(n), hmac_secret)]),
        ),
        Probe(
            "header jwk carries the private parameter 'd'",
            caller.send_built(lambda n: [caller.proof(n, header_jwk=private_jwk(endpoint.key))]),
        ),
    )
    return NegativeProbes(control, cases)


# --- DPOP-09 ---------------------------------------------------------------------------------

FOREIGN_ISSUER = "https://auth.atconform.invalid"


def probe_forged_tokens(
    http: httpx.Client,
    endpoint: ProtectedEndpoint,
    *,
    foreign_issuer: str = FOREIGN_ISSUER,
) -> NegativeProbes:
    """DPOP-09: forged access tokens, each with an otherwise valid proof (``ath`` of the forged
    token, signed by the bound key):

    - ``sub`` changed to another DID, original signature kept;
    - signed by a harness key, with a plausible ``kid`` and a foreign ``iss``;
    - signed by a harness key, claiming the real issuer and ``kid``;
    - ``alg: none``;
    - expired (``exp`` an hour ago) and, necessarily, re-signed by the harness key.
    """
    caller, control = _started(http, endpoint)
    token = endpoint.access_token
    header, claims = decode_jwt_unverified(token)
    forger = ec.generate_private_key(ec.SECP256R1())
    now = int(time.time())
    forged = (
        (
            "sub changed to another DID (signature no longer verifies)",
            token_with_claims(token, {"sub": other_did(claims.get("sub"))}),
        ),
        (
            "signed by a key of an issuer that is not the user's authorization server",
            token_signed_by(token, forger, kid="atconform-1", changes={"iss": foreign_issuer}),
        ),
        (
            "claims the real issuer and kid but is signed by another key",
            token_signed_by(token, forger, kid=header.get("kid")),
        ),
        ("unsigned (alg 'none')", token_alg_none(token)),
        (
            "expired an hour ago (and re-signed by another key: it fails for both reasons)",
            token_signed_by(
                token, forger, kid=header.get("kid"), changes={"exp": now - 3600, "iat": now - 4000}
            ),
        ),
    )

    def with_token(forged_token: str) -> Callable[[str | None], list[str]]:
        return lambda n: [caller.proof(n, token=forged_token)]

    cases = tuple(
        Probe(f"access token {description}", caller.send_built(with_token(t), token=t))
        for description, t in forged
    )
    return NegativeProbes(control, cases)


# --- DPOP-10 ---------------------------------------------------------------------------------


def probe_bearer_scheme(http: httpx.Client, endpoint: ProtectedEndpoint) -> NegativeProbes:
    """DPOP-10: the DPoP-bound token sent as ``Authorization: Bearer``, without and with a proof."""
    caller, control = _started(http, endpoint)
    cases = (
        Probe(
            "Authorization: Bearer, no DPoP header",
            caller.send_built(lambda n: [], scheme="Bearer"),
        ),
        Probe(
            "Authorization: Bearer with a valid DPoP proof",
            caller.send_built(lambda n: [caller.proof(n)], scheme="Bearer"),
        ),
    )
    return NegativeProbes(control, cases)


# --- DPOP-11 ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class NonceRotationProbes:
    """DPOP-11: a successful response; the later requests made while watching for a new nonce;
    and, when one appeared, a request presenting the previous nonce (``None`` when the nonce
    did not change while watching)."""

    success: Probe
    later: tuple[Probe, ...]
    previous_nonce: Probe | None
    watched_seconds: float


def probe_nonce_rotation(
    http: httpx.Client,
    endpoint: ProtectedEndpoint,
    *,
    watch_seconds: float = 3.0,
    interval: float = 0.25,
) -> NonceRotationProbes:
    """Make valid requests for up to ``watch_seconds`` until a success response hands out a new
    nonce, then present the one before it (it should still be inside its grace period).

    Real servers rotate every few minutes, so against them the rotation is usually not observed
    and ``previous_nonce`` is ``None``.
    """
    caller = DpopCaller(http, endpoint)
    caller.prime()
    success = caller.valid()
    last = nonce_of(success) if is_success(success) else None
    later: list[Probe] = []
    previous: str | None = None
    started = time.monotonic()
    while last is not None and time.monotonic() - started < watch_seconds:
        time.sleep(interval)
        response = caller.valid()
        later.append(Probe("a valid request while watching for a new nonce", response))
        current = nonce_of(response) if is_success(response) else None
        if current is not None and current != last:
            previous = last
            break
    previous_probe = None
    if previous is not None:
        previous_probe = Probe(
            "a valid proof presenting the previous nonce right after a new one appeared",
            caller.send([caller.proof(previous)]),
        )
    return NonceRotationProbes(
        Probe("a correct request", success),
        tuple(later),
        previous_probe,
        round(time.monotonic() - started, 3),
    )


# --- DPOP-12 ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConcurrentAttempt:
    """One concurrent client's request and, when told ``use_dpop_nonce``, its single retry."""

    index: int
    responses: tuple[httpx.Response, ...]


@dataclass(frozen=True)
class ConcurrencyProbes:
    control: Probe
    attempts: tuple[ConcurrentAttempt, ...]


def probe_concurrent_nonce(
    http: httpx.Client,
    endpoint: ProtectedEndpoint,
    *,
    clients: int = 10,
    timeout: float = 30.0,
) -> ConcurrencyProbes:
    """DPOP-12: ``clients`` threads send at the same moment with one shared nonce; each retries
    at most once on ``use_dpop_nonce``. (``http`` is shared: httpx clients are thread-safe.)"""
    caller, control = _started(http, endpoint)
    shared = caller.nonce
    barrier = threading.Barrier(clients)

    def attempt(index: int) -> ConcurrentAttempt:
        def proof(nonce: str | None) -> str:
            return make_dpop_proof(
                endpoint.key,
                endpoint.method,
                htu_of(endpoint.url),
                nonce=nonce,
                access_token=endpoint.access_token,
            )

        barrier.wait(timeout=timeout)
        first = send_protected(http, endpoint, [proof(shared)])
        fresh = nonce_of(first)
        if dpop_error(first) == "use_dpop_nonce" and fresh is not None:
            return ConcurrentAttempt(index, (first, send_protected(http, endpoint, [proof(fresh)])))
        return ConcurrentAttempt(index, (first,))

    with ThreadPoolExecutor(max_workers=clients) as pool:
        attempts = tuple(pool.map(attempt, range(clients), timeout=timeout))
    return ConcurrencyProbes(control, attempts)


class RogueIssuer:
    """An OAuth authorization server nobody should trust, on loopback: its metadata, protected-
    resource document and JWKS are all valid, and its key signs the rogue token."""

    kid = "atconform-rogue-1"

    def __init__(self) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self._lock = threading.Lock()
        self.fetches = 0

    def _seen(self) -> None:
        with self._lock:
            self.fetches += 1

    async def _metadata(self, request: Request) -> Response:
        self._seen()
        issuer = str(request.base_url).rstrip("/")
        return JSONResponse(
            {
                "issuer": issuer,
                "jwks_uri": f"{issuer}/oauth/jwks",
                "token_endpoint": f"{issuer}/oauth/token",
                "authorization_endpoint": f"{issuer}/oauth/authorize",
                "dpop_signing_alg_values_supported": ["ES256"],
                "scopes_supported": ["atproto"],
            }
        )

    async def _resource(self, request: Request) -> Response:
        self._seen()
        issuer = str(request.base_url).rstrip("/")
        return JSONResponse({"resource": issuer, "authorization_servers": [issuer]})

    async def _jwks(self, request: Request) -> Response:
        self._seen()
        jwk: dict[str, Any] = ECAlgorithm.to_jwk(self.key.public_key(), as_dict=True)
        return JSONResponse({"keys": [{**jwk, "kid": self.kid, "alg": "ES256", "use": "sig"}]})

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/.well-known/oauth-authorization-server", self._metadata),
                Route("/.well-known/oauth-protected-resource", self._resource),
                Route("/oauth/jwks", self._jwks),
            ]
        )


@dataclass(frozen=True)
class ForgedTokenProbes:
    """DPOP-09's probes, plus how many documents the target fetched from the rogue issuer."""

    probes: NegativeProbes
    rogue_fetches: int


def probe_forged_and_rogue_tokens(
    http: httpx.Client, endpoint: ProtectedEndpoint
) -> ForgedTokenProbes:
    """``probe_forged_tokens`` plus a token from a rogue authorization server served on loopback
    with valid metadata and a JWKS holding the key that signed it: a resource server must insist
    the issuer is the one of the user's own PDS, not trust whatever ``iss`` says."""
    rogue = RogueIssuer()
    with serve_in_thread(rogue.app()) as rogue_url:
        shared = probe_forged_tokens(http, endpoint, foreign_issuer=rogue_url)
        token = token_signed_by(
            endpoint.access_token, rogue.key, kid=rogue.kid, changes={"iss": rogue_url}
        )
        caller = DpopCaller(http, endpoint)
        caller.prime()
        rogue_case = Probe(
            "access token issued and signed by an authorization server that is not the user's "
            "PDS's (valid metadata and JWKS served on loopback)",
            caller.send_built(lambda n: [caller.proof(n, token=token)], token=token),
        )
    return ForgedTokenProbes(
        NegativeProbes(shared.control, (*shared.cases, rogue_case)), rogue.fetches
    )
