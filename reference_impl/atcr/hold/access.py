"""Request-level access control: service-auth for the XRPC router, and the crew rules.

Thin glue between ``service_auth`` (who is calling) and ``policy`` (what they may do).
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from ...common.errors import XrpcError
from ...common.xrpc import AuthResult
from .context import Hold
from .policy import may_read, may_write


class HoldAuthenticator:
    """The XrpcRouter authenticator: a service-auth JWT bound to the method called."""

    def __init__(self, hold: Hold) -> None:
        self.hold = hold

    async def __call__(self, request: Request) -> AuthResult | None:
        authorization = request.headers.get("authorization")
        if not authorization:
            return None
        did = await self.hold.verifier.verify(authorization, request.path_params["nsid"])
        return AuthResult(did)


def _check_write(hold: Hold, did: str) -> None:
    captain = hold.repo.captain()
    if not may_write(did, captain, hold.repo.permissions(did)):
        raise XrpcError(
            403, "Forbidden", "not crew of this hold with blob:write, and allowAllCrew is false"
        )


async def require_writer(hold: Hold, did: str) -> None:
    await run_in_threadpool(_check_write, hold, did)


async def require_reader(hold: Hold, request: Request, nsid: str) -> None:
    """Public holds need nothing; private ones a crew member's service-auth JWT."""
    captain = await run_in_threadpool(hold.repo.captain)
    if captain.public:
        return
    did = await hold.verifier.verify(request.headers.get("authorization"), nsid)
    permissions = await run_in_threadpool(hold.repo.permissions, did)
    if not may_read(did, captain, permissions):
        raise XrpcError(403, "Forbidden", "this hold is not public and you lack blob:read")
