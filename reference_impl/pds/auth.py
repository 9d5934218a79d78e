"""Who is calling an XRPC method: legacy session JWTs (Bearer) or OAuth access tokens (DPoP)."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from ..common.xrpc import AuthResult
from .caller import Caller
from .context import Pds
from .oauth.errors import ResourceAuthError
from .oauth.server import OAuthServer
from .sessions import ACCESS_SCOPE


class PdsAuthenticator:
    def __init__(self, pds: Pds, oauth: OAuthServer) -> None:
        self.pds = pds
        self.oauth = oauth

    async def __call__(self, request: Request) -> AuthResult | None:
        values = request.headers.getlist("authorization")
        if not values:
            return None
        scheme, _, token = values[0].strip().partition(" ")
        token = token.strip()
        if (
            len(values) == 1
            and scheme.lower() == "bearer"
            and token
            and not self.oauth.recognizes_token(token)
        ):
            session = await run_in_threadpool(self.pds.sessions.verify_access, token)
            if session.scope == ACCESS_SCOPE:
                return AuthResult(Caller(session.did, "session", session.scope))
            return AuthResult(Caller(session.did, "app-password", session.scope))
        # DPoP proofs name the URL the client addressed: the public URL, not the bound socket.
        url = self.pds.config.public_url + request.url.path
        try:
            principal = await run_in_threadpool(
                self.oauth.verify_access, request.headers, request.method, url
            )
        except ResourceAuthError as exc:
            raise exc.as_xrpc_error() from exc
        return AuthResult(
            Caller(principal.did, "oauth", principal.scope),
            {"DPoP-Nonce": self.oauth.current_nonce()},
        )
