"""Repository owners: a handle or DID → the account's DID, handle and PDS.

Handles resolve at ``<ATCR_PDS_URL>/xrpc/com.atproto.identity.resolveHandle``; DIDs through the
DID directory (``<ATCR_PLC_URL>/<did>``, or the did:web document), whose ``#atproto_pds``
service names the PDS. A handle must be claimed back by its DID document (bidirectional check),
so nobody can publish records under someone else's name.

Answers are cached for a few seconds per instance: a ``docker push`` resolves the same owner for
every request it makes, and a short TTL keeps handle changes visible quickly.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from urllib.parse import quote

import httpx

from ....common.oauth_client.errors import ResolutionError
from ....common.oauth_client.resolve import (
    TtlCache,
    is_supported_did,
    is_valid_handle,
    parse_did_document,
)
from ...digests import did_web_url
from ..ports import NameUnknown, Owner, Unavailable

DEFAULT_TTL_S = 10.0
TIMEOUT = httpx.Timeout(5.0, connect=2.0)
MAX_DOCUMENT_BYTES = 256 * 1024


class PdsOwnerResolver:
    def __init__(
        self,
        http: httpx.AsyncClient,
        handle_resolver_url: str,
        plc_url: str,
        *,
        ttl_s: float = DEFAULT_TTL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._http = http
        self._handle_resolver_url = handle_resolver_url.rstrip("/")
        self._plc_url = plc_url.rstrip("/")
        self._cache: TtlCache[str, Owner] = TtlCache(ttl_s, clock)

    async def resolve(self, owner: str) -> Owner:
        key = owner.strip().lower().removeprefix("@") if not owner.startswith("did:") else owner
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        if key.startswith("did:"):
            resolved = await self._from_did(key, expected_handle=None)
        else:
            if not is_valid_handle(key):
                raise NameUnknown(f"{owner[:64]!r} is neither a handle nor a DID")
            did = await self._resolve_handle(key)
            resolved = await self._from_did(did, expected_handle=key)
        self._cache.put(key, resolved)
        return resolved

    async def _resolve_handle(self, handle: str) -> str:
        url = (
            f"{self._handle_resolver_url}/xrpc/com.atproto.identity.resolveHandle"
            f"?handle={quote(handle, safe='')}"
        )
        response = await self._get(url, what="handle resolution")
        if response.status_code in (400, 404):
            raise NameUnknown(f"handle {handle} does not resolve")
        if response.status_code != 200:
            raise Unavailable(f"handle resolution answered HTTP {response.status_code}")
        try:
            did = response.json().get("did")
        except (ValueError, AttributeError):
            raise Unavailable("handle resolution answered something other than JSON") from None
        if not isinstance(did, str) or not is_supported_did(did):
            raise NameUnknown(f"handle {handle} resolves to an unsupported DID")
        return did

    async def _from_did(self, did: str, *, expected_handle: str | None) -> Owner:
        if not is_supported_did(did):
            raise NameUnknown(f"{did[:64]!r} is not a supported DID (did:plc, did:web)")
        url = did_web_url(did) if did.startswith("did:web:") else f"{self._plc_url}/{did}"
        response = await self._get(url, what="DID document")
        if response.status_code in (404, 410):
            raise NameUnknown(f"{did} is not known to the DID directory")
        if response.status_code != 200:
            raise Unavailable(f"the DID directory answered HTTP {response.status_code} for {did}")
        if len(response.content) > MAX_DOCUMENT_BYTES:
            raise NameUnknown(f"the DID document of {did} is too large")
        try:
            info = parse_did_document(response.json(), did)
        except (ValueError, ResolutionError):
            raise NameUnknown(f"the DID document of {did} is unusable") from None
        if expected_handle is not None and info.handle != expected_handle:
            raise NameUnknown(f"the DID document of {did} does not claim {expected_handle}")
        return Owner(did=did, handle=info.handle, pds_url=info.pds_url)

    async def _get(self, url: str, *, what: str) -> httpx.Response:
        try:
            return await self._http.get(url, timeout=TIMEOUT, follow_redirects=False)
        except httpx.HTTPError as exc:
            raise Unavailable(f"{what}: {type(exc).__name__} reaching {url}") from None
