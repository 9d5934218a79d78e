"""Where a hold lives: hold DID (did:web, loopback → http) → DID document → the
``#atcr_hold`` service endpoint (docs/atcr.md, "did:web on loopback", "Hold wire contract").

Endpoints are cached briefly per instance: every blob request of a push needs one, and the DID
document of a hold changes rarely. A failed lookup is never cached.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from ....common.oauth_client.resolve import TtlCache, http_url
from ...digests import did_web_url
from ..ports import Unavailable
from .hold_transport import HoldTransport

DEFAULT_TTL_S = 30.0
SERVICE_FRAGMENT = "atcr_hold"


class HoldNotFound(Unavailable):
    """The hold DID does not resolve to a usable hold: the blobs cannot be reached (503)."""


def hold_endpoint(doc: Any, did: str) -> str | None:
    if not isinstance(doc, dict) or doc.get("id") != did:
        return None
    services = doc.get("service")
    for entry in services if isinstance(services, list) else []:
        if isinstance(entry, dict) and entry.get("id") in (
            f"#{SERVICE_FRAGMENT}",
            f"{did}#{SERVICE_FRAGMENT}",
        ):
            url = http_url(entry.get("serviceEndpoint"))
            return url.rstrip("/") if url else None
    return None


class HoldDirectory:
    def __init__(
        self,
        transport: HoldTransport,
        *,
        ttl_s: float = DEFAULT_TTL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._transport = transport
        self._cache: TtlCache[str, str] = TtlCache(ttl_s, clock)

    async def endpoint(self, hold_did: str) -> str:
        cached = self._cache.get(hold_did)
        if cached is not None:
            return cached
        try:
            url = did_web_url(hold_did)
        except ValueError:
            raise HoldNotFound(f"{hold_did[:64]!r} is not a did:web hold") from None
        response = await self._transport.request(
            "GET", url, what="DID document", headers={"Accept": "application/json"}
        )
        if response.status_code >= 500:
            raise Unavailable(f"the hold {hold_did} answered HTTP {response.status_code}")
        try:
            doc = response.json() if response.status_code == 200 else None
        except ValueError:
            doc = None
        endpoint = hold_endpoint(doc, hold_did)
        if endpoint is None:
            raise HoldNotFound(f"{hold_did} has no usable DID document with #atcr_hold")
        self._cache.put(hold_did, endpoint)
        return endpoint


__all__ = ["HoldDirectory", "HoldNotFound", "hold_endpoint"]
