"""``com.atproto.repo.*`` reads and ``com.atproto.sync.getRepo`` for the hold's own repo."""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool

from ....common.errors import XrpcError
from ....common.xrpc import Blob, XrpcRequest, XrpcRouter
from ..context import Hold
from ..identity import did_document

CAR = "application/vnd.ipld.car"
# The hold has no handle; "handle.invalid" is ATProto's marker for that.
NO_HANDLE = "handle.invalid"


def register(router: XrpcRouter, hold: Hold) -> None:
    def require_hold(repo: str) -> None:
        if repo != hold.config.did:
            raise XrpcError(
                404, "RepoNotFound", f"This hold only serves its own repo ({hold.config.did})"
            )

    @router.query("com.atproto.repo.getRecord")
    def get_record(req: XrpcRequest) -> dict[str, Any]:
        require_hold(req.params["repo"])
        collection, rkey = req.params["collection"], req.params["rkey"]
        uri = f"at://{hold.config.did}/{collection}/{rkey}"
        found = hold.repo.get_record(collection, rkey)
        if found is None or (req.params.get("cid") not in (None, found[0])):
            raise XrpcError(404, "RecordNotFound", f"Could not locate record: {uri}")
        return {"uri": uri, "cid": found[0], "value": found[1]}

    @router.query("com.atproto.repo.listRecords")
    def list_records(req: XrpcRequest) -> dict[str, Any]:
        require_hold(req.params["repo"])
        records, cursor = hold.repo.list_records(
            req.params["collection"],
            req.params.get("limit", 50),
            req.params.get("cursor"),
            bool(req.params.get("reverse", False)),
        )
        return {"records": records, **({"cursor": cursor} if cursor else {})}

    @router.query("com.atproto.repo.describeRepo")
    def describe_repo(req: XrpcRequest) -> dict[str, Any]:
        require_hold(req.params["repo"])
        return {
            "handle": NO_HANDLE,
            "did": hold.config.did,
            "didDoc": did_document(hold.config.did, hold.key, hold.config.public_url),
            "collections": hold.repo.collections(),
            "handleIsCorrect": False,
        }

    @router.query("com.atproto.sync.getRepo")
    async def get_repo(req: XrpcRequest) -> Blob:
        require_hold(req.params["did"])
        return Blob(await run_in_threadpool(hold.repo.export), CAR)
