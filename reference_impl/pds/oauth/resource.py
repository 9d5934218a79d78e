"""The PDS as an OAuth resource server: checking ``Authorization: DPoP <token>`` requests."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from ...common.dpop import SUPPORTED_ALGS, Clock, DpopError, DpopVerifier
from .errors import ResourceAuthError
from .ports import AccountDirectory
from .store import OAuthStore
from .tokens import AccessTokenCodec, InvalidAccessToken


class HeaderSource(Protocol):
    """Request headers that can list repeated fields (Starlette's ``Headers`` fits)."""

    def getlist(self, key: str) -> list[str]: ...


@dataclass(frozen=True)
class OAuthPrincipal:
    did: str
    scope: str
    client_id: str
    jkt: str
    token_id: str

    @property
    def scopes(self) -> frozenset[str]:
        return frozenset(self.scope.split(" "))


class AccessVerifier:
    def __init__(
        self,
        store: OAuthStore,
        accounts: AccountDirectory,
        tokens: AccessTokenCodec,
        dpop: DpopVerifier,
        clock: Clock,
    ) -> None:
        self._store = store
        self._accounts = accounts
        self._tokens = tokens
        self._dpop = dpop
        self._clock = clock

    def recognizes(self, token: str) -> bool:
        return self._tokens.is_ours(token)

    def _error(self, error: str | None, description: str, xrpc_error: str) -> ResourceAuthError:
        return ResourceAuthError(
            error,
            description,
            nonce=self._dpop.nonces.current(),
            algs=SUPPORTED_ALGS,
            xrpc_error=xrpc_error,
        )

    def verify(self, headers: HeaderSource, method: str, url: str) -> OAuthPrincipal:
        """Check token and proof of one request; ``url`` is the URL the client addressed."""
        values = headers.getlist("authorization")
        if not values:
            raise self._error(None, "Authorization required", "AuthRequired")
        if len(values) > 1:
            raise self._error("invalid_token", "more than one Authorization header", "InvalidToken")
        scheme, _, token = values[0].strip().partition(" ")
        token = token.strip()
        if scheme.lower() == "bearer":
            # DPOP-10: a DPoP-bound token sent as a bearer token is refused, not downgraded.
            if self._tokens.is_ours(token):
                raise self._error(
                    "invalid_token",
                    "DPoP-bound access token must be sent with the DPoP authorization scheme",
                    "InvalidToken",
                )
            raise self._error("invalid_token", "not an access token of this server", "InvalidToken")
        if scheme.lower() != "dpop" or not token:
            raise self._error(
                "invalid_token", "expected Authorization: DPoP <access token>", "InvalidToken"
            )

        # The proof comes first so an honest client missing the nonce just retries.
        try:
            proof = self._dpop.verify(headers.getlist("dpop"), method, url, access_token=token)
        except DpopError as exc:
            raise self._error(exc.error, exc.description, "AuthRequired") from exc

        try:
            claims = self._tokens.decode(token, self._clock())
        except InvalidAccessToken as exc:
            raise self._error(
                "invalid_token", exc.description, "ExpiredToken" if exc.expired else "InvalidToken"
            ) from exc
        session = self._store.session_of_access_token(claims.jti)
        if session is None or session.revoked_at is not None or session.did != claims.sub:
            raise self._error("invalid_token", "access token was revoked", "InvalidToken")
        # DPOP-07: the proof key must be the one the token is bound to.
        if proof.jkt != claims.jkt:
            raise self._error(
                "invalid_token", "DPoP key does not match the token's cnf.jkt", "InvalidToken"
            )
        if self._accounts.get(claims.sub) is None:
            raise self._error("invalid_token", "the account no longer exists", "InvalidToken")
        return OAuthPrincipal(
            did=claims.sub,
            scope=claims.scope,
            client_id=claims.client_id,
            jkt=claims.jkt,
            token_id=claims.jti,
        )
