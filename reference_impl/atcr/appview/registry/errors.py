"""THE one mapping from internal errors to OCI error responses (docs/atcr.md, "Error bodies").

Handlers raise ``RegistryError`` (or let a port's exception through); ``error_response`` turns
either into ``{"errors": [{"code", "message", "detail"}]}`` with the status the contract fixes.
Anything else is a bug: it is logged with its traceback and answered with a bare 500 body.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from starlette.requests import ClientDisconnect
from starlette.responses import JSONResponse, Response

from ..ports import (
    BadCredentials,
    BlobDigestMismatch,
    HoldDenied,
    NameUnknown,
    NoOAuthSession,
    PortError,
    Unavailable,
)

log = logging.getLogger("reference_impl.atcr.registry")

# Default status per code; a handler may override (e.g. BLOB_UPLOAD_INVALID is 416 for an
# out-of-order chunk, UNSUPPORTED 400 for a refused parameter rather than a method).
STATUS: dict[str, int] = {
    "BLOB_UNKNOWN": 404,
    "BLOB_UPLOAD_INVALID": 400,
    "BLOB_UPLOAD_UNKNOWN": 404,
    "DIGEST_INVALID": 400,
    "MANIFEST_BLOB_UNKNOWN": 400,
    "MANIFEST_INVALID": 400,
    "MANIFEST_UNKNOWN": 404,
    "NAME_INVALID": 400,
    "NAME_UNKNOWN": 404,
    "SIZE_INVALID": 400,
    "UNAUTHORIZED": 401,
    "DENIED": 403,
    "UNSUPPORTED": 405,
    "TOOMANYREQUESTS": 429,
    "UNAVAILABLE": 503,
    "UNKNOWN": 500,
}


class RegistryError(Exception):
    """An OCI error answer: ``code`` from the spec's list, ``detail`` any JSON value."""

    def __init__(
        self,
        code: str,
        message: str,
        detail: Any = None,
        status: int | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.detail = detail
        self.status = status if status is not None else STATUS[code]
        self.headers = dict(headers or {})


# Port exception -> OCI code; the port's message is passed on (it is written for users, e.g.
# the "log in again at ..." hint of NoOAuthSession).
_PORT_CODES: tuple[tuple[type[PortError], str], ...] = (
    (NameUnknown, "NAME_UNKNOWN"),
    (BadCredentials, "UNAUTHORIZED"),
    (NoOAuthSession, "UNAUTHORIZED"),
    (HoldDenied, "DENIED"),
    (Unavailable, "UNAVAILABLE"),
    (BlobDigestMismatch, "DIGEST_INVALID"),
)


def from_port_error(exc: PortError) -> RegistryError:
    for kind, code in _PORT_CODES:
        if isinstance(exc, kind):
            return RegistryError(code, exc.message)
    return RegistryError("UNKNOWN", "internal error", status=500)


def oci_error_body(code: str, message: str, detail: Any = None) -> dict[str, Any]:
    return {"errors": [{"code": code, "message": message, "detail": detail}]}


def error_response(exc: BaseException, *, challenge: Mapping[str, str] | None = None) -> Response:
    """The response for any exception. ``challenge`` (a ``WWW-Authenticate`` header) is added
    to 401s that do not carry their own, since every 401 must say how to authenticate."""
    if isinstance(exc, PortError):
        exc = from_port_error(exc)
    elif isinstance(exc, ClientDisconnect):
        # Nobody is left to read the answer; not a server fault worth a traceback.
        exc = RegistryError("BLOB_UPLOAD_INVALID", "client disconnected mid-body")
    if not isinstance(exc, RegistryError):
        log.error("unexpected error in the registry", exc_info=exc)
        exc = RegistryError("UNKNOWN", "internal error", status=500)
    headers = dict(exc.headers)
    if exc.status == 401 and challenge and "WWW-Authenticate" not in headers:
        headers.update(challenge)
    return JSONResponse(
        oci_error_body(exc.code, exc.message, exc.detail), status_code=exc.status, headers=headers
    )
