"""A tiny DPoP-nonce-demanding XRPC app behind a CORS layer, for testing the CORS checks.

It is a CORS test double: it asks for nonces like a DPoP resource server (``use_dpop_nonce`` +
``DPoP-Nonce`` on a proof without the current nonce) but does not verify tokens or proof
signatures. ``CorsSettings`` breaks exactly one thing at a time (a header missing from
Allow-Headers or Expose-Headers, no Max-Age, no CORS headers on errors...). Written for the tests
only; it shares no code with ``reference_impl``.
"""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

from starlette.applications import Starlette
from starlette.datastructures import Headers, MutableHeaders
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from conformance.localserver import serve_in_thread

ALLOW_HEADERS = (
    "authorization",
    "dpop",
    "content-type",
    "atproto-accept-labelers",
    "atproto-proxy",
)
EXPOSE_HEADERS = (
    "dpop-nonce",
    "www-authenticate",
    "ratelimit-limit",
    "ratelimit-policy",
    "ratelimit-remaining",
    "ratelimit-reset",
    "retry-after",
)
ALLOW_METHODS = ("GET", "HEAD", "POST", "OPTIONS")

PROTECTED = "com.example.cors.protected"  # DPoP + nonce; 200 without any auth header
MISSING = "com.example.cors.missing"  # 404 RecordNotFound
LIMITED = "com.example.cors.limited"  # 429 RateLimitExceeded
BOOM = "com.example.cors.boom"  # 500 InternalServerError
CREATE = "com.example.cors.create"  # POST → 200


@dataclass(frozen=True)
class CorsSettings:
    allow_headers: tuple[str, ...] = ALLOW_HEADERS
    expose_headers: tuple[str, ...] = EXPOSE_HEADERS
    allow_methods: tuple[str, ...] = ALLOW_METHODS
    max_age: int | None = 86400
    allow_origin: str = "echo"  # "echo" | "*" | "none" | a fixed origin
    preflight_status: int = 204
    cors_on_errors: bool = True  # False: only 2xx responses carry CORS headers

    def without_allowed(self, header: str) -> CorsSettings:
        return replace(self, allow_headers=tuple(h for h in self.allow_headers if h != header))

    def without_exposed(self, header: str) -> CorsSettings:
        return replace(self, expose_headers=tuple(h for h in self.expose_headers if h != header))


class FakeCors:
    """The CORS layer, wrapping the whole app (so 500s carry the headers too)."""

    def __init__(self, app: ASGIApp, settings: CorsSettings) -> None:
        self.app = app
        self.settings = settings

    def _origin_value(self, origin: str | None) -> str | None:
        mode = self.settings.allow_origin
        if mode == "none":
            return None
        if mode == "echo":
            return origin or "*"
        return mode

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_headers = Headers(scope=scope)
        origin = request_headers.get("origin")
        allow_origin = self._origin_value(origin)
        s = self.settings
        if scope["method"] == "OPTIONS" and "access-control-request-method" in request_headers:
            headers = [(b"vary", b"Origin"), (b"content-length", b"0")]
            if allow_origin is not None:
                headers.append((b"access-control-allow-origin", allow_origin.encode()))
            headers.append((b"access-control-allow-methods", ", ".join(s.allow_methods).encode()))
            headers.append((b"access-control-allow-headers", ", ".join(s.allow_headers).encode()))
            if s.max_age is not None:
                headers.append((b"access-control-max-age", str(s.max_age).encode()))
            await send(
                {"type": "http.response.start", "status": s.preflight_status, "headers": headers}
            )
            await send({"type": "http.response.body", "body": b""})
            return

        async def with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                ok = 200 <= message["status"] < 300
                if allow_origin is not None and (ok or s.cors_on_errors):
                    headers = MutableHeaders(scope=message)
                    headers["Access-Control-Allow-Origin"] = allow_origin
                    headers["Access-Control-Expose-Headers"] = ", ".join(s.expose_headers)
            await send(message)

        await self.app(scope, receive, with_cors)


def _proof_claims(proof: str) -> dict[str, Any] | None:
    try:
        _header, payload, _signature = proof.split(".")
        decoded = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
        claims = json.loads(decoded)
    except (ValueError, UnicodeDecodeError):
        return None
    return claims if isinstance(claims, dict) else None


RATE_HEADERS = {
    "RateLimit-Limit": "300",
    "RateLimit-Remaining": "299",
    "RateLimit-Reset": "60",
    "RateLimit-Policy": "300;w=60",
}


class FakeNonceServer:
    """The XRPC side: one rotating-free nonce per server, enough for the flow."""

    def __init__(self) -> None:
        self.nonce = secrets.token_urlsafe(12)

    def _deny(self, error: str, status: int = 401) -> JSONResponse:
        return JSONResponse(
            {"error": error, "message": error.replace("_", " ")},
            status_code=status,
            headers={"WWW-Authenticate": f'DPoP error="{error}"', "DPoP-Nonce": self.nonce},
        )

    async def protected(self, request: Request) -> Response:
        authorization = request.headers.get("authorization")
        proofs = request.headers.getlist("dpop")
        if authorization is None and not proofs:
            return JSONResponse({"public": True})
        if authorization is None or not authorization.startswith("DPoP "):
            return JSONResponse(
                {"error": "AuthRequired", "message": "DPoP token required"},
                status_code=401,
                headers={"WWW-Authenticate": "DPoP"},
            )
        if len(proofs) != 1 or (claims := _proof_claims(proofs[0])) is None:
            return self._deny("invalid_dpop_proof")
        if claims.get("nonce") != self.nonce:
            return self._deny("use_dpop_nonce")
        return JSONResponse({"ok": True}, headers={"DPoP-Nonce": self.nonce})

    async def missing(self, request: Request) -> Response:
        return JSONResponse(
            {"error": "RecordNotFound", "message": "Record not found"}, status_code=404
        )

    async def limited(self, request: Request) -> Response:
        return JSONResponse(
            {"error": "RateLimitExceeded", "message": "slow down"},
            status_code=429,
            headers={**RATE_HEADERS, "RateLimit-Remaining": "0", "Retry-After": "60"},
        )

    async def boom(self, request: Request) -> Response:
        return JSONResponse(
            {"error": "InternalServerError", "message": "deliberate 500"}, status_code=500
        )

    async def create(self, request: Request) -> Response:
        return JSONResponse({"created": True}, headers=RATE_HEADERS)

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route(f"/xrpc/{PROTECTED}", self.protected, methods=["GET"]),
                Route(f"/xrpc/{MISSING}", self.missing, methods=["GET"]),
                Route(f"/xrpc/{LIMITED}", self.limited, methods=["GET"]),
                Route(f"/xrpc/{BOOM}", self.boom, methods=["GET"]),
                Route(f"/xrpc/{CREATE}", self.create, methods=["POST"]),
            ]
        )


@contextmanager
def serve_cors_app(settings: CorsSettings = CorsSettings()) -> Iterator[str]:
    """The fake app behind ``FakeCors(settings)`` on loopback; yields its base URL."""
    with serve_in_thread(FakeCors(FakeNonceServer().app(), settings)) as base:
        yield base


# The four rows of the identity.md CORS table, each as the one setting that breaks it.
BROKEN = {
    "dpop": CorsSettings().without_allowed("dpop"),
    "dpop-nonce": CorsSettings().without_exposed("dpop-nonce"),
    "www-authenticate": CorsSettings().without_exposed("www-authenticate"),
    "authorization": CorsSettings().without_allowed("authorization"),
}
