"""CORS for browser-facing services (CORS-01..03).

Wraps the whole ASGI app — outside Starlette's error middleware — so that every response,
including a 500 produced by the framework, carries the headers a browser client needs to read
``DPoP-Nonce``, ``WWW-Authenticate`` and the rate-limit headers.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

ALLOWED_HEADERS = (
    "authorization",
    "dpop",
    "content-type",
    "atproto-accept-labelers",
    "atproto-proxy",
)
EXPOSED_HEADERS = (
    "dpop-nonce",
    "www-authenticate",
    "ratelimit-limit",
    "ratelimit-policy",
    "ratelimit-remaining",
    "ratelimit-reset",
    "retry-after",
)
ALLOWED_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


@dataclass(frozen=True)
class CorsPolicy:
    allowed_headers: tuple[str, ...] = ALLOWED_HEADERS
    exposed_headers: tuple[str, ...] = EXPOSED_HEADERS
    allowed_methods: tuple[str, ...] = ALLOWED_METHODS
    max_age_s: int = 86400

    def without(self, allowed: Iterable[str] = (), exposed: Iterable[str] = ()) -> CorsPolicy:
        """The same policy missing some headers — how deliberate CORS faults are made."""
        drop_allowed, drop_exposed = set(allowed), set(exposed)
        return CorsPolicy(
            tuple(h for h in self.allowed_headers if h not in drop_allowed),
            tuple(h for h in self.exposed_headers if h not in drop_exposed),
            self.allowed_methods,
            self.max_age_s,
        )


class CorsMiddleware:
    def __init__(self, app: ASGIApp, policy: CorsPolicy = CorsPolicy()) -> None:
        self.app = app
        self.policy = policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        origin = headers.get("origin")
        if scope["method"] == "OPTIONS" and headers.get("access-control-request-method"):
            await self._preflight(origin, send)
            return

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                response_headers = MutableHeaders(scope=message)
                response_headers["Access-Control-Allow-Origin"] = origin or "*"
                response_headers["Access-Control-Expose-Headers"] = ", ".join(
                    self.policy.exposed_headers
                )
                if origin:
                    response_headers.add_vary_header("Origin")
            await send(message)

        await self.app(scope, receive, send_with_cors)

    async def _preflight(self, origin: str | None, send: Send) -> None:
        # Tokens travel in headers, never cookies, so any origin may call: no credentials mode.
        response_headers = [
            (b"access-control-allow-origin", (origin or "*").encode("latin-1")),
            (b"access-control-allow-methods", ", ".join(self.policy.allowed_methods).encode()),
            (b"access-control-allow-headers", ", ".join(self.policy.allowed_headers).encode()),
            (b"access-control-max-age", str(self.policy.max_age_s).encode()),
            (b"vary", b"Origin"),
            (b"content-length", b"0"),
        ]
        await send({"type": "http.response.start", "status": 204, "headers": response_headers})
        await send({"type": "http.response.body", "body": b""})
