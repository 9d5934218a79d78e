"""Whether the AppView may act for an owner in their PDS: a usable OAuth session.

Pushes write records as the owner, so an upload POST, manifest PUT or delete first asks here.
"Usable" is checked with one cheap authenticated call (``getSession``) through the OAuth client:
that refreshes an expired token and notices a session the user revoked at their PDS, so the
client hears "log in again" up front instead of a failure halfway through a push.
"""

from __future__ import annotations

import logging
from urllib.parse import quote

from ....common.oauth_client import NoSession, OAuthClient, UpstreamError
from ..ports import NoOAuthSession, Owner, Unavailable

log = logging.getLogger("reference_impl.atcr.appview.sessions")

LOGIN_PATH = "/auth/oauth/login"


def login_url(base_url: str, owner: Owner) -> str:
    """Where the owner logs in again: ``<base>/auth/oauth/login?handle=<handle or DID>``."""
    return f"{base_url.rstrip('/')}{LOGIN_PATH}?handle={quote(owner.handle or owner.did, safe=':')}"


def no_session(base_url: str, owner: Owner) -> NoOAuthSession:
    return NoOAuthSession(owner.did, login_url(base_url, owner))


class OAuthSessionGate:
    def __init__(self, oauth: OAuthClient, base_url: str) -> None:
        self._oauth = oauth
        self._base_url = base_url

    async def require_session(self, owner: Owner) -> None:
        if await self._oauth.session(owner.did) is None:
            raise no_session(self._base_url, owner)
        try:
            response = await self._oauth.query(owner.did, "com.atproto.server.getSession")
        except NoSession:
            raise no_session(self._base_url, owner) from None
        except UpstreamError as exc:
            raise Unavailable(f"the PDS of {owner.did} cannot be reached: {exc.message}") from None
        if response.status_code == 401:
            # Refreshed and still refused: the grant is gone; only a new login helps.
            log.info("the PDS refuses the OAuth session of %s; forgetting it", owner.did)
            await self._oauth.forget(owner.did, revoke=False)
            raise no_session(self._base_url, owner)
        if response.status_code >= 500:
            raise Unavailable(f"the PDS of {owner.did} answered HTTP {response.status_code}")
