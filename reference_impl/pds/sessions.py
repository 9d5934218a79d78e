"""Legacy (pre-OAuth) sessions: HS256 access/refresh JWTs, refresh tokens single use."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field

import jwt

from ..common.errors import XrpcError
from ..common.sqlite import Database
from .accounts import Account, AccountService

ACCESS_SCOPE = "com.atproto.access"
APP_PASS_SCOPE = "com.atproto.appPass"  # noqa: S105 (a scope name)
APP_PASS_PRIVILEGED_SCOPE = "com.atproto.appPassPrivileged"  # noqa: S105
REFRESH_SCOPE = "com.atproto.refresh"


@dataclass(frozen=True)
class SessionTokens:
    access_jwt: str = field(repr=False)
    refresh_jwt: str = field(repr=False)


@dataclass(frozen=True)
class SessionPrincipal:
    did: str
    scope: str
    app_password: str | None

    @property
    def full_access(self) -> bool:
        return self.scope == ACCESS_SCOPE


class SessionService:
    def __init__(
        self,
        db: Database,
        accounts: AccountService,
        secret: bytes,
        audience: str,
        access_ttl_s: int,
        refresh_ttl_s: int,
        clock: Callable[[], float],
    ) -> None:
        self.db = db
        self.accounts = accounts
        self.secret = secret
        self.audience = audience
        self.access_ttl_s = access_ttl_s
        self.refresh_ttl_s = refresh_ttl_s
        self.clock = clock

    def issue(self, account: Account, app_password: str | None, privileged: bool) -> SessionTokens:
        now = int(self.clock())
        if app_password is None:
            scope = ACCESS_SCOPE
        else:
            scope = APP_PASS_PRIVILEGED_SCOPE if privileged else APP_PASS_SCOPE
        access = jwt.encode(
            {
                "scope": scope,
                "sub": account.did,
                "aud": self.audience,
                "iat": now,
                "exp": now + self.access_ttl_s,
                "jti": secrets.token_urlsafe(12),
            },
            self.secret,
            algorithm="HS256",
            headers={"typ": "at+jwt"},
        )
        refresh_id = secrets.token_urlsafe(24)
        refresh = jwt.encode(
            {
                "scope": REFRESH_SCOPE,
                "sub": account.did,
                "aud": self.audience,
                "iat": now,
                "exp": now + self.refresh_ttl_s,
                "jti": refresh_id,
            },
            self.secret,
            algorithm="HS256",
            headers={"typ": "refresh+jwt"},
        )
        with self.db.transaction() as conn:
            conn.execute(
                "INSERT INTO refresh_token (id, did, app_password_name, expires_at)"
                " VALUES (?, ?, ?, ?)",
                (refresh_id, account.did, app_password, now + self.refresh_ttl_s),
            )
        return SessionTokens(access, refresh)

    def _decode(self, token: str, expected_scopes: tuple[str, ...]) -> dict[str, object]:
        try:
            claims: dict[str, object] = jwt.decode(
                token,
                self.secret,
                algorithms=["HS256"],
                audience=self.audience,
                options={"require": ["exp", "iat", "sub", "scope"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise XrpcError(400, "ExpiredToken", "Token has expired") from exc
        except jwt.InvalidTokenError as exc:
            raise XrpcError(401, "InvalidToken", "Token could not be verified") from exc
        if claims.get("scope") not in expected_scopes:
            raise XrpcError(401, "InvalidToken", "Token has the wrong scope for this request")
        return claims

    def verify_access(self, token: str) -> SessionPrincipal:
        claims = self._decode(token, (ACCESS_SCOPE, APP_PASS_SCOPE, APP_PASS_PRIVILEGED_SCOPE))
        did = str(claims["sub"])
        if self.accounts.by_did(did) is None:
            raise XrpcError(401, "InvalidToken", "Account no longer exists")
        return SessionPrincipal(did, str(claims["scope"]), None)

    def rotate(self, refresh_token: str) -> tuple[Account, SessionTokens]:
        """Exchange a refresh token for a new pair; the old one stops working at once."""
        claims = self._decode(refresh_token, (REFRESH_SCOPE,))
        with self.db.transaction() as conn:
            row = conn.execute(
                "SELECT did, app_password_name FROM refresh_token WHERE id = ?",
                (claims.get("jti"),),
            ).fetchone()
            if row is None:
                raise XrpcError(400, "ExpiredToken", "Refresh token has been used or revoked")
            conn.execute("DELETE FROM refresh_token WHERE id = ?", (claims.get("jti"),))
        account = self.accounts.by_did(row["did"])
        app_password = row["app_password_name"]
        privileged = True
        if account is not None and app_password is not None:
            found = self.accounts.app_password_privileged(account.did, app_password)
            if found is None:
                account = None
            else:
                privileged = found
        if account is None:
            raise XrpcError(401, "InvalidToken", "The session's credentials were revoked")
        return account, self.issue(account, app_password, privileged)

    def revoke(self, refresh_token: str) -> None:
        claims = self._decode(refresh_token, (REFRESH_SCOPE,))
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM refresh_token WHERE id = ?", (claims.get("jti"),))
