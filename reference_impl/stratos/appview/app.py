"""The reference Stratos AppView as one ASGI app: the timeline, health, and the stream consumer.

The consumer runs for the app's lifetime (started and stopped by the ASGI lifespan), so the
server must run with lifespan on — ``run_service`` does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from lexicons import load_catalog

from ...common.cors import CorsMiddleware
from ...common.errors import exception_handlers, invalid_request
from ...common.service import ServiceSettings
from ...common.xrpc import Authenticator, XrpcRequest, XrpcRouter
from .auth import CallerAuth, plain_missing_credentials, resource_auth, viewer_did
from .config import AppViewConfig
from .index import AppViewIndex
from .stream import StreamConsumer, StreamSource
from .timeline import CursorError, decode_cursor, timeline_output

VERSION = "atconform-reference-stratos-appview 0.1.0"
TIMELINE_NSID = "zone.stratos.feed.getTimeline"

log = logging.getLogger("reference_impl.stratos.appview")


def build_app(settings: ServiceSettings, *, authenticator: Authenticator | None = None) -> ASGIApp:
    """The AppView. ``authenticator`` replaces the DPoP resource-server authenticator (tests);
    its ``AuthResult.principal.did`` is the viewer."""
    config = AppViewConfig.from_settings(settings)
    index = AppViewIndex.open(config.data_dir)
    if index.bind_source(config.stratos_url):
        log.warning(
            "index was built from another stream; cleared, replaying %s", config.stratos_url
        )
    http = httpx.AsyncClient(timeout=10.0, follow_redirects=False, trust_env=False)
    caller_auth = (
        CallerAuth(authenticator, plain_missing_credentials)
        if authenticator is not None
        else resource_auth(
            config.public_url, config.plc_url, http, require_nonce=config.dpop_require_nonce
        )
    )
    consumer = StreamConsumer(
        index,
        StreamSource(
            config.stratos_url,
            config.sync_token,
            config.reconnect_min_s,
            config.reconnect_max_s,
        ),
    )

    router = XrpcRouter(load_catalog(), authenticate=caller_auth.authenticate)

    # "optional" at the router so that a request without credentials gets this service's own
    # challenge (with a DPoP nonce) rather than the router's bare 401; present-but-invalid
    # credentials are refused by the authenticator either way.
    @router.query(TIMELINE_NSID, auth="optional")
    def get_timeline(request: XrpcRequest) -> dict[str, Any]:
        if request.principal is None:
            raise caller_auth.missing_credentials()
        viewer = viewer_did(request.principal)
        raw_cursor = request.params.get("cursor")
        try:
            after = decode_cursor(raw_cursor) if raw_cursor else None
        except CursorError as exc:
            raise invalid_request(str(exc)) from exc
        page = index.timeline(viewer, int(request.params.get("limit", 50)), after)
        return timeline_output(list(page.posts), page.next_page)

    @router.query("_health")
    def health(_: XrpcRequest) -> dict[str, Any]:
        return {"version": VERSION, "cursor": index.cursor(), "connected": consumer.connected}

    async def root(_: Request) -> Response:
        return JSONResponse({"service": VERSION})

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        task = asyncio.create_task(consumer.run(), name="stratos-appview-stream")
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await consumer.aclose()
            await http.aclose()
            log.info("stopped; the stream will resume after seq %s", index.cursor())
            index.db.close()

    app = Starlette(
        routes=[Route("/", root, methods=["GET"]), *router.routes()],
        exception_handlers=exception_handlers(),
        lifespan=lifespan,
    )
    return CorsMiddleware(app)
