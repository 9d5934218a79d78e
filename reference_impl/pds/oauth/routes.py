"""Starlette adapter: turns HTTP requests into calls on the framework-free OAuth logic.

Every handler catches :class:`OAuthError` itself (rather than relying on the app's exception
handlers) so the routes answer correctly in any Starlette app they are mounted in, and so the
DPoP-Nonce header rides on every PAR/token response, success or failure (DPOP-11).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from types import MappingProxyType
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from ...common.errors import oauth_error_response
from .authorization import AuthorizationServer, Redirect
from .client_fetch import ClientResolver
from .config import OAuthConfig
from .errors import OAuthError, invalid_request
from .forms import MAX_FORM_BYTES, parse_form
from .metadata import (
    AS_METADATA_PATH,
    AUTHORIZE_PATH,
    JWKS_PATH,
    PAR_PATH,
    PROTECTED_RESOURCE_PATH,
    REVOKE_PATH,
    TOKEN_PATH,
    authorization_server_metadata,
    jwks_document,
    protected_resource_metadata,
)
from .pages import SECURITY_HEADERS, Pages

_NO_STORE: Mapping[str, str] = MappingProxyType({"Cache-Control": "no-store", "Pragma": "no-cache"})


async def _read_form(request: Request) -> dict[str, str]:
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise invalid_request("request body too large")
    return parse_form(bytes(body), request.headers.get("content-type"))


def _wants_json(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "text/html" not in accept


class OAuthEndpoints:
    def __init__(
        self,
        config: OAuthConfig,
        core: AuthorizationServer,
        resolver: ClientResolver,
        pages: Pages,
        public_jwk: dict[str, Any],
    ) -> None:
        self._core = core
        self._resolver = resolver
        self._pages = pages
        self._as_metadata = authorization_server_metadata(config)
        self._resource_metadata = protected_resource_metadata(config)
        self._jwks = jwks_document(public_jwk)

    def routes(self) -> list[BaseRoute]:
        return [
            Route(AS_METADATA_PATH, self.as_metadata, methods=["GET"]),
            Route(PROTECTED_RESOURCE_PATH, self.resource_metadata, methods=["GET"]),
            Route(JWKS_PATH, self.jwks, methods=["GET"]),
            Route(PAR_PATH, self.par, methods=["POST"]),
            Route(AUTHORIZE_PATH, self.authorize_page, methods=["GET"]),
            Route(AUTHORIZE_PATH, self.authorize_submit, methods=["POST"]),
            Route(TOKEN_PATH, self.token, methods=["POST"]),
            Route(REVOKE_PATH, self.revoke, methods=["POST"]),
        ]

    # -- discovery ---------------------------------------------------------------------------

    async def as_metadata(self, request: Request) -> Response:
        return JSONResponse(self._as_metadata)

    async def resource_metadata(self, request: Request) -> Response:
        return JSONResponse(self._resource_metadata)

    async def jwks(self, request: Request) -> Response:
        return JSONResponse(self._jwks)

    # -- DPoP-protected AS endpoints -----------------------------------------------------------

    def _nonce_headers(self) -> dict[str, str]:
        return {**_NO_STORE, "DPoP-Nonce": self._core.current_nonce()}

    async def _dpop_endpoint(
        self, request: Request, handle: Callable[[Request], Awaitable[tuple[int, dict[str, Any]]]]
    ) -> Response:
        try:
            status, body = await handle(request)
        except OAuthError as exc:
            response = oauth_error_response(exc)
            response.headers.setdefault("DPoP-Nonce", self._core.current_nonce())
            return response
        return JSONResponse(body, status_code=status, headers=self._nonce_headers())

    async def par(self, request: Request) -> Response:
        return await self._dpop_endpoint(request, self._par)

    async def _par(self, request: Request) -> tuple[int, dict[str, Any]]:
        form = await _read_form(request)
        proof = self._core.check_dpop(request.headers.getlist("dpop"), PAR_PATH)
        client = await self._resolver.resolve(form.get("client_id"))
        pushed = await run_in_threadpool(self._core.push, form, client, proof)
        return 201, {"request_uri": pushed.request_uri, "expires_in": pushed.expires_in}

    async def token(self, request: Request) -> Response:
        return await self._dpop_endpoint(request, self._token)

    async def _token(self, request: Request) -> tuple[int, dict[str, Any]]:
        form = await _read_form(request)
        proof = self._core.check_dpop(request.headers.getlist("dpop"), TOKEN_PATH)
        client = await self._resolver.resolve(form.get("client_id"))
        return 200, await run_in_threadpool(self._core.token, form, client, proof)

    async def revoke(self, request: Request) -> Response:
        try:
            form = await _read_form(request)
            await run_in_threadpool(self._core.revoke, form)
        except OAuthError as exc:
            return oauth_error_response(exc)
        return JSONResponse({}, headers=dict(_NO_STORE))

    # -- authorize page ----------------------------------------------------------------------

    def _page_error(self, request: Request, exc: OAuthError) -> Response:
        if _wants_json(request):
            return oauth_error_response(exc)
        return HTMLResponse(
            self._pages.error(exc.error, exc.description),
            status_code=exc.status,
            headers=SECURITY_HEADERS,
        )

    async def authorize_page(self, request: Request) -> Response:
        params = request.query_params
        try:
            pending = await run_in_threadpool(
                self._core.pending, params.get("client_id"), params.get("request_uri")
            )
        except OAuthError as exc:
            return self._page_error(request, exc)
        return HTMLResponse(self._pages.sign_in(pending), headers=SECURITY_HEADERS)

    async def authorize_submit(self, request: Request) -> Response:
        try:
            form = await _read_form(request)
            result = await run_in_threadpool(self._core.decide, form)
        except OAuthError as exc:
            return self._page_error(request, exc)
        if isinstance(result, Redirect):
            return RedirectResponse(result.location, status_code=303, headers=dict(_NO_STORE))
        return HTMLResponse(
            self._pages.sign_in(result.pending, result.message, result.identifier),
            status_code=result.status,
            headers=SECURITY_HEADERS,
        )
