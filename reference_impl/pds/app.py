"""The reference PDS as one ASGI app: XRPC, identity, OAuth authorization server."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp

from lexicons import load_catalog

from ..common.cors import CorsMiddleware
from ..common.errors import exception_handlers
from ..common.service import ServiceSettings
from ..common.xrpc import XrpcRouter
from ..primitives.tid import TidClock
from .accounts import AccountService
from .auth import PdsAuthenticator
from .blobs import BlobService
from .config import PdsConfig
from .context import Pds
from .oauth_wiring import build_pds_oauth
from .repos import RepoService
from .routes import identity as identity_routes
from .routes import repo as repo_routes
from .routes import server as server_routes
from .secrets_store import load_server_secrets
from .sessions import SessionService
from .store import open_database

VERSION = "atconform-reference-pds 0.1.0"


def build_pds(config: PdsConfig, clock: Callable[[], float] = time.time) -> Pds:
    db = open_database(config.data_dir)
    secrets = load_server_secrets(db)
    catalog = load_catalog()
    blobs = BlobService(db)
    tids = TidClock()
    repos = RepoService(db, blobs, catalog, tids)
    last_rev = repos.last_rev()
    if last_rev is not None:
        tids.observe(last_rev)
    accounts = AccountService(db, config, secrets.rotation_key, on_created=repos.create_repo)
    sessions = SessionService(
        db,
        accounts,
        secrets.session_secret,
        config.service_did,
        config.access_ttl_s,
        config.refresh_ttl_s,
        clock,
    )
    return Pds(config, db, catalog, accounts, sessions, repos, blobs, clock)


def build_app(settings: ServiceSettings) -> ASGIApp:
    config = PdsConfig.from_settings(settings)
    pds = build_pds(config)
    secrets = load_server_secrets(pds.db)
    http = httpx.AsyncClient(timeout=10.0, follow_redirects=False)
    oauth = build_pds_oauth(pds, secrets, http)

    router = XrpcRouter(pds.catalog, authenticate=PdsAuthenticator(pds, oauth))
    server_routes.register(router, pds)
    repo_routes.register(router, pds)
    identity_routes.register(router, pds)

    @router.query("_health")
    def health(_: object) -> dict[str, str]:
        return {"version": VERSION}

    async def root(request: Request) -> Response:
        return JSONResponse({"service": VERSION, "did": config.service_did})

    routes: list[BaseRoute] = [
        Route("/", root, methods=["GET"]),
        *router.routes(),
        *oauth.routes,
        *identity_routes.http_routes(pds),  # last: it owns the "/{did}" directory path
    ]

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await http.aclose()
            pds.db.close()

    app = Starlette(routes=routes, exception_handlers=exception_handlers(), lifespan=lifespan)
    return CorsMiddleware(app)
