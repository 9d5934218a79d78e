"""Unauthenticated reads of a repository in its PDS: ``listRecords``, ``getRecord``,
``sync.getBlob``. Pulls need no session: records and blobs in a PDS are public.

Nothing is cached: every pull reads the owner's records as they are now (ATCR-REC-03).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx

from ..ports import Owner, Unavailable

TIMEOUT = httpx.Timeout(10.0, connect=2.0)
PAGE_SIZE = 100
MAX_PAGES = 1000  # a runaway cursor must not loop forever
MAX_MANIFEST_BYTES = 4 * 1024 * 1024
# How a PDS says "no such record/blob" (the reference PDS answers 400 RecordNotFound).
_NOT_FOUND_ERRORS = frozenset({"RecordNotFound", "BlobNotFound", "NotFound"})


class PublicRepoReader:
    def __init__(self, http: httpx.AsyncClient) -> None:
        self._http = http

    async def get_record(self, owner: Owner, collection: str, rkey: str) -> dict[str, Any] | None:
        """``{"uri", "cid", "value"}`` or None when the record does not exist."""
        response = await self._get(
            owner,
            "com.atproto.repo.getRecord",
            {"repo": owner.did, "collection": collection, "rkey": rkey},
        )
        if _not_found(response):
            return None
        body = _json(response, owner)
        return body if isinstance(body.get("value"), dict) else None

    async def list_records(self, owner: Owner, collection: str) -> AsyncIterator[dict[str, Any]]:
        """Every record of a collection, page by page (``{"uri", "cid", "value"}``)."""
        cursor: str | None = None
        for _ in range(MAX_PAGES):
            params: dict[str, Any] = {
                "repo": owner.did,
                "collection": collection,
                "limit": PAGE_SIZE,
            }
            if cursor:
                params["cursor"] = cursor
            response = await self._get(owner, "com.atproto.repo.listRecords", params)
            if _not_found(response):
                return
            body = _json(response, owner)
            records = body.get("records")
            if not isinstance(records, list):
                raise Unavailable(f"the PDS of {owner.did} answered listRecords without records")
            for record in records:
                if isinstance(record, dict) and isinstance(record.get("value"), dict):
                    yield record
            next_cursor = body.get("cursor")
            if not records or not isinstance(next_cursor, str) or next_cursor == cursor:
                return
            cursor = next_cursor

    async def get_blob(self, owner: Owner, cid: str) -> bytes | None:
        response = await self._get(
            owner, "com.atproto.sync.getBlob", {"did": owner.did, "cid": cid}
        )
        if _not_found(response):
            return None
        if response.status_code != 200:
            raise Unavailable(
                f"the PDS of {owner.did} answered getBlob with HTTP {response.status_code}"
            )
        if len(response.content) > MAX_MANIFEST_BYTES:
            raise Unavailable(f"the manifest blob {cid} in the PDS of {owner.did} is too large")
        return response.content

    async def _get(self, owner: Owner, nsid: str, params: dict[str, Any]) -> httpx.Response:
        try:
            return await self._http.get(
                f"{owner.pds_url}/xrpc/{nsid}",
                params=params,
                timeout=TIMEOUT,
                follow_redirects=False,
            )
        except httpx.HTTPError as exc:
            raise Unavailable(
                f"the PDS of {owner.did} cannot be reached: {type(exc).__name__}"
            ) from None


def _not_found(response: httpx.Response) -> bool:
    if response.status_code == 404:
        return True
    if response.status_code != 400:
        return False
    try:
        body = response.json()
    except ValueError:
        return False
    return isinstance(body, dict) and body.get("error") in _NOT_FOUND_ERRORS


def _json(response: httpx.Response, owner: Owner) -> dict[str, Any]:
    if response.status_code != 200:
        raise Unavailable(f"the PDS of {owner.did} answered HTTP {response.status_code}")
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise Unavailable(f"the PDS of {owner.did} answered something other than a JSON object")
    return body
