"""``com.atproto.sync.{getRecord,getBlob,listBlobs}`` and ``zone.stratos.sync.getRepo``."""

from __future__ import annotations

import hmac
from typing import Any

from ...common.xrpc import Blob, XrpcRequest, XrpcRouter
from ..auth import caller_did
from ..core import Stratos

CAR = "application/vnd.ipld.car"
SYNC_TOKEN_HEADER = "stratos-sync-token"  # noqa: S105 - a header name, not a secret


def sync_token_matches(expected: str, presented: str | None) -> bool:
    return presented is not None and hmac.compare_digest(
        presented.encode("utf-8"), expected.encode("utf-8")
    )


def register(router: XrpcRouter, stratos: Stratos) -> None:
    reads = stratos.reads

    @router.query("com.atproto.sync.getRecord", auth="optional")
    def get_record(req: XrpcRequest) -> Blob:
        p = req.params
        car = reads.sync_record_car(
            reads.viewer(caller_did(req.principal)), p["did"], p["collection"], p["rkey"]
        )
        return Blob(car, CAR)

    @router.query("com.atproto.sync.getBlob", auth="optional")
    def get_blob(req: XrpcRequest) -> Blob:
        blob = reads.blob(
            reads.viewer(caller_did(req.principal)), req.params["did"], req.params["cid"]
        )
        return Blob(
            blob.content,
            blob.mime_type,
            {
                # Blob bytes are user content: never let a browser run them as a page.
                "X-Content-Type-Options": "nosniff",
                "Content-Security-Policy": "default-src 'none'; sandbox",
            },
        )

    @router.query("com.atproto.sync.listBlobs", auth="required")
    def list_blobs(req: XrpcRequest) -> dict[str, Any]:
        p = req.params
        cids, cursor = reads.list_blobs(
            reads.viewer(caller_did(req.principal)),
            p["did"],
            p.get("since"),
            p.get("limit", 500),
            p.get("cursor"),
        )
        return {"cids": cids, **({"cursor": cursor} if cursor else {})}

    @router.query("zone.stratos.sync.getRepo", auth="optional")
    def get_repo(req: XrpcRequest) -> Blob:
        # A trusted consumer (the AppView) presents the sync token in a header, or as the
        # ``syncToken`` query parameter like subscribeRecords (the access log never records
        # query strings).
        presented = req.http.headers.get(SYNC_TOKEN_HEADER) or req.http.query_params.get(
            "syncToken"
        )
        trusted = sync_token_matches(stratos.config.sync_token, presented)
        car = reads.export(
            reads.viewer(caller_did(req.principal)),
            req.params["did"],
            req.params.get("since"),
            trusted,
        )
        return Blob(car, CAR)
