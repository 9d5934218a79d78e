"""The registry ASGI app: ``/v2/`` (OCI Distribution v1.1), ``/auth/token``, ``/auth/jwks``,
``/xrpc/_health``, plus whatever routes the wiring adds (OAuth, client metadata).

Starlette cannot route multi-segment repository names, so one catch-all route hands the raw
``/v2/`` tail to ``routing.match_path`` and dispatches to the per-resource handler. Every
``/v2/`` answer, errors included, goes through ``errors.error_response`` and carries
``Docker-Distribution-API-Version``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from ....common.background import BackgroundTask, background_lifespan
from ..ports import PortError, RegistryPorts
from .auth import Challenge, RequestAuth, TokenEndpoint, auth_routes
from .blob_links import BlobLinks
from .context import RegistryContext
from .errors import RegistryError, error_response
from .handlers import blobs, manifests, referrers, tags, uploads
from .handlers.base import api_base
from .names import InvalidName, parse_name
from .routing import METHODS, match_path
from .settings import RegistrySettings
from .tokens import TokenIssuer
from .uploads import UploadStore

VERSION = "atconform-reference-atcr-appview 0.1.0"
API_VERSION_HEADER = ("Docker-Distribution-API-Version", "registry/2.0")

Handler = Callable[[RegistryContext, Request, Any, Any], Awaitable[Response]]
_HANDLERS: Mapping[str, Handler] = MappingProxyType(
    {
        "blob": blobs.blob,
        "upload_start": uploads.start,
        "upload": uploads.session,
        "manifest": manifests.manifest,
        "tags": tags.tags_list,
        "referrers": referrers.referrers,
    }
)
_ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]

__all__ = ["VERSION", "BackgroundTask", "RegistrySettings", "create_registry_app"]


def _v2_tail(request: Request) -> str:
    # The raw path: a did:web owner keeps its ``%3A`` instead of gaining a ``:``.
    raw = request.scope.get("raw_path")
    path = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else request.url.path
    return path.split("/v2/", 1)[1] if "/v2/" in path else ""


async def _dispatch(ctx: RegistryContext, request: Request) -> Response:
    target = match_path(_v2_tail(request))
    if target is None:
        raise RegistryError("UNSUPPORTED", "no such registry endpoint", status=404)
    allowed = METHODS[target.kind]
    if request.method not in allowed:
        raise RegistryError(
            "UNSUPPORTED",
            f"{request.method} is not supported here",
            headers={"Allow": ", ".join(sorted(allowed))},
        )
    if target.kind == "base":
        return await api_base(ctx, request)
    try:
        name = parse_name(target.name or "")
    except InvalidName as exc:
        raise RegistryError("NAME_INVALID", str(exc), (target.name or "")[:300]) from None
    return await _HANDLERS[target.kind](ctx, request, name, target.arg)


def create_registry_app(
    ports: RegistryPorts,
    settings: RegistrySettings,
    *,
    extra_routes: Sequence[BaseRoute] = (),
    background: Sequence[BackgroundTask] = (),
) -> Starlette:
    """The registry app over ``ports``. ``extra_routes`` are mounted before the registry's
    own (OAuth, client metadata); ``background`` tasks start and stop with the lifespan
    (servers run without a lifespan, like the tests', start them themselves)."""
    issuer = TokenIssuer(
        settings.signing_key,
        issuer=settings.origin,
        audience=settings.service_name,
        ttl_s=settings.token_ttl_s,
        clock=settings.clock,
    )
    push_anywhere = "push-other-namespace" in settings.faults
    challenge = Challenge(
        realm=settings.url("/auth/token"),
        service=settings.service_name,
        with_realm="no-www-authenticate-realm" not in settings.faults,
    )
    ctx = RegistryContext(
        ports=ports,
        settings=settings,
        auth=RequestAuth(issuer, challenge, skip_namespace_check=push_anywhere),
        uploads=UploadStore(settings.spool_dir, settings.clock),
        links=BlobLinks.open(settings.blob_links_path),
    )
    token_endpoint = TokenEndpoint(issuer, ports.owners, ports.credentials, push_anywhere)

    async def v2(request: Request) -> Response:
        try:
            response = await _dispatch(ctx, request)
        except Exception as exc:  # the one mapping; never a traceback on the wire
            response = error_response(exc, challenge=challenge.header())
        response.headers[API_VERSION_HEADER[0]] = API_VERSION_HEADER[1]
        return response

    async def health(request: Request) -> Response:
        return JSONResponse({"version": VERSION})

    async def mapped(request: Request, exc: Exception) -> Response:
        return error_response(exc)

    routes: list[BaseRoute] = [
        *extra_routes,
        Route("/xrpc/_health", health, methods=["GET"]),
        *auth_routes(token_endpoint),
        Route("/v2/", v2, methods=_ALL_METHODS),
        Route("/v2/{rest:path}", v2, methods=_ALL_METHODS),
    ]

    lifespan = background_lifespan(background)
    app = Starlette(
        routes=routes,
        # Extra routes may raise the registry's or the ports' errors too: same mapping.
        exception_handlers={RegistryError: mapped, PortError: mapped},
        lifespan=lifespan,
    )
    app.state.registry = ctx  # for the wiring and tests (e.g. the upload store)
    return app
