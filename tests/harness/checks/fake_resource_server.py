"""A tiny DPoP resource server + XRPC service for testing the harness's checks.

It implements RFC 9449 at a resource server correctly enough for the harness's control requests
(proof signature, typ/alg/jwk, htm/htu, iat window, jti replay, nonces with rotation and a grace
period, ath, cnf.jkt, and verification of the access tokens it issued itself), plus a few XRPC
methods described by a test lexicon. ``misbehaviour`` breaks exactly one rule, so a test can show
that the matching check notices. Written for the tests only: it shares no code with
``reference_impl`` (and must not).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from email.utils import formatdate
from typing import Any

import jwt
import uvicorn
from cryptography.hazmat.primitives.asymmetric import ec
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from conformance.clients.dpop import DpopKey, access_token_hash, htu_of, jwk_thumbprint
from conformance.localserver import serve_in_thread
from conformance.scenarios.dpop import ProtectedEndpoint

MISBEHAVIOURS = frozenset(
    {
        # DPoP
        "accept_missing_proof",  # DPOP-01: no DPoP header → request accepted
        "wrong_error_name",  # DPOP-01/03/04: invalid_dpop_proof answered as "invalid_request"
        "no_nonce_header",  # DPOP-02: use_dpop_nonce without a DPoP-Nonce header
        "no_nonce_check",  # DPOP-02: proofs without (or with unknown) nonces accepted
        "ignore_htu",  # DPOP-03
        "ignore_iat",  # DPOP-04 / CLOCK-02
        "iat_too_strict",  # CLOCK-02: only ±2 s accepted
        "allow_replay",  # DPOP-05
        "ignore_ath",  # DPOP-06
        "ignore_jkt",  # DPOP-07
        "accept_typ_jwt",  # DPOP-08
        "accept_forged_token",  # DPOP-09: the access token's signature is not verified
        "accept_bearer",  # DPOP-10
        "no_nonce_on_success",  # DPOP-11
        "no_nonce_grace",  # DPOP-11: the previous nonce is refused as soon as a new one exists
        "nonce_race",  # DPOP-12: rotates the nonce on every request, only the newest valid
        "reject_all",  # every protected request (and every XRPC query) refused
        # clock
        "clock_skew",  # CLOCK-01: Date 30 s ahead
        "clock_skew_small",  # CLOCK-01 (warn): Date 3 s ahead
        # XRPC
        "html_404",  # XRPC-01: unknown methods get an HTML 404 page
        "non_envelope_errors",  # XRPC-02: errors as {"detail": ...}
        "crash_on_bad_params",  # XRPC-03: 500 on bad params
        "lenient_params",  # XRPC-03: bad params ignored, 200
        "output_missing_field",  # XRPC-04: required output field missing
    }
)

PROTECTED_NSID = "com.example.atconform.protected"
GET_THING = "com.example.atconform.getThing"
CREATE_THING = "com.example.atconform.createThing"

TEST_LEXICONS: tuple[dict[str, Any], ...] = (
    {
        "lexicon": 1,
        "id": GET_THING,
        "defs": {
            "main": {
                "type": "query",
                "parameters": {
                    "type": "params",
                    "required": ["id"],
                    "properties": {
                        "id": {"type": "string", "format": "did"},
                        "limit": {"type": "integer", "minimum": 1, "maximum": 100, "default": 10},
                    },
                },
                "output": {
                    "encoding": "application/json",
                    "schema": {
                        "type": "object",
                        "required": ["thing"],
                        "properties": {"thing": {"type": "ref", "ref": "#thing"}},
                    },
                },
                "errors": [{"name": "ThingNotFound"}],
            },
            "thing": {
                "type": "object",
                "required": ["id", "count"],
                "properties": {"id": {"type": "string"}, "count": {"type": "integer"}},
            },
        },
    },
    {
        "lexicon": 1,
        "id": CREATE_THING,
        "defs": {
            "main": {
                "type": "procedure",
                "input": {
                    "encoding": "application/json",
                    "schema": {
                        "type": "object",
                        "required": ["name"],
                        "properties": {"name": {"type": "string", "maxLength": 10}},
                    },
                },
                "output": {
                    "encoding": "application/json",
                    "schema": {
                        "type": "object",
                        "required": ["id"],
                        "properties": {"id": {"type": "string"}},
                    },
                },
            }
        },
    },
)

_PRIVATE_JWK_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
_DID_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"


class _Reject(Exception):
    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.error = error
        self.description = description


def make_did() -> str:
    return "did:plc:" + "".join(secrets.choice(_DID_ALPHABET) for _ in range(24))


@dataclass
class FakeResourceServer:
    misbehaviour: str | None = None
    nonce_interval: float = 1.0
    issuer: str = "http://as.fake.test"
    past_window: float = 60.0
    future_window: float = 10.0
    as_key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1()), repr=False
    )
    kid: str = "as-key-1"
    _nonce_secret: bytes = field(default_factory=lambda: secrets.token_bytes(32), repr=False)
    _seen_jtis: set[str] = field(default_factory=set, repr=False)
    _race_counter: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        if self.misbehaviour is not None and self.misbehaviour not in MISBEHAVIOURS:
            raise ValueError(f"unknown misbehaviour {self.misbehaviour!r}")

    def broken(self, name: str) -> bool:
        return self.misbehaviour == name

    # --- tokens ---------------------------------------------------------------------------

    def issue_token(self, jkt: str, *, sub: str | None = None, expires_in: int = 900) -> str:
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "sub": sub or make_did(),
            "aud": "did:web:rs.fake.test",
            "iat": now,
            "exp": now + expires_in,
            "jti": secrets.token_urlsafe(12),
            "scope": "atproto",
            "cnf": {"jkt": jkt},
        }
        return jwt.encode(
            claims, self.as_key, algorithm="ES256", headers={"typ": "at+jwt", "kid": self.kid}
        )

    def _verify_token(self, token: str) -> dict[str, Any]:
        verify = not self.broken("accept_forged_token")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self.as_key.public_key(),
                algorithms=["ES256"],
                issuer=self.issuer if verify else None,
                options={
                    "verify_signature": verify,
                    "verify_aud": False,
                    "verify_iss": verify,
                    "require": ["exp", "sub", "iss"],
                },
            )
        except jwt.PyJWTError as exc:
            raise _Reject("invalid_token", f"access token rejected: {exc}") from exc
        return claims

    def endpoint(self, base_url: str, method: str = "GET") -> ProtectedEndpoint:
        """The protected endpoint with a fresh DPoP key and a token bound to it."""
        key = DpopKey.generate()
        token = self.issue_token(key.thumbprint)
        url = f"{base_url}/xrpc/{PROTECTED_NSID}"
        if method == "POST":
            return ProtectedEndpoint(url, "POST", token, key, b'{"x":1}', "application/json")
        return ProtectedEndpoint(f"{url}?limit=5&cursor=abc", "GET", token, key)

    # --- nonces ---------------------------------------------------------------------------

    def _nonce_for(self, counter: int) -> str:
        digest = hmac.new(self._nonce_secret, str(counter).encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest[:18]).decode()

    def current_nonce(self) -> str:
        if self.broken("nonce_race"):
            return self._nonce_for(self._race_counter)
        return self._nonce_for(int(time.time() / self.nonce_interval))

    def _nonce_ok(self, nonce: Any) -> bool:
        if self.broken("nonce_race"):
            # the counter was bumped on arrival: only the nonce from just before is valid
            return nonce == self._nonce_for(self._race_counter - 1)
        epoch = int(time.time() / self.nonce_interval)
        valid = {self._nonce_for(epoch)}
        if not self.broken("no_nonce_grace"):
            valid.add(self._nonce_for(epoch - 1))
        return nonce in valid

    # --- DPoP -----------------------------------------------------------------------------

    def _verify_proof(self, request: Request, token: str) -> dict[str, Any]:
        """Verify the request's proof and the token; the token's claims."""
        proofs = request.headers.getlist("dpop")
        if not proofs:
            if self.broken("accept_missing_proof"):
                return self._verify_token(token)
            raise _Reject("invalid_dpop_proof", "missing DPoP proof")
        if len(proofs) > 1:
            raise _Reject("invalid_dpop_proof", "more than one DPoP header")
        proof = proofs[0]
        try:
            header = jwt.get_unverified_header(proof)
        except jwt.PyJWTError as exc:
            raise _Reject("invalid_dpop_proof", "unparsable DPoP proof") from exc
        typ_ok = header.get("typ") == "dpop+jwt" or (
            self.broken("accept_typ_jwt") and header.get("typ") == "jwt"
        )
        if not typ_ok:
            raise _Reject("invalid_dpop_proof", "proof typ must be dpop+jwt")
        if header.get("alg") != "ES256":
            raise _Reject("invalid_dpop_proof", "proof alg must be ES256")
        jwk = header.get("jwk")
        if not isinstance(jwk, dict) or jwk.get("kty") != "EC":
            raise _Reject("invalid_dpop_proof", "proof header needs a public EC jwk")
        if _PRIVATE_JWK_MEMBERS & set(jwk):
            raise _Reject("invalid_dpop_proof", "proof jwk holds private key material")
        try:
            public_key = jwt.PyJWK(jwk, algorithm="ES256").key
            claims = jwt.decode(
                proof,
                public_key,
                algorithms=["ES256"],
                options={
                    "verify_aud": False,
                    "verify_iat": False,
                    "require": ["jti", "htm", "htu", "iat"],
                },
            )
        except jwt.PyJWTError as exc:
            raise _Reject("invalid_dpop_proof", "proof signature or claims invalid") from exc
        if claims["htm"] != request.method:
            raise _Reject("invalid_dpop_proof", "htm does not match the request method")
        if not self.broken("ignore_htu") and claims["htu"] != htu_of(str(request.url)):
            raise _Reject("invalid_dpop_proof", "htu does not match the request URL")
        if not self.broken("ignore_iat"):
            past, future = self.past_window, self.future_window
            if self.broken("iat_too_strict"):
                past = future = 2.0
            now = time.time()
            if not now - past <= float(claims["iat"]) <= now + future:
                raise _Reject("invalid_dpop_proof", "iat outside the acceptance window")
        if not self.broken("no_nonce_check") and not self._nonce_ok(claims.get("nonce")):
            raise _Reject("use_dpop_nonce", "Resource server requires nonce in DPoP proof")
        with self._lock:
            if claims["jti"] in self._seen_jtis and not self.broken("allow_replay"):
                raise _Reject("invalid_dpop_proof", "DPoP proof replayed")
            self._seen_jtis.add(claims["jti"])
        token_claims = self._verify_token(token)
        if not self.broken("ignore_ath") and claims.get("ath") != access_token_hash(token):
            raise _Reject("invalid_dpop_proof", "ath does not match the access token")
        jkt = (token_claims.get("cnf") or {}).get("jkt")
        if not self.broken("ignore_jkt") and jkt != jwk_thumbprint(jwk):
            raise _Reject("invalid_dpop_proof", "proof key does not match the token's cnf.jkt")
        return token_claims

    def _challenge(self, reject: _Reject, nonce: str | None) -> Response:
        error = reject.error
        if error == "invalid_dpop_proof" and self.broken("wrong_error_name"):
            error = "invalid_request"
        challenge = f'DPoP error="{error}", error_description="{reject.description}", algs="ES256"'
        headers = {"WWW-Authenticate": challenge}
        if nonce is not None and not (error == "use_dpop_nonce" and self.broken("no_nonce_header")):
            headers["DPoP-Nonce"] = nonce
        return JSONResponse({"error": error, "message": reject.description}, 401, headers=headers)

    async def protected(self, request: Request) -> Response:
        if self.broken("nonce_race"):
            await asyncio.sleep(0.05)  # let concurrent requests overlap, as on a busy server
            self._race_counter += 1  # a new nonce on every request
        nonce = self.current_nonce()
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        try:
            if self.broken("reject_all"):
                raise _Reject("invalid_dpop_proof", "refusing everything")
            if not token:
                raise _Reject("invalid_token", "authorization required")
            if scheme.lower() == "bearer":
                if not self.broken("accept_bearer"):
                    raise _Reject(
                        "invalid_token", "DPoP-bound token presented with the Bearer scheme"
                    )
                claims = self._verify_token(token)
            elif scheme.lower() == "dpop":
                claims = self._verify_proof(request, token)
            else:
                raise _Reject("invalid_token", "unsupported authorization scheme")
        except _Reject as reject:
            return self._challenge(reject, nonce)
        headers = {} if self.broken("no_nonce_on_success") else {"DPoP-Nonce": nonce}
        return JSONResponse({"ok": True, "sub": claims["sub"]}, headers=headers)

    # --- XRPC -----------------------------------------------------------------------------

    def _xrpc_error(self, status: int, error: str, message: str) -> Response:
        if self.broken("non_envelope_errors"):
            return JSONResponse({"detail": message}, status)
        return JSONResponse({"error": error, "message": message}, status)

    async def get_thing(self, request: Request) -> Response:
        if self.broken("reject_all"):
            return self._xrpc_error(400, "InvalidRequest", "refusing everything")
        thing_id = request.query_params.get("id")
        raw_limit = request.query_params.get("limit", "10")
        problem = None
        if thing_id is None:
            problem = "id is required"
        elif not thing_id.startswith("did:") or " " in thing_id:
            problem = "id must be a DID"
        try:
            limit = int(raw_limit)
        except ValueError:
            if self.broken("crash_on_bad_params"):
                return self._xrpc_error(500, "InternalServerError", "ValueError")
            problem = problem or "limit must be an integer"
            limit = 10
        if not 1 <= limit <= 100:
            problem = problem or "limit out of range"
        if problem is not None and not self.broken("lenient_params"):
            return self._xrpc_error(400, "InvalidRequest", problem)
        if thing_id == "did:plc:nothingnothingnothing":
            return self._xrpc_error(400, "ThingNotFound", "no such thing")
        thing: dict[str, Any] = {"id": thing_id or ""}
        if not self.broken("output_missing_field"):
            thing["count"] = limit
        return JSONResponse({"thing": thing})

    async def create_thing(self, request: Request) -> Response:
        try:
            body = await request.json()
        except ValueError:
            return self._xrpc_error(400, "InvalidRequest", "body is not JSON")
        name = body.get("name") if isinstance(body, dict) else None
        if not isinstance(name, str):
            return self._xrpc_error(400, "InvalidRequest", "name must be a string")
        if len(name) > 10:
            if self.broken("crash_on_bad_params"):
                return PlainTextResponse("Internal Server Error", 500)
            return self._xrpc_error(400, "InvalidRequest", "name too long")
        return JSONResponse({"id": hashlib.sha256(name.encode()).hexdigest()[:8]})

    async def unknown(self, request: Request) -> Response:
        if self.broken("html_404"):
            return HTMLResponse("<html><body><h1>404 Not Found</h1></body></html>", 404)
        return self._xrpc_error(501, "MethodNotImplemented", "method not implemented")

    async def health(self, request: Request) -> Response:
        return JSONResponse({"ok": True})

    def app(self, *, set_date: bool = False) -> ASGIApp:
        """The ASGI app. With ``set_date`` it sets ``Date`` itself (accurate, or skewed by the
        clock misbehaviours); serve it with ``serve_own_date`` then, since uvicorn adds its own."""
        routes = [
            Route(f"/xrpc/{PROTECTED_NSID}", self.protected, methods=["GET", "POST"]),
            Route(f"/xrpc/{GET_THING}", self.get_thing, methods=["GET"]),
            Route(f"/xrpc/{CREATE_THING}", self.create_thing, methods=["POST"]),
            Route("/xrpc/{nsid:path}", self.unknown, methods=["GET", "POST"]),
            Route("/health", self.health),
        ]
        if not set_date:
            return Starlette(routes=routes)
        skew = (
            30.0 if self.broken("clock_skew") else 3.0 if self.broken("clock_skew_small") else 0.0
        )
        return DateHeader(Starlette(routes=routes), skew)


class DateHeader:
    """Sets an accurate (or deliberately skewed) HTTP ``Date`` on every response."""

    def __init__(self, app: ASGIApp, skew: float) -> None:
        self.app = app
        self.skew = skew

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_date(message: Message) -> None:
            if message["type"] == "http.response.start":
                date = formatdate(time.time() + self.skew, usegmt=True).encode()
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"date"]
                message = {**message, "headers": [*headers, (b"date", date)]}
            await send(message)

        await self.app(scope, receive, send_with_date)


@contextmanager
def running_server(
    misbehaviour: str | None = None, **settings: float
) -> Iterator[tuple[FakeResourceServer, str]]:
    """A fake server with ``misbehaviour`` served on loopback; yields it and its base URL."""
    server = FakeResourceServer(misbehaviour, **settings)  # type: ignore[arg-type]
    with serve_in_thread(server.app()) as base:
        yield server, base


Running = Callable[..., AbstractContextManager[tuple[FakeResourceServer, str]]]


@contextmanager
def serve_own_date(app: ASGIApp) -> Iterator[str]:
    """Like ``conformance.localserver.serve_in_thread`` but with uvicorn's own (once-a-second,
    possibly stale) ``Date`` header turned off, so the app's ``Date`` is the only one."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="off",
        access_log=False,
        date_header=False,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"fake-rs-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError("fake resource server did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
