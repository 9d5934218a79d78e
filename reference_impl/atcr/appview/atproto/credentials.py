"""``docker login`` credentials: a handle or DID and a password (or app password), checked by
the user's own PDS with ``com.atproto.server.createSession``.

The session the PDS hands out is only proof; it is deleted again at once (best effort) so logins
do not pile up sessions in the user's account. Neither the password nor the tokens are logged.
"""

from __future__ import annotations

import logging

import httpx

from ..ports import BadCredentials, NameUnknown, OwnerResolver, Unavailable

log = logging.getLogger("reference_impl.atcr.appview.credentials")

TIMEOUT = httpx.Timeout(10.0, connect=2.0)


class PdsCredentialChecker:
    def __init__(self, http: httpx.AsyncClient, owners: OwnerResolver) -> None:
        self._http = http
        self._owners = owners

    async def check(self, identifier: str, password: str) -> str:
        if not identifier or not password:
            raise BadCredentials("a username and a password are required")
        try:
            owner = await self._owners.resolve(identifier)
        except NameUnknown:
            # Same answer as a wrong password: do not confirm which accounts exist.
            raise BadCredentials("invalid username or password") from None
        try:
            response = await self._http.post(
                f"{owner.pds_url}/xrpc/com.atproto.server.createSession",
                json={"identifier": owner.did, "password": password},
                timeout=TIMEOUT,
                follow_redirects=False,
            )
        except httpx.HTTPError as exc:
            raise Unavailable(f"the PDS of {owner.did}: {type(exc).__name__}") from None
        if response.status_code in (400, 401, 403):
            raise BadCredentials("invalid username or password")
        if response.status_code != 200:
            raise Unavailable(f"the PDS of {owner.did} answered HTTP {response.status_code}")
        try:
            body = response.json()
        except ValueError:
            raise Unavailable(
                f"the PDS of {owner.did} answered something other than JSON"
            ) from None
        if not isinstance(body, dict) or body.get("did") != owner.did:
            raise BadCredentials("the PDS answered for another account")
        await self._end_session(owner.pds_url, body.get("refreshJwt"))
        return owner.did

    async def _end_session(self, pds_url: str, refresh_jwt: object) -> None:
        if not isinstance(refresh_jwt, str) or not refresh_jwt:
            return
        try:
            await self._http.post(
                f"{pds_url}/xrpc/com.atproto.server.deleteSession",
                headers={"Authorization": f"Bearer {refresh_jwt}"},
                timeout=TIMEOUT,
            )
        except httpx.HTTPError as exc:
            log.debug("deleting the check session failed: %s", type(exc).__name__)
