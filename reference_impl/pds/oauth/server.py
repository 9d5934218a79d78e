"""Wiring: builds the OAuth authorization server of the PDS from its parts."""

from __future__ import annotations

from collections.abc import Callable

import httpx
from starlette.routing import BaseRoute

from ...common.dpop import DpopVerifier, NonceSource, ReplayCache
from ...common.sqlite import Database
from .authorization import AuthorizationServer
from .client_auth import ClientAuthenticator
from .client_fetch import ClientResolver
from .config import OAuthConfig
from .pages import Pages
from .ports import AccountDirectory
from .resource import AccessVerifier, HeaderSource, OAuthPrincipal
from .routes import OAuthEndpoints
from .store import OAuthStore
from .tokens import AccessTokenCodec


class OAuthServer:
    """The PDS's authorization server: HTTP routes plus the resource-server check."""

    def __init__(
        self,
        config: OAuthConfig,
        routes: list[BaseRoute],
        authorization: AuthorizationServer,
        access: AccessVerifier,
    ) -> None:
        self.config = config
        self.routes = routes
        self._authorization = authorization
        self._access = access

    def verify_access(self, request_headers: HeaderSource, method: str, url: str) -> OAuthPrincipal:
        """Check an ``Authorization: DPoP`` request; raises ResourceAuthError (always 401).

        ``url`` is the URL the client addressed, i.e. the public URL (``config.issuer`` + path),
        not the address the server is bound to. Blocking (one SQLite read): call it from a
        worker thread in async code.
        """
        return self._access.verify(request_headers, method, url)

    def recognizes_token(self, token: str) -> bool:
        """Whether a token claims to be one of this server's access tokens (header check only).

        Lets the PDS route ``Authorization: Bearer`` requests: its own session JWTs go to the
        legacy path, OAuth tokens to ``verify_access`` (which refuses them as Bearer)."""
        return self._access.recognizes(token)

    def current_nonce(self) -> str:
        """The DPoP nonce to send as ``DPoP-Nonce`` on successful resource responses (DPOP-11)."""
        return self._authorization.current_nonce()


def build_oauth_server(
    config: OAuthConfig,
    db: Database,
    accounts: AccountDirectory,
    http: httpx.AsyncClient,
    clock: Callable[[], float],
) -> OAuthServer:
    store = OAuthStore(db)
    nonces = NonceSource(config.nonce_secret, clock, config.nonce_rotation_s)
    # One verifier (and one replay cache) for the AS endpoints and the resource server alike.
    dpop = DpopVerifier(
        nonces,
        ReplayCache(),
        clock,
        max_future_s=config.dpop_max_future_s,
        max_past_s=config.dpop_max_past_s,
    )
    tokens = AccessTokenCodec(config.signing_key, config.issuer, audience=config.issuer)
    client_auth = ClientAuthenticator(
        config.issuer,
        clock,
        ReplayCache(),
        iat_tolerance_s=config.client_assertion_iat_tolerance_s,
        max_age_s=config.client_assertion_max_age_s,
    )
    authorization = AuthorizationServer(config, store, accounts, clock, dpop, tokens, client_auth)
    access = AccessVerifier(store, accounts, tokens, dpop, clock)
    resolver = ClientResolver(http, config.allow_http_client_ids, config.client_fetch_timeout_s)
    endpoints = OAuthEndpoints(
        config, authorization, resolver, Pages(config.issuer), tokens.public_jwk()
    )
    return OAuthServer(config, endpoints.routes(), authorization, access)
