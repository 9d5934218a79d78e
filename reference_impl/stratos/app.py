"""The reference Stratos service as one ASGI app.

Layers, outermost first: CORS (every response, CORS-01..03) → rate-limit headers on write
methods (STR-RL-02) → Starlette (routes, the one error mapping).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp

from ..common.background import BackgroundTask, background_lifespan
from ..common.cors import CorsMiddleware, CorsPolicy
from ..common.errors import exception_handlers
from ..common.faults import Faults
from ..common.service import ServiceSettings
from ..common.xrpc import Authenticator, XrpcRouter
from .auth import noting_caller, refuse_all_credentials
from .config import StratosConfig
from .core import Stratos, build_stratos
from .hooks import StratosHooks
from .identity import VERSION, identity_routes, register_health
from .ratelimit import Clock
from .ratelimit_http import RateLimitHeaders
from .routes import repo as repo_routes
from .routes import stratos as stratos_routes
from .routes import sync as sync_routes
from .routes.subscribe import subscribe_routes

# Routes another module adds with access to the service's parts (e.g. the OAuth enrolment
# routes, which need ``stratos.enrollments``).
ExtraRoutes = Callable[[Stratos], Iterable[BaseRoute]]


def cors_policy(faults: Faults) -> CorsPolicy:
    allowed: list[str] = []
    exposed: list[str] = []
    if "cors-no-expose-dpop-nonce" in faults:
        exposed.append("dpop-nonce")
    if "cors-no-expose-www-authenticate" in faults:
        exposed.append("www-authenticate")
    if "cors-no-allow-dpop" in faults:
        allowed.append("dpop")
    if "cors-no-allow-authorization" in faults:
        allowed.append("authorization")
    return CorsPolicy().without(allowed=allowed, exposed=exposed)


def create_app(
    stratos: Stratos,
    *,
    authenticator: Authenticator | None = None,
    extra_routes: ExtraRoutes | None = None,
    background: Sequence[BackgroundTask] = (),
) -> ASGIApp:
    """The ASGI app over built parts (the wiring API: ``build_stratos`` + this).

    ``background`` tasks are started and stopped with the app's lifespan; servers that run
    without a lifespan (tests) start them themselves.
    """
    config = stratos.config
    router = XrpcRouter(
        stratos.catalog, authenticate=noting_caller(authenticator or refuse_all_credentials)
    )
    register_health(router)
    repo_routes.register(router, stratos)
    sync_routes.register(router, stratos)
    stratos_routes.register(router, stratos)

    async def root(request: Request) -> Response:
        return JSONResponse({"service": VERSION, "did": config.service_did})

    routes: list[BaseRoute] = [
        Route("/", root, methods=["GET"]),
        *identity_routes(config.service_did, config.public_url, stratos.service_key, stratos.db),
        *subscribe_routes(stratos),
        stratos_routes.too_many_uris_guard(router),
        *(extra_routes(stratos) if extra_routes is not None else ()),
        *router.routes(),
    ]

    lifespan = background_lifespan(background, on_stop=stratos.close)
    app: ASGIApp = Starlette(
        routes=routes, exception_handlers=exception_handlers(), lifespan=lifespan
    )
    if "no-ratelimit-headers" not in config.faults:
        app = RateLimitHeaders(app, stratos.limiter)
    return CorsMiddleware(app, cors_policy(config.faults))


def build_app(
    settings: ServiceSettings,
    *,
    authenticator: Authenticator | None = None,
    hooks: StratosHooks | None = None,
    extra_routes: ExtraRoutes | None = None,
    background: Sequence[BackgroundTask] = (),
    rate_clock: Clock = time.monotonic,
) -> ASGIApp:
    """The Stratos app for these settings.

    ``authenticator``: the XRPC authenticator (DPoP/OAuth in production); None refuses every
    credential. ``hooks``: told about enrolments and commits (PDS sync); None does nothing.
    """
    config = StratosConfig.from_settings(settings)
    stratos = build_stratos(config, hooks, rate_clock=rate_clock)
    return create_app(
        stratos, authenticator=authenticator, extra_routes=extra_routes, background=background
    )
