"""``io.atcr.hold.*`` upload methods.

All but ``uploadPart`` go through the XrpcRouter (lexicon-validated JSON in and out).
``uploadPart`` has its own route because the router reads whole bodies, and a part must be
streamed from the ASGI request into storage: a worker thread pulls the body chunk by chunk from
the event loop, so at most one chunk is in flight (the S3 driver adds its bounded spool).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import anyio.from_thread
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from lexicons import LexiconValidationError

from ....common.errors import XrpcError, invalid_request
from ....common.xrpc import XrpcRequest, XrpcRouter
from ..access import require_writer
from ..context import Hold
from ..storage import MAX_PART_SIZE

UPLOAD_PART = "io.atcr.hold.uploadPart"


def _iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(ts))


def register(router: XrpcRouter, hold: Hold) -> None:
    @router.procedure("io.atcr.hold.initiateUpload", auth="required")
    async def initiate(req: XrpcRequest) -> dict[str, Any]:
        await require_writer(hold, req.principal)
        body = req.body
        started = await run_in_threadpool(
            hold.uploads.initiate,
            req.principal,
            body["digest"],
            body.get("size"),
            body.get("mediaType"),
        )
        return {
            "uploadId": started.upload_id,
            "partSize": started.part_size,
            "expiresAt": _iso(started.expires_at),
        }

    @router.procedure("io.atcr.hold.getPartUploadUrl", auth="required")
    async def part_url(req: XrpcRequest) -> dict[str, Any]:
        await require_writer(hold, req.principal)
        upload_id, number = req.body["uploadId"], req.body["partNumber"]
        presigned = await run_in_threadpool(hold.uploads.part_url, req.principal, upload_id, number)
        if presigned is not None:
            return {
                "url": presigned.url,
                "method": presigned.method,
                "expiresAt": _iso(hold.clock() + presigned.expires_in_s),
            }
        query = urlencode({"uploadId": upload_id, "partNumber": number})
        # The caller sends its own service-auth JWT (lxm = uploadPart) with the part.
        return {"url": f"{hold.config.public_url}/xrpc/{UPLOAD_PART}?{query}", "method": "PUT"}

    @router.procedure("io.atcr.hold.completeUpload", auth="required")
    async def complete(req: XrpcRequest) -> dict[str, Any]:
        await require_writer(hold, req.principal)
        body = req.body
        done = await run_in_threadpool(
            hold.uploads.complete, req.principal, body["uploadId"], body["digest"], body["parts"]
        )
        return {"digest": done.digest, "size": done.size}

    @router.procedure("io.atcr.hold.abortUpload", auth="required")
    async def abort(req: XrpcRequest) -> dict[str, Any]:
        await require_writer(hold, req.principal)
        await run_in_threadpool(hold.uploads.abort, req.principal, req.body["uploadId"])
        return {}


def _body_chunks(request: Request) -> Iterator[bytes]:
    """The request body as a blocking iterator, for a worker thread started by anyio."""
    stream = request.stream()
    while True:
        try:
            chunk = anyio.from_thread.run(stream.__anext__)
        except StopAsyncIteration:
            return
        if chunk:
            yield chunk


def http_routes(hold: Hold) -> list[Route]:
    async def upload_part(request: Request) -> Response:
        raw: dict[str, list[str]] = {}
        for key, value in request.query_params.multi_items():
            raw.setdefault(key, []).append(value)
        try:
            params = hold.catalog.validate_params(UPLOAD_PART, raw)
        except LexiconValidationError as exc:
            raise invalid_request(f"Invalid parameters: {exc}") from None
        did = await hold.verifier.verify(request.headers.get("authorization"), UPLOAD_PART)
        await require_writer(hold, did)
        upload = await run_in_threadpool(hold.uploads.get, did, params["uploadId"])
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > MAX_PART_SIZE:
            raise XrpcError(413, "PartTooLarge", f"a part may be at most {MAX_PART_SIZE} bytes")
        number = params["partNumber"]
        try:
            info = await run_in_threadpool(
                hold.uploads.write_part, upload, number, _body_chunks(request)
            )
        except ClientDisconnect:
            return Response(status_code=400)
        return JSONResponse(
            {"etag": info.etag, "partNumber": number, "size": info.size},
            headers={"ETag": info.etag},
        )

    return [Route(f"/xrpc/{UPLOAD_PART}", upload_part, methods=["POST", "PUT"])]
