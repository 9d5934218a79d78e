"""The AppView as a confidential OAuth client of users' PDSes (docs/atcr.md "OAuth").

- ``GET /client-metadata.json``, ``GET /auth/oauth/jwks``: the client documents;
- ``GET /auth/oauth/login?handle=`` → ``303`` to the user's authorization server;
- ``GET /auth/oauth/callback`` → ``200 {"did", "handle", "loggedIn": true}``: the session the
  registry needs to push as the user is stored;
- ``POST /auth/oauth/logout`` with HTTP Basic (as ``/auth/token``) → the session is revoked at
  the PDS and forgotten: ``200 {"loggedIn": false}``.

Browser-facing errors use the XRPC envelope (``{"error", "message"}``) as Stratos does; the
Basic-authenticated logout answers like the registry's token endpoint (OCI error body).
The protocol work is ``common/oauth_client``.
"""

from __future__ import annotations

import base64
import binascii
import logging

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from ...common.oauth_client import (
    LoginFailed,
    OAuthClient,
    OAuthClientError,
    ResolutionError,
    UpstreamError,
)
from .ports import BadCredentials, CredentialChecker, Unavailable

log = logging.getLogger("reference_impl.atcr.appview.oauth")

METADATA_PATH = "/client-metadata.json"
JWKS_PATH = "/auth/oauth/jwks"
LOGIN_PATH = "/auth/oauth/login"
CALLBACK_PATH = "/auth/oauth/callback"
LOGOUT_PATH = "/auth/oauth/logout"

_NO_STORE = {"Cache-Control": "no-store"}


def _xrpc_error(status: int, error: str, message: str) -> Response:
    return JSONResponse({"error": error, "message": message}, status_code=status, headers=_NO_STORE)


def _oci_error(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> Response:
    return JSONResponse(
        {"errors": [{"code": code, "message": message, "detail": None}]},
        status_code=status,
        headers={**_NO_STORE, **(headers or {})},
    )


def basic_credentials(request: Request) -> tuple[str, str] | None:
    scheme, _, value = (request.headers.get("authorization") or "").partition(" ")
    if scheme.lower() != "basic" or not value.strip():
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return split_user_password(decoded)


def split_user_password(decoded: str) -> tuple[str, str] | None:
    """``user:password``; a DID user keeps its own colons (``did:plc:abc:<password>``: the
    method-specific id of the DIDs we resolve has none)."""
    skip = 0
    if decoded.startswith("did:"):
        method_end = decoded.find(":", 4)
        skip = method_end + 1 if method_end > 0 else 0
    cut = decoded.find(":", skip)
    if cut <= 0:
        return None
    return decoded[:cut], decoded[cut + 1 :]


def build_oauth_routes(
    oauth: OAuthClient,
    credentials: CredentialChecker,
    *,
    metadata_404: bool = False,
) -> list[BaseRoute]:
    """``metadata_404`` is the ``client-metadata-404`` fault: the client ID URL answers 404, so
    every authorization server refuses the client ("unauthorized_client")."""
    identity = oauth.identity

    async def client_metadata(request: Request) -> Response:
        if metadata_404:
            return _xrpc_error(404, "NotFound", "Not Found")
        return JSONResponse(identity.metadata_document())

    async def jwks(request: Request) -> Response:
        return JSONResponse(identity.jwks())

    async def login(request: Request) -> Response:
        handle = (request.query_params.get("handle") or "").strip()
        if not handle:
            return _xrpc_error(400, "InvalidRequest", "handle is required")
        try:
            location, _ = await oauth.begin(handle)
        except UpstreamError as exc:
            log.warning("login for %s: %s", handle[:64], exc.message)
            return _xrpc_error(502, "UpstreamFailure", "The user's PDS could not be reached")
        except ResolutionError as exc:  # includes UnknownHandle
            return _xrpc_error(400, "InvalidRequest", f"Unable to resolve handle: {exc.message}")
        except OAuthClientError as exc:
            log.warning("login for %s refused by the PDS: %s", handle[:64], exc.message)
            return _xrpc_error(502, "UpstreamFailure", exc.message)
        return RedirectResponse(location, status_code=303, headers=_NO_STORE)

    async def callback(request: Request) -> Response:
        params = request.query_params
        if params.get("error"):
            return _xrpc_error(
                400, "InvalidRequest", f"Authorization failed: {params['error'][:64]}"
            )
        try:
            session = await oauth.complete(
                params.get("code"), params.get("state"), params.get("iss")
            )
        except LoginFailed as exc:
            return _xrpc_error(400, "InvalidRequest", exc.message)
        except OAuthClientError as exc:
            log.warning("callback: %s", exc.message)
            return _xrpc_error(502, "UpstreamFailure", "The user's PDS could not be reached")
        return JSONResponse(
            {"did": session.did, "handle": session.handle, "loggedIn": True}, headers=_NO_STORE
        )

    async def logout(request: Request) -> Response:
        pair = basic_credentials(request)
        challenge = {"WWW-Authenticate": 'Basic realm="atcr"'}
        if pair is None:
            return _oci_error(401, "UNAUTHORIZED", "HTTP Basic credentials are required", challenge)
        try:
            did = await credentials.check(*pair)
        except BadCredentials as exc:
            return _oci_error(401, "UNAUTHORIZED", exc.message, challenge)
        except Unavailable as exc:
            return _oci_error(503, "UNAVAILABLE", exc.message)
        # forget() revokes at the authorization server (best effort) and deletes the session.
        had_session = await oauth.forget(did)
        log.info("logout of %s (had a session: %s)", did, had_session)
        return JSONResponse({"did": did, "loggedIn": False}, headers=_NO_STORE)

    return [
        Route(METADATA_PATH, client_metadata, methods=["GET"]),
        Route(JWKS_PATH, jwks, methods=["GET"]),
        Route(LOGIN_PATH, login, methods=["GET"]),
        Route(CALLBACK_PATH, callback, methods=["GET"]),
        Route(LOGOUT_PATH, logout, methods=["POST"]),
    ]
