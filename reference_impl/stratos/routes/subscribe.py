"""The ``zone.stratos.sync.subscribeRecords`` WebSocket: cursor replay, then live events.

Frames and filters are built in ``events.py``; this adapter checks the parameters, then polls
the event log every 100 ms and sends what is new. Errors are a frame ``{"op": -1}`` +
``{"error", "message"}`` followed by a close, as on ATProto event streams.
"""

from __future__ import annotations

import hmac
import logging
from typing import Any

import anyio
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from lexicons import LexiconValidationError

from ...common.errors import XrpcError
from ..core import Stratos
from ..events import encode_error, encode_message

NSID = "zone.stratos.sync.subscribeRecords"
POLL_INTERVAL_S = 0.1
BATCH = 500

log = logging.getLogger("reference_impl.stratos.subscribe")


class _StreamError(Exception):
    def __init__(self, error: str, message: str) -> None:
        super().__init__(f"{error}: {message}")
        self.error = error
        self.message = message


def subscribe_routes(stratos: Stratos, poll_interval_s: float = POLL_INTERVAL_S) -> list[BaseRoute]:
    events = stratos.events

    def check(raw: dict[str, list[str]]) -> dict[str, Any]:
        try:
            params = stratos.catalog.validate_params(NSID, raw)
        except LexiconValidationError as exc:
            raise _StreamError("InvalidRequest", f"Invalid parameters: {exc}") from exc
        token = params.get("syncToken")
        expected = stratos.config.sync_token.encode("utf-8")
        if not isinstance(token, str) or not hmac.compare_digest(token.encode("utf-8"), expected):
            raise _StreamError("AuthRequired", "A valid syncToken is required")
        return params

    async def stream(ws: WebSocket, params: dict[str, Any]) -> None:
        did, domain, cursor = params.get("did"), params.get("domain"), params.get("cursor")
        latest = await run_in_threadpool(events.latest_seq)
        if cursor is not None and cursor > latest:
            raise _StreamError("FutureCursor", f"Cursor {cursor} is ahead of the stream ({latest})")
        # Without a cursor, a subscriber gets what happens from now on.
        last = cursor if cursor is not None else latest
        while True:
            batch = await run_in_threadpool(events.read_after, last, BATCH)
            for event in batch:
                body = event.select(did, domain)
                if body is not None:
                    await ws.send_bytes(encode_message(event.kind, body))
                last = event.seq
            if len(batch) < BATCH:
                await anyio.sleep(poll_interval_s)

    async def endpoint(ws: WebSocket) -> None:
        await ws.accept()
        raw: dict[str, list[str]] = {}
        for key, value in ws.query_params.multi_items():
            raw.setdefault(key, []).append(value)
        async with anyio.create_task_group() as tasks:

            async def until_disconnect() -> None:
                try:
                    while (await ws.receive())["type"] != "websocket.disconnect":
                        pass
                except (WebSocketDisconnect, RuntimeError, OSError):
                    pass
                tasks.cancel_scope.cancel()

            tasks.start_soon(until_disconnect)
            try:
                await stream(ws, check(raw))
            except _StreamError as exc:
                try:
                    await ws.send_bytes(encode_error(exc.error, exc.message))
                    await ws.close(code=1008 if exc.error == "AuthRequired" else 1000)
                except (WebSocketDisconnect, RuntimeError, OSError):
                    pass
            except (WebSocketDisconnect, RuntimeError, OSError) as exc:
                # The subscriber went away mid-send; nothing to answer.
                log.debug("subscriber left: %s", exc)
            finally:
                tasks.cancel_scope.cancel()

    async def plain_http(request: Request) -> Response:
        # Without this, a plain GET would reach the XRPC router and look like an unknown method.
        raise XrpcError(
            400, "InvalidRequest", f"{NSID} is a subscription: connect with a WebSocket"
        )

    return [
        WebSocketRoute(f"/xrpc/{NSID}", endpoint),
        Route(f"/xrpc/{NSID}", plain_http, methods=["GET", "HEAD", "POST"]),
    ]
