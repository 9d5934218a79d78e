"""Resolving a client ID to a :class:`~.clients.Client` by fetching its metadata document
(and, for ``private_key_jwt`` clients with a ``jwks_uri``, its key set).

Documents are fetched fresh on every PAR and token request, so a client's key rotation or
redirect change takes effect at once; the reference favours that over caching.
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from .clients import (
    Client,
    client_id_url_problem,
    is_loopback_client_id,
    loopback_client,
    public_jwks_keys,
    unauthorized_client,
    validate_client_metadata,
)
from .errors import invalid_client, invalid_request

MAX_DOCUMENT_BYTES = 64 * 1024


class FetchFailed(Exception):
    pass


class ClientResolver:
    def __init__(self, http: httpx.AsyncClient, allow_http: bool, timeout_s: float) -> None:
        self._http = http
        self._allow_http = allow_http
        self._timeout = httpx.Timeout(timeout_s)

    async def resolve(self, client_id: str | None) -> Client:
        if not client_id:
            raise invalid_request("client_id is required")
        if is_loopback_client_id(client_id):
            return Client(loopback_client(client_id))
        problem = client_id_url_problem(client_id, self._allow_http)
        if problem:
            raise invalid_client(problem)
        try:
            doc = await self._fetch_json(client_id)
        except FetchFailed as exc:
            # PDS-11: an unreachable document means the client cannot be admitted at all.
            raise unauthorized_client(f"client metadata could not be fetched: {exc}") from exc
        metadata = validate_client_metadata(doc, client_id, self._allow_http)
        if metadata.auth_method != "private_key_jwt":
            return Client(metadata)
        if metadata.jwks_keys is not None:
            return Client(metadata, metadata.jwks_keys)
        assert metadata.jwks_uri is not None
        try:
            keys = public_jwks_keys(await self._fetch_json(metadata.jwks_uri))
        except FetchFailed as exc:
            raise invalid_client(f"client jwks_uri could not be fetched: {exc}") from exc
        return Client(metadata, keys)

    async def _fetch_json(self, url: str) -> Any:
        try:
            async with self._http.stream(
                "GET",
                url,
                headers={"Accept": "application/json"},
                timeout=self._timeout,
                follow_redirects=False,
            ) as response:
                if response.status_code != 200:
                    raise FetchFailed(f"HTTP {response.status_code} from {url}")
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > MAX_DOCUMENT_BYTES:
                        raise FetchFailed(
                            f"document at {url} is larger than {MAX_DOCUMENT_BYTES} bytes"
                        )
        # ValueError covers what URL/IDNA parsing raises below httpx's own exception types.
        except (httpx.HTTPError, httpx.InvalidURL, ValueError) as exc:
            raise FetchFailed(f"{type(exc).__name__} fetching {url}") from exc
        try:
            return json.loads(bytes(body))
        except (UnicodeDecodeError, ValueError) as exc:
            raise FetchFailed(f"document at {url} is not JSON") from exc
