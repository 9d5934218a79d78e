"""The BlobBackend: blob bytes in holds, over the hold XRPC (docs/atcr.md "Hold wire contract").

Reads are public (``com.atproto.sync.getBlob`` by the digest's raw CID). Uploads act as the
owner: every hold method gets a service-auth JWT minted by the owner's PDS (``aud`` = hold DID,
``lxm`` = the method), fetched through the OAuth client; the spooled file goes up in the hold's
``partSize`` parts (initiate → getPartUploadUrl/uploadPart… → complete) and is aborted when
anything fails, so the hold is never left with a half upload it has to expire.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx

from ...digests import parse_digest
from ..ports import BlobDigestMismatch, HoldDenied, Owner, PortError, Unavailable
from .hold_directory import HoldDirectory
from .hold_transport import HoldTransport
from .owner_agent import OwnerAgent, xrpc_error_name

log = logging.getLogger("reference_impl.atcr.appview.hold")

INITIATE = "io.atcr.hold.initiateUpload"
PART_URL = "io.atcr.hold.getPartUploadUrl"
UPLOAD_PART = "io.atcr.hold.uploadPart"
COMPLETE = "io.atcr.hold.completeUpload"
ABORT = "io.atcr.hold.abortUpload"
GET_BLOB = "com.atproto.sync.getBlob"

READ_CHUNK = 1024 * 1024  # file reads while streaming a part: memory stays flat
MAX_PART_SIZE = 5 * 1024 * 1024 * 1024  # S3's own ceiling; a larger partSize is nonsense
MAX_PARTS = 10_000


def _message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code}"
    if isinstance(body, dict):
        return f"HTTP {response.status_code} {body.get('error', '')}: {body.get('message', '')}"
    return f"HTTP {response.status_code}"


def check_hold_response(response: httpx.Response, what: str) -> None:
    """Map a hold's answer onto port errors (2xx passes)."""
    if 200 <= response.status_code < 300:
        return
    error = xrpc_error_name(response)
    detail = _message(response)
    if response.status_code == 403:
        raise HoldDenied(f"the hold refused {what}: {detail}")
    if response.status_code == 401:
        # The hold could not verify who we act for: for the user it is a refusal, not an outage.
        raise HoldDenied(f"the hold did not accept the service-auth token for {what}: {detail}")
    if response.status_code == 400 and error == "DigestMismatch":
        raise BlobDigestMismatch(f"the hold found the uploaded bytes do not match: {detail}")
    raise Unavailable(f"the hold failed {what}: {detail}")


async def file_chunks(path: Path, offset: int, length: int) -> AsyncIterator[bytes]:
    """``length`` bytes of ``path`` from ``offset``, read off the event loop in small pieces."""
    handle = await asyncio.to_thread(path.open, "rb")
    try:
        await asyncio.to_thread(handle.seek, offset)
        left = length
        while left > 0:
            chunk = await asyncio.to_thread(handle.read, min(READ_CHUNK, left))
            if not chunk:
                raise OSError(f"the spool file {path.name} ended early")
            left -= len(chunk)
            yield chunk
    finally:
        await asyncio.to_thread(handle.close)


class HoldBlobBackend:
    def __init__(
        self, transport: HoldTransport, directory: HoldDirectory, agent: OwnerAgent
    ) -> None:
        self._transport = transport
        self._directory = directory
        self._agent = agent

    # -- reads -------------------------------------------------------------------------------

    async def download_url(self, hold_did: str, digest: str) -> str:
        endpoint = await self._directory.endpoint(hold_did)
        cid = parse_digest(digest).to_cid()
        return f"{endpoint}/xrpc/{GET_BLOB}?{urlencode({'did': hold_did, 'cid': cid})}"

    async def stat(self, hold_did: str, digest: str) -> int | None:
        url = await self.download_url(hold_did, digest)
        response = await self._transport.request("HEAD", url, what="getBlob")
        if response.status_code == 404:
            return None
        if response.status_code == 400 and xrpc_error_name(response) == "BlobNotFound":
            return None
        check_hold_response(response, "getBlob")
        try:
            return int(response.headers["content-length"])
        except (KeyError, ValueError):
            raise Unavailable("the hold answered getBlob without a Content-Length") from None

    # -- uploads -----------------------------------------------------------------------------

    async def upload(
        self, hold_did: str, owner: Owner, digest: str, spool: Path, size: int
    ) -> None:
        endpoint = await self._directory.endpoint(hold_did)
        started = await self._call(
            endpoint, hold_did, owner, INITIATE, {"digest": digest, "size": size}
        )
        upload_id = started.get("uploadId")
        part_size = started.get("partSize")
        if not isinstance(upload_id, str) or not upload_id:
            raise Unavailable("the hold answered initiateUpload without an uploadId")
        if not isinstance(part_size, int) or not 0 < part_size <= MAX_PART_SIZE:
            await self._abort(endpoint, hold_did, owner, upload_id)
            raise Unavailable(f"the hold answered initiateUpload with partSize {part_size!r}")
        try:
            parts = await self._send_parts(
                endpoint, hold_did, owner, upload_id, spool, size, part_size
            )
            await self._call(
                endpoint,
                hold_did,
                owner,
                COMPLETE,
                {"uploadId": upload_id, "digest": digest, "parts": parts},
            )
        except (PortError, OSError):
            await self._abort(endpoint, hold_did, owner, upload_id)
            raise
        log.info("blob %s of %s stored in %s (%d bytes)", digest, owner.did, hold_did, size)

    async def _send_parts(
        self,
        endpoint: str,
        hold_did: str,
        owner: Owner,
        upload_id: str,
        spool: Path,
        size: int,
        part_size: int,
    ) -> list[dict[str, Any]]:
        count = max(1, -(-size // part_size))  # an empty blob is one empty part
        if count > MAX_PARTS:
            raise Unavailable(f"the hold's partSize {part_size} needs more than {MAX_PARTS} parts")
        parts: list[dict[str, Any]] = []
        for number in range(1, count + 1):
            offset = (number - 1) * part_size
            length = min(part_size, size - offset)
            etag = await self._send_part(
                endpoint, hold_did, owner, upload_id, number, spool, offset, length
            )
            parts.append({"partNumber": number, "etag": etag})
        return parts

    async def _send_part(
        self,
        endpoint: str,
        hold_did: str,
        owner: Owner,
        upload_id: str,
        number: int,
        spool: Path,
        offset: int,
        length: int,
    ) -> str:
        target = await self._call(
            endpoint, hold_did, owner, PART_URL, {"uploadId": upload_id, "partNumber": number}
        )
        url = target.get("url")
        if not isinstance(url, str) or urlsplit(url).scheme not in ("http", "https"):
            raise Unavailable("the hold answered getPartUploadUrl without a usable url")
        method = str(target.get("method") or "PUT").upper()
        raw_headers = target.get("headers")
        headers = {
            str(k): str(v)
            for k, v in (raw_headers.items() if isinstance(raw_headers, dict) else [])
        }
        headers["Content-Length"] = str(length)
        if _is_hold_upload_part(url, endpoint):
            # The hold's own uploadPart wants our service-auth again; a presigned storage URL
            # carries its authority in the query and must not get our token.
            token = await self._agent.service_auth(owner, hold_did, UPLOAD_PART)
            headers["Authorization"] = f"Bearer {token}"
            headers.setdefault("Content-Type", "application/octet-stream")
        response = await self._transport.request(
            method,
            url,
            what=UPLOAD_PART,
            streaming_body=True,
            make_content=lambda: file_chunks(spool, offset, length),
            headers=headers,
        )
        check_hold_response(response, UPLOAD_PART)
        etag: object = None
        try:
            body = response.json()
            etag = body.get("etag") if isinstance(body, dict) else None
        except ValueError:
            pass
        if not isinstance(etag, str) or not etag:
            etag = response.headers.get("etag")
        if not isinstance(etag, str) or not etag:
            raise Unavailable(f"the part upload {number} returned no ETag")
        return etag

    async def _call(
        self, endpoint: str, hold_did: str, owner: Owner, nsid: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        token = await self._agent.service_auth(owner, hold_did, nsid)
        response = await self._transport.request(
            "POST",
            f"{endpoint}/xrpc/{nsid}",
            what=nsid,
            json=body,
            headers={"Authorization": f"Bearer {token}"},
        )
        check_hold_response(response, nsid)
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            raise Unavailable(f"the hold answered {nsid} with something other than JSON")
        return answer

    async def _abort(self, endpoint: str, hold_did: str, owner: Owner, upload_id: str) -> None:
        """Best effort: the hold discards the parts; failures only cost the hold some disk."""
        try:
            await self._call(endpoint, hold_did, owner, ABORT, {"uploadId": upload_id})
        except PortError as exc:
            log.info("aborting upload %s at %s failed: %s", upload_id, hold_did, exc.message)


def _is_hold_upload_part(url: str, endpoint: str) -> bool:
    parts, hold = urlsplit(url), urlsplit(endpoint)
    return parts.netloc == hold.netloc and parts.path.endswith(f"/xrpc/{UPLOAD_PART}")
