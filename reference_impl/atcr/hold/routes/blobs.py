"""``com.atproto.sync.getBlob`` (GET and HEAD) for blobs stored in this hold.

Streams from storage with ``Content-Length`` and ``Docker-Content-Digest``; one byte range per
request (206/416). HEAD answers the same headers without touching the bytes, so the AppView can
stat a blob cheaply. No redirects: the bytes always come from the hold.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.responses import Response, StreamingResponse

from ....common.errors import XrpcError, invalid_request
from ....common.xrpc import XrpcRequest, XrpcRouter
from ...digests import InvalidDigest, digest_from_cid
from ..access import require_reader
from ..context import Hold
from ..ranges import RangeNotSatisfiable, parse_range
from ..storage import blob_key

GET_BLOB = "com.atproto.sync.getBlob"


def register(router: XrpcRouter, hold: Hold) -> None:
    @router.query(GET_BLOB)
    async def get_blob(req: XrpcRequest) -> Response:
        if req.params["did"] != hold.config.did:
            raise XrpcError(404, "RepoNotFound", f"This hold only serves {hold.config.did}")
        try:
            digest = digest_from_cid(req.params["cid"])
        except InvalidDigest as exc:
            raise invalid_request(
                f"cid: {exc} (expected a raw-codec sha256/sha512 CIDv1)"
            ) from None
        await require_reader(hold, req.http, GET_BLOB)
        key = blob_key(digest)
        size = await run_in_threadpool(hold.storage.stat, key)
        if size is None:
            raise XrpcError(404, "BlobNotFound", f"Blob not found: {req.params['cid']}")
        headers = {
            "Content-Type": "application/octet-stream",
            "Accept-Ranges": "bytes",
            "Docker-Content-Digest": str(digest),
            "ETag": f'"{digest}"',
            "Cache-Control": "public, max-age=31536000, immutable",
        }
        try:
            wanted = parse_range(req.http.headers.get("range"), size)
        except RangeNotSatisfiable:
            raise XrpcError(
                416,
                "RangeNotSatisfiable",
                f"the blob is {size} bytes long",
                headers={"Content-Range": f"bytes */{size}", "Accept-Ranges": "bytes"},
            ) from None
        start, end, status = 0, size, 200
        if wanted is not None:
            start, end, status = wanted.start, wanted.end, 206
            headers["Content-Range"] = wanted.content_range(size)
        headers["Content-Length"] = str(end - start)
        if req.http.method == "HEAD":
            return Response(status_code=status, headers=headers)
        chunks = await run_in_threadpool(hold.storage.open_read, key, start, end)
        return StreamingResponse(chunks, status_code=status, headers=headers)
