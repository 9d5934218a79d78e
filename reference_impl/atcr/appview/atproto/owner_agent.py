"""Acting as an owner in their own PDS through the shared OAuth client: record writes, blob
uploads and service-auth tokens for holds.

Every call goes through ``OAuthClient.request``, i.e. under the owner's per-DID lock with the
nonce and refresh handling there, so concurrent layer uploads of one user never surface
``use_dpop_nonce`` (ATCR-CONC-01). Failures become port errors: no usable session →
NoOAuthSession (with the login URL), unreachable/broken PDS → Unavailable.
"""

from __future__ import annotations

import logging
from typing import Any

import httpx

from ....common.oauth_client import NoSession, OAuthClient, UpstreamError
from ..ports import NoOAuthSession, Owner, Unavailable
from .sessions import no_session

log = logging.getLogger("reference_impl.atcr.appview.owner_agent")


class PdsRefused(Unavailable):
    """The owner's PDS answered a write with a 4xx other than "not authenticated".

    An Unavailable for the registry layer (503 with the PDS's reason): the push cannot be
    completed, and it is not the OCI client's request that is wrong."""

    def __init__(self, message: str, status: int, error: str | None) -> None:
        super().__init__(message)
        self.status = status
        self.error = error


def xrpc_error_name(response: httpx.Response) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, str) else None


class OwnerAgent:
    def __init__(self, oauth: OAuthClient, base_url: str) -> None:
        self._oauth = oauth
        self._base_url = base_url

    async def procedure(self, owner: Owner, nsid: str, body: dict[str, Any]) -> dict[str, Any]:
        url = await self._xrpc_url(owner, nsid)
        response = await self._call(owner, "POST", url, json=body)
        return _json_object(response)

    async def query(self, owner: Owner, nsid: str, params: dict[str, Any]) -> dict[str, Any]:
        url = await self._xrpc_url(owner, nsid)
        response = await self._call(owner, "GET", url, params=params)
        return _json_object(response)

    async def upload_blob(self, owner: Owner, content: bytes, mime_type: str) -> dict[str, Any]:
        """``com.atproto.repo.uploadBlob``; returns the blob ref (``$type: blob``)."""
        url = await self._xrpc_url(owner, "com.atproto.repo.uploadBlob")
        response = await self._call(
            owner, "POST", url, content=content, headers={"Content-Type": mime_type}
        )
        blob = _json_object(response).get("blob")
        if not isinstance(blob, dict):
            raise Unavailable(f"the PDS of {owner.did} answered uploadBlob without a blob")
        return blob

    async def service_auth(self, owner: Owner, audience: str, lxm: str) -> str:
        """A service-auth JWT minted by the owner's PDS for ``audience``, bound to ``lxm``."""
        body = await self.query(
            owner, "com.atproto.server.getServiceAuth", {"aud": audience, "lxm": lxm}
        )
        token = body.get("token")
        if not isinstance(token, str) or not token:
            raise Unavailable(f"the PDS of {owner.did} minted no service-auth token")
        return token

    async def _xrpc_url(self, owner: Owner, nsid: str) -> str:
        # The session's PDS is where its tokens are valid (the client refuses other origins).
        session = await self._oauth.session(owner.did)
        if session is None:
            raise no_session(self._base_url, owner)
        return f"{session.pds_url}/xrpc/{nsid}"

    async def _call(self, owner: Owner, method: str, url: str, **kwargs: Any) -> httpx.Response:
        try:
            response = await self._oauth.request(owner.did, method, url, **kwargs)
        except NoSession:
            raise no_session(self._base_url, owner) from None
        except UpstreamError as exc:
            raise Unavailable(f"the PDS of {owner.did} cannot be reached: {exc.message}") from None
        if response.status_code == 200:
            return response
        error = xrpc_error_name(response)
        if response.status_code == 401:
            raise no_session(self._base_url, owner)
        if response.status_code >= 500 or response.status_code == 429:
            raise Unavailable(f"the PDS of {owner.did} answered HTTP {response.status_code}")
        log.warning(
            "the PDS of %s refused %s: HTTP %s %s",
            owner.did,
            url.rsplit("/", 1)[-1],
            response.status_code,
            error,
        )
        raise PdsRefused(
            f"the PDS of {owner.did} refused the request: HTTP {response.status_code} {error}",
            response.status_code,
            error,
        )


def _json_object(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        # deleteRecord of nothing answers {} — an empty object is fine, non-JSON is not.
        if not response.content:
            return {}
        raise Unavailable("the PDS answered something other than a JSON object")
    return body


__all__ = ["NoOAuthSession", "OwnerAgent", "PdsRefused", "xrpc_error_name"]
