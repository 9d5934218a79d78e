"""Callers as the core sees them, and the authenticator used when none is wired in.

The real authenticator (DPoP-bound OAuth tokens of users' PDSes) lives in
``reference_impl/common/resource_auth.py`` and is passed to ``build_app``. Whatever it is, its
``AuthResult.principal`` must have a ``did`` attribute.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from ..common.errors import XrpcError
from ..common.xrpc import Authenticator, AuthResult

# Where the authenticated DID of a request is noted for the rate-limit header middleware.
CALLER_SCOPE_KEY = "stratos.caller"


class CallerSlot:
    """A per-request box the middleware puts in the ASGI scope and the authenticator fills."""

    __slots__ = ("did",)

    def __init__(self) -> None:
        self.did: str | None = None


def caller_did(principal: Any) -> str | None:
    did = getattr(principal, "did", None)
    return did if isinstance(did, str) and did else None


async def refuse_all_credentials(request: Request) -> AuthResult | None:
    """The default when no authenticator is wired: anonymous requests stay anonymous, and any
    credential is refused — nothing is ever open by accident."""
    if request.headers.get("authorization") is None:
        return None
    raise XrpcError(
        401,
        "AuthRequired",
        "This Stratos instance has no credential verifier configured",
        headers={"WWW-Authenticate": 'DPoP error="invalid_token"'},
    )


def noting_caller(inner: Authenticator) -> Authenticator:
    """Wrap an authenticator so the caller's DID is noted in the request scope."""

    async def authenticate(request: Request) -> AuthResult | None:
        result = await inner(request)
        if result is not None:
            slot = request.scope.get(CALLER_SCOPE_KEY)
            if isinstance(slot, CallerSlot):
                slot.did = caller_did(result.principal)
        return result

    return authenticate
