"""``com.atproto.server.getServiceAuth``: short-lived JWTs signed with the user's repo key."""

from __future__ import annotations

import secrets
from collections.abc import Callable

from ..common.errors import invalid_request
from ..common.jwt_keys import sign_jwt
from .accounts import Account

DEFAULT_TTL_S = 60
# With a method binding (lxm) a longer lifetime is allowed, as on real PDSes.
MAX_TTL_S = 3600


def issue_service_token(
    account: Account, aud: str, exp: int | None, lxm: str | None, clock: Callable[[], float]
) -> str:
    now = int(clock())
    if exp is None:
        exp = now + DEFAULT_TTL_S
    if exp <= now:
        raise invalid_request("exp must be in the future", "BadExpiration")
    if exp - now > MAX_TTL_S:
        raise invalid_request(f"exp must be at most {MAX_TTL_S} s ahead", "BadExpiration")
    if lxm is None and exp - now > DEFAULT_TTL_S:
        raise invalid_request(
            f"a token without lxm may live at most {DEFAULT_TTL_S} s", "BadExpiration"
        )
    claims: dict[str, object] = {
        "iss": account.did,
        "aud": aud,
        "iat": now,
        "exp": exp,
        "jti": secrets.token_hex(16),
    }
    if lxm is not None:
        claims["lxm"] = lxm
    return sign_jwt(claims, account.signing_key)
