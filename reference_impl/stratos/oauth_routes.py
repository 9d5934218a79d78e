"""Enrollment over OAuth (STR-ENR-*): the client documents and the two browser-facing steps.

- ``GET /client-metadata.json`` and ``GET /oauth/jwks``: Stratos as a confidential client;
- ``GET /oauth/authorize?handle=…[&boundaries=a,b]``: resolve, push the authorization request to
  the user's PDS, ``303`` the browser there;
- ``GET /oauth/callback?code&state&iss``: exchange the code, check eligibility, enrol, write
  the enrollment record to the user's PDS, answer ``200`` JSON.

Errors use the XRPC envelope (``{"error", "message"}``) and are rendered here, so the routes
answer the same in any Starlette app. The protocol work is in ``common/oauth_client``; who may
enrol and what enrolling does is the core's ``EnrollmentService``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Protocol

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from ..common.errors import XrpcError, xrpc_error_response
from ..common.oauth_client import (
    LoginFailed,
    OAuthClient,
    OAuthClientError,
    ResolutionError,
    UpstreamError,
)
from .enrollment import Enrollment
from .errors import enrollment_denied

log = logging.getLogger("reference_impl.stratos.oauth")

METADATA_PATH = "/client-metadata.json"
JWKS_PATH = "/oauth/jwks"
AUTHORIZE_PATH = "/oauth/authorize"
CALLBACK_PATH = "/oauth/callback"

_NO_STORE = {"Cache-Control": "no-store"}
_MAX_BOUNDARY_NAMES = 50  # the enrollment record's boundaries maxLength


class EnrollmentPort(Protocol):
    """What the routes need from the core's ``EnrollmentService``."""

    def is_allowed(self, did: str) -> bool: ...

    def qualify(self, names: Iterable[str]) -> tuple[str, ...]: ...

    def enroll(
        self, did: str, handle: str | None, boundaries: Sequence[str] | None = None
    ) -> Enrollment: ...


class RecordDelivery(Protocol):
    """``PdsSync.deliver_now``: push a DID's queued PDS writes out now."""

    async def deliver_now(self, did: str) -> bool: ...


def _error(status: int, error: str, message: str) -> Response:
    response = xrpc_error_response(XrpcError(status, error, message))
    response.headers.update(_NO_STORE)
    return response


def _boundary_names(request: Request) -> list[str]:
    """``boundaries=a,b`` (also repeated ``boundaries=``) -> names, blanks dropped."""
    names: list[str] = []
    for value in request.query_params.getlist("boundaries"):
        names.extend(part.strip() for part in value.split(",") if part.strip())
    return names


def build_oauth_routes(
    oauth: OAuthClient,
    enrollments: EnrollmentPort,
    delivery: RecordDelivery | None = None,
) -> list[BaseRoute]:
    """The routes. ``delivery`` (the PdsSync) is asked to write the enrollment record the core's
    ``on_enrolled`` hook queued before the callback answers; without it nothing waits."""
    identity = oauth.identity

    async def client_metadata(request: Request) -> Response:
        return JSONResponse(identity.metadata_document())

    async def jwks(request: Request) -> Response:
        return JSONResponse(identity.jwks())

    async def authorize(request: Request) -> Response:
        handle = (request.query_params.get("handle") or "").strip()
        if not handle:
            return _error(400, "InvalidRequest", "handle is required")
        names = _boundary_names(request)
        if len(names) > _MAX_BOUNDARY_NAMES:
            return _error(400, "InvalidRequest", "too many boundaries")
        try:
            # Checked before the user is sent anywhere: an unknown domain fails fast.
            boundaries = list(enrollments.qualify(names)) if names else []
            location, _ = await oauth.begin(handle, {"boundaries": boundaries})
        except XrpcError as exc:
            return xrpc_error_response(exc)
        except UpstreamError as exc:
            log.warning("authorize for %s: %s", handle, exc.message)
            return _error(502, "UpstreamFailure", "The user's PDS could not be reached")
        except ResolutionError as exc:  # includes UnknownHandle
            return _error(400, "InvalidRequest", f"Unable to resolve handle: {exc.message}")
        except OAuthClientError as exc:
            log.warning("authorize for %s refused by the PDS: %s", handle, exc.message)
            return _error(502, "UpstreamFailure", exc.message)
        return RedirectResponse(location, status_code=303, headers=_NO_STORE)

    async def callback(request: Request) -> Response:
        params = request.query_params
        if params.get("error"):
            # The user denied, or the PDS could not continue; the pending login just expires.
            return _error(400, "InvalidRequest", f"Authorization failed: {params['error'][:64]}")
        try:
            session = await oauth.complete(
                params.get("code"), params.get("state"), params.get("iss")
            )
        except LoginFailed as exc:
            return _error(400, "InvalidRequest", exc.message)
        except OAuthClientError as exc:
            log.warning("callback: %s", exc.message)
            return _error(502, "UpstreamFailure", "The user's PDS could not be reached")

        did = session.did
        if not enrollments.is_allowed(did):
            # We may not act for this user at all: drop (and revoke) the session just made.
            await oauth.forget(did)
            return xrpc_error_response(enrollment_denied())
        raw = session.extra_state.get("boundaries")
        boundaries = [b for b in raw if isinstance(b, str)] if isinstance(raw, list) else []
        try:
            enrollment = await run_in_threadpool(
                enrollments.enroll, did, session.handle, boundaries or None
            )
        except XrpcError as exc:
            if exc.status == 403:
                await oauth.forget(did)
            return xrpc_error_response(exc)

        # The on_enrolled hook queued the enrollment record; write it before answering.
        if delivery is not None and not await delivery.deliver_now(did):
            log.warning("enrollment record of %s not written yet; it stays queued", did)
        return JSONResponse(
            {
                "did": did,
                "handle": enrollment.handle or session.handle,
                "enrolled": True,
                "boundaries": list(enrollment.boundaries),
                "enrolledAt": enrollment.enrolled_at,
            },
            headers=_NO_STORE,
        )

    return [
        Route(METADATA_PATH, client_metadata, methods=["GET"]),
        Route(JWKS_PATH, jwks, methods=["GET"]),
        Route(AUTHORIZE_PATH, authorize, methods=["GET"]),
        Route(CALLBACK_PATH, callback, methods=["GET"]),
    ]
