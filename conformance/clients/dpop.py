"""Client-side DPoP (RFC 9449): keys, thumbprints and proofs.

``make_dpop_proof`` is a pure function (given its clock and jti inputs) so suites, the fuzzer and
load profiles all build proofs the same way; the probes that send deliberately wrong proofs use
its keyword arguments instead of hand-building JWTs.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import threading
import time
from collections.abc import AsyncGenerator, Callable, Generator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

# RFC 7638 §3.2: the required members of each key type, in lexicographic order.
_THUMBPRINT_MEMBERS = {
    "EC": ("crv", "kty", "x", "y"),
    "RSA": ("e", "kty", "n"),
    "OKP": ("crv", "kty", "x"),
}


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


# --- DPoP as an httpx auth flow -----------------------------------------------------------------

_AUTH_PARAM = re.compile(r"([^\s=,]+)\s*=\s*(.*)$", re.DOTALL)
_DEFAULT_PORTS: Mapping[str, int] = MappingProxyType({"http": 80, "https": 443})


def origin_of(url: httpx.URL | str) -> str:
    """``scheme://host:port`` with the default port spelled out, the key nonces are stored under."""
    parsed = httpx.URL(url) if isinstance(url, str) else url
    port = parsed.port if parsed.port is not None else _DEFAULT_PORTS.get(parsed.scheme, 0)
    return f"{parsed.scheme}://{parsed.host}:{port}"


class NonceStore:
    """The latest ``DPoP-Nonce`` each origin handed out; safe to share between threads.

    One store is shared by every request a client makes (and by every ``DpopAuth`` of one
    session), so concurrent and later requests reuse the newest nonce instead of each paying
    for a ``use_dpop_nonce`` round trip.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._nonces: dict[str, str] = {}

    def get(self, origin: str) -> str | None:
        with self._lock:
            return self._nonces.get(origin)

    def set(self, origin: str, nonce: str) -> None:
        with self._lock:
            self._nonces[origin] = nonce

    def snapshot(self) -> dict[str, str]:
        with self._lock:
            return dict(self._nonces)


def _split_outside_quotes(value: str) -> list[str]:
    items: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    for char in value:
        if escaped:
            escaped = False
        elif char == "\\" and quoted:
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == "," and not quoted:
            items.append("".join(current))
            current = []
            continue
        current.append(char)
    items.append("".join(current))
    return items


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return re.sub(r"\\(.)", r"\1", value[1:-1])
    return value


def parse_www_authenticate(values: list[str]) -> list[tuple[str, dict[str, str]]]:
    """Challenges of ``WWW-Authenticate`` header values (RFC 9110 §11.6.1): (scheme, params).

    Scheme and parameter names are lower-cased; quoted values are unquoted.
    """
    challenges: list[tuple[str, dict[str, str]]] = []
    for value in values:
        for item in _split_outside_quotes(value):
            item = item.strip()
            if not item:
                continue
            param = _AUTH_PARAM.match(item)
            if param and challenges:
                challenges[-1][1][param.group(1).lower()] = _unquote(param.group(2))
                continue
            scheme, _, rest = item.partition(" ")
            params: dict[str, str] = {}
            param = _AUTH_PARAM.match(rest.strip())
            if param:
                params[param.group(1).lower()] = _unquote(param.group(2))
            challenges.append((scheme.lower(), params))
    return challenges


def is_use_dpop_nonce(response: httpx.Response) -> bool:
    """Whether ``response`` asks for a (new) nonce.

    Resource servers answer ``401`` with ``WWW-Authenticate: DPoP error="use_dpop_nonce"``;
    authorization servers answer ``400`` with the JSON body ``{"error": "use_dpop_nonce"}``.
    The body must have been read for the second form.
    """
    if response.status_code == 401:
        challenges = parse_www_authenticate(response.headers.get_list("www-authenticate"))
        return any(
            scheme == "dpop" and params.get("error") == "use_dpop_nonce"
            for scheme, params in challenges
        )
    if response.status_code == 400:
        try:
            body = json.loads(response.content)
        except (ValueError, UnicodeDecodeError, httpx.ResponseNotRead):
            return False
        return isinstance(body, dict) and body.get("error") == "use_dpop_nonce"
    return False


class DpopAuth(httpx.Auth):
    """Signs every request with a fresh DPoP proof; retries once when the server wants a nonce.

    With ``access_token`` it also sends ``Authorization: DPoP <token>`` and binds the proof to the
    token (``ath``). ``nonces`` may be shared between auths (and threads); ``secret_sink``
    receives every proof and the access token so they can be redacted from evidence.
    ``max_nonce_retries=0`` turns the retry off for probes that want to see the first answer.

    The flow is a plain generator without I/O, so httpx drives it from both ``Client`` and
    ``AsyncClient``; the nonce store's lock is only held for dict reads and writes.
    """

    requires_request_body = True  # a retry re-sends the body

    def __init__(
        self,
        key: DpopKey,
        access_token: str | None = None,
        *,
        nonces: NonceStore | None = None,
        secret_sink: Callable[[str], None] | None = None,
        max_nonce_retries: int = 1,
    ) -> None:
        self.key = key
        self.access_token = access_token
        self.nonces = nonces if nonces is not None else NonceStore()
        self.secret_sink = secret_sink
        self.max_nonce_retries = max_nonce_retries
        self._lock = threading.Lock()
        self._nonce_retries = 0
        self._proofs_made = 0
        if access_token and secret_sink is not None:
            secret_sink(access_token)

    def __repr__(self) -> str:
        token = "[redacted]" if self.access_token else None
        return f"DpopAuth(jkt={self.key.thumbprint!r}, access_token={token})"

    @property
    def nonce_retries(self) -> int:
        """How many ``use_dpop_nonce`` retries this auth has made so far (all requests)."""
        with self._lock:
            return self._nonce_retries

    @property
    def proofs_made(self) -> int:
        with self._lock:
            return self._proofs_made

    def with_token(self, access_token: str | None) -> DpopAuth:
        """The same key, nonce store and sink with another access token (e.g. after refresh)."""
        return DpopAuth(
            self.key,
            access_token,
            nonces=self.nonces,
            secret_sink=self.secret_sink,
            max_nonce_retries=self.max_nonce_retries,
        )

    def _sign(self, request: httpx.Request, nonce: str | None = None) -> str | None:
        if nonce is None:
            nonce = self.nonces.get(origin_of(request.url))
        proof = make_dpop_proof(
            self.key,
            request.method,
            htu_of(str(request.url)),
            nonce=nonce,
            access_token=self.access_token,
        )
        if self.secret_sink is not None:
            self.secret_sink(proof)
        with self._lock:
            self._proofs_made += 1
        request.headers["DPoP"] = proof
        if self.access_token is not None:
            request.headers["Authorization"] = f"DPoP {self.access_token}"
        return nonce

    def _remember_nonce(self, response: httpx.Response) -> str | None:
        nonce = response.headers.get("dpop-nonce")
        if nonce:
            self.nonces.set(origin_of(response.request.url), nonce)
        return nonce or None

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        sent_nonce = self._sign(request)
        response = yield request
        retries = 0
        while True:
            given = self._remember_nonce(response)
            if retries >= self.max_nonce_retries or not is_use_dpop_nonce(response):
                return
            # Retry with the nonce this very response handed out: under concurrency the shared
            # store may already hold an older one written by a slower response.
            retry_nonce = given or self.nonces.get(origin_of(request.url))
            if retry_nonce is None or (given is None and retry_nonce == sent_nonce):
                return  # nothing new to try
            retries += 1
            with self._lock:
                self._nonce_retries += 1
            # A new Request, so the first response keeps the request it actually answered.
            request = _copy_request(request)
            sent_nonce = self._sign(request, retry_nonce)
            response = yield request

    # httpx's defaults read every response body when ``requires_response_body`` is set; the
    # only body this flow needs is a 400's (the AS-style nonce error), so read just that one.
    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        request.read()
        flow = self.auth_flow(request)
        request = next(flow)
        while True:
            response = yield request
            if response.status_code == 400:
                response.read()
            try:
                request = flow.send(response)
            except StopIteration:
                break

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        await request.aread()
        flow = self.auth_flow(request)
        request = next(flow)
        while True:
            response = yield request
            if response.status_code == 400:
                await response.aread()
            try:
                request = flow.send(response)
            except StopIteration:
                break


def _copy_request(request: httpx.Request) -> httpx.Request:
    # DPoP/Authorization are overwritten by ``_sign``; the framing headers are recomputed.
    headers = httpx.Headers(request.headers)
    for name in ("content-length", "transfer-encoding"):
        if name in headers:
            del headers[name]
    return httpx.Request(
        request.method,
        request.url,
        headers=headers,
        content=request.content,
        extensions=dict(request.extensions),
    )
