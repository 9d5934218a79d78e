"""The reference Hold as one ASGI app: identity, its repo, uploads, blob reads."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp

from lexicons import load_catalog

from ...common.errors import exception_handlers
from ...common.service import ServiceSettings
from ...common.xrpc import XrpcRouter
from .access import HoldAuthenticator
from .config import HoldConfig
from .context import Hold
from .hold_repo import Captain, HoldRepo
from .identity import load_or_create_key
from .routes import blobs as blob_routes
from .routes import identity as identity_routes
from .routes import repo as repo_routes
from .routes import uploads as upload_routes
from .service_auth import ServiceAuthVerifier
from .storage import StorageUnavailable
from .storage.factory import build_storage
from .store import open_database
from .uploads import UploadService


def build_hold(
    config: HoldConfig, http: httpx.AsyncClient, clock: Callable[[], float] = time.time
) -> Hold:
    db = open_database(config.data_dir)
    catalog = load_catalog()
    key = load_or_create_key(db)
    repo = HoldRepo(db, config.did, key, catalog)
    repo.sync_settings(
        Captain(config.owner, config.public, config.allow_all_crew), config.crew, clock()
    )
    storage = build_storage(config)
    uploads = UploadService(
        db,
        storage,
        config.part_size,
        verify_digests="no-digest-verify" not in config.faults,
        clock=clock,
    )
    verifier = ServiceAuthVerifier(http, config.plc_url, config.did, clock=clock)
    return Hold(config, db, catalog, key, repo, storage, uploads, verifier, clock)


async def _on_storage_unavailable(request: Request, exc: Exception) -> Response:
    # Not logged with a traceback: an outage is an expected condition, one line is enough.
    return JSONResponse(
        {"error": "StorageUnavailable", "message": f"blob storage is unavailable: {exc}"},
        status_code=503,
        headers={"Retry-After": "5"},
    )


def build_hold_app(config: HoldConfig, clock: Callable[[], float] = time.time) -> Starlette:
    http = httpx.AsyncClient(timeout=5.0, follow_redirects=False)
    hold = build_hold(config, http, clock)
    router = XrpcRouter(hold.catalog, authenticate=HoldAuthenticator(hold))
    repo_routes.register(router, hold)
    upload_routes.register(router, hold)
    blob_routes.register(router, hold)

    @router.query("_health")
    def health(_: object) -> dict[str, str]:
        return {"version": identity_routes.VERSION}

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await http.aclose()
            hold.db.close()

    routes = [
        *identity_routes.http_routes(hold),
        *upload_routes.http_routes(hold),  # before the router: uploadPart streams its body
        *router.routes(),
    ]
    handlers = {**exception_handlers(), StorageUnavailable: _on_storage_unavailable}
    app = Starlette(routes=routes, exception_handlers=handlers, lifespan=lifespan)
    app.state.hold = hold  # for in-process tests and embedding
    return app


def build_app(settings: ServiceSettings) -> ASGIApp:
    return build_hold_app(HoldConfig.from_settings(settings))
