"""Adds the ``RateLimit-*`` headers to every write response (STR-RL-02).

Every response to a write method gets them — success, any 4xx (including ones the XRPC layer
produces before a handler runs, such as invalid input) and the 429 — computed for the caller
when it was authenticated, and as a fresh window otherwise. Handlers only count writes; the
headers are read from the limiter as the response starts, after the write was counted.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .auth import CALLER_SCOPE_KEY, CallerSlot
from .ratelimit import WriteRateLimiter

WRITE_METHODS = frozenset(
    {
        "com.atproto.repo.createRecord",
        "com.atproto.repo.putRecord",
        "com.atproto.repo.deleteRecord",
        "com.atproto.repo.applyWrites",
        "com.atproto.repo.uploadBlob",
        "zone.stratos.repo.importRepo",
    }
)


class RateLimitHeaders:
    def __init__(self, app: ASGIApp, limiter: WriteRateLimiter) -> None:
        self.app = app
        self.limiter = limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if not path.startswith("/xrpc/") or path.removeprefix("/xrpc/") not in WRITE_METHODS:
            await self.app(scope, receive, send)
            return
        slot = CallerSlot()
        scope[CALLER_SCOPE_KEY] = slot

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in self.limiter.state(slot.did).headers().items():
                    headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)
