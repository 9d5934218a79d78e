"""The one place where internal errors become wire errors.

Every reference service installs ``exception_handlers()``: XRPC errors become the
``{"error", "message"}`` envelope, OAuth errors the ``{"error", "error_description"}`` body, and
anything unexpected a logged ``500 InternalServerError`` envelope — never a traceback on the wire.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

log = logging.getLogger("reference_impl.errors")

# HTTP statuses the framework itself raises, mapped onto generic XRPC error names.
_GENERIC_NAMES = {
    400: "InvalidRequest",
    401: "AuthRequired",
    403: "Forbidden",
    404: "NotFound",
    405: "InvalidRequest",
    413: "PayloadTooLarge",
    429: "RateLimitExceeded",
    501: "MethodNotImplemented",
}


class XrpcError(Exception):
    """An error answered with the XRPC JSON envelope; ``extra`` adds fields such as ``reason``."""

    def __init__(
        self,
        status: int,
        error: str,
        message: str,
        headers: Mapping[str, str] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(f"{status} {error}: {message}")
        self.status = status
        self.error = error
        self.message = message
        self.headers = dict(headers or {})
        self.extra = dict(extra or {})


def invalid_request(message: str, error: str = "InvalidRequest") -> XrpcError:
    return XrpcError(400, error, message)


def auth_required(message: str = "Authentication required") -> XrpcError:
    return XrpcError(401, "AuthRequired", message)


class OAuthError(Exception):
    """An error answered with an OAuth 2 error body (RFC 6749 §5.2)."""

    def __init__(
        self,
        status: int,
        error: str,
        description: str,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status} {error}: {description}")
        self.status = status
        self.error = error
        self.description = description
        self.headers = dict(headers or {})


def xrpc_error_response(exc: XrpcError) -> JSONResponse:
    return JSONResponse(
        {**exc.extra, "error": exc.error, "message": exc.message},
        status_code=exc.status,
        headers=exc.headers,
    )


def oauth_error_response(exc: OAuthError) -> JSONResponse:
    return JSONResponse(
        {"error": exc.error, "error_description": exc.description},
        status_code=exc.status,
        headers={"Cache-Control": "no-store", **exc.headers},
    )


async def _on_xrpc_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, XrpcError)
    return xrpc_error_response(exc)


async def _on_oauth_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, OAuthError)
    return oauth_error_response(exc)


async def _on_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    name = _GENERIC_NAMES.get(
        exc.status_code, "InvalidRequest" if exc.status_code < 500 else "InternalServerError"
    )
    message = exc.detail if isinstance(exc.detail, str) and exc.detail else name
    headers = dict(exc.headers or {})
    return JSONResponse(
        {"error": name, "message": message}, status_code=exc.status_code, headers=headers
    )


async def _on_unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return JSONResponse(
        {"error": "InternalServerError", "message": "Internal server error"}, status_code=500
    )


def exception_handlers() -> dict[Any, Any]:
    return {
        XrpcError: _on_xrpc_error,
        OAuthError: _on_oauth_error,
        HTTPException: _on_http_exception,
        Exception: _on_unexpected,
    }
