"""``com.atproto.repo.*`` and ``com.atproto.sync.*``."""

from __future__ import annotations

from typing import Any

from ...common.errors import XrpcError, invalid_request
from ...common.xrpc import Blob, XrpcRequest, XrpcRouter
from ..accounts import Account
from ..caller import Caller
from ..context import Pds
from ..repos import UNSET, RecordWrite

CAR = "application/vnd.ipld.car"


def register(router: XrpcRouter, pds: Pds) -> None:
    def writable_repo(req: XrpcRequest) -> Account:
        caller: Caller = req.principal
        account = pds.accounts.require_repo(req.body["repo"])
        caller.require_repo_owner(account.did)
        return account

    def swap(body: dict[str, Any], key: str) -> Any:
        return body[key] if key in body else UNSET

    def write_one(req: XrpcRequest, write: RecordWrite) -> dict[str, Any]:
        outcome = pds.repos.apply(
            writable_repo(req),
            [write],
            validate=req.body.get("validate"),
            swap_commit=req.body.get("swapCommit"),
        )
        result = outcome.results[0]
        return {
            "uri": result.uri,
            "cid": result.cid,
            "commit": outcome.commit_meta(),
            "validationStatus": result.validation_status,
        }

    @router.procedure("com.atproto.repo.createRecord")
    def create_record(req: XrpcRequest) -> dict[str, Any]:
        body = req.body
        return write_one(
            req, RecordWrite("create", body["collection"], body.get("rkey"), body["record"])
        )

    @router.procedure("com.atproto.repo.putRecord")
    def put_record(req: XrpcRequest) -> dict[str, Any]:
        body = req.body
        write = RecordWrite(
            "update", body["collection"], body["rkey"], body["record"], swap(body, "swapRecord")
        )
        return write_one(req, write)

    @router.procedure("com.atproto.repo.deleteRecord")
    def delete_record(req: XrpcRequest) -> dict[str, Any]:
        account = writable_repo(req)
        body = req.body
        if pds.repos.get_record(account.did, body["collection"], body["rkey"]) is None:
            # Deleting what is not there is a no-op, as on real PDSes; no empty commit is made.
            return {}
        outcome = pds.repos.apply(
            account,
            [
                RecordWrite(
                    "delete", body["collection"], body["rkey"], None, swap(body, "swapRecord")
                )
            ],
            swap_commit=body.get("swapCommit"),
        )
        return {"commit": outcome.commit_meta()}

    @router.procedure("com.atproto.repo.applyWrites")
    def apply_writes(req: XrpcRequest) -> dict[str, Any]:
        account = writable_repo(req)
        body = req.body
        writes: list[RecordWrite] = []
        for item in body["writes"]:
            kind = item.get("$type", "")
            if kind.endswith("#create"):
                writes.append(
                    RecordWrite("create", item["collection"], item.get("rkey"), item["value"])
                )
            elif kind.endswith("#update"):
                writes.append(
                    RecordWrite("update", item["collection"], item["rkey"], item["value"])
                )
            elif kind.endswith("#delete"):
                writes.append(RecordWrite("delete", item["collection"], item["rkey"]))
            else:
                raise invalid_request(f"Unknown write type: {kind!r}")
        outcome = pds.repos.apply(
            account, writes, validate=body.get("validate"), swap_commit=body.get("swapCommit")
        )
        results: list[dict[str, Any]] = []
        for result in outcome.results:
            if result.action == "delete":
                results.append({"$type": "com.atproto.repo.applyWrites#deleteResult"})
            else:
                results.append(
                    {
                        "$type": f"com.atproto.repo.applyWrites#{result.action}Result",
                        "uri": result.uri,
                        "cid": result.cid,
                        "validationStatus": result.validation_status,
                    }
                )
        return {"commit": outcome.commit_meta(), "results": results}

    @router.query("com.atproto.repo.getRecord")
    def get_record(req: XrpcRequest) -> dict[str, Any]:
        account = pds.accounts.require_repo(req.params["repo"])
        collection, rkey = req.params["collection"], req.params["rkey"]
        found = pds.repos.get_record(account.did, collection, rkey, req.params.get("cid"))
        uri = f"at://{account.did}/{collection}/{rkey}"
        if found is None:
            raise XrpcError(400, "RecordNotFound", f"Could not locate record: {uri}")
        cid, value = found
        return {"uri": uri, "cid": cid, "value": value}

    @router.query("com.atproto.repo.listRecords")
    def list_records(req: XrpcRequest) -> dict[str, Any]:
        account = pds.accounts.require_repo(req.params["repo"])
        records, cursor = pds.repos.list_records(
            account.did,
            req.params["collection"],
            req.params.get("limit", 50),
            req.params.get("cursor"),
            bool(req.params.get("reverse", False)),
        )
        return {"records": records, **({"cursor": cursor} if cursor else {})}

    @router.query("com.atproto.repo.describeRepo")
    def describe_repo(req: XrpcRequest) -> dict[str, Any]:
        account = pds.accounts.require_repo(req.params["repo"])
        return {
            "handle": account.handle,
            "did": account.did,
            "didDoc": pds.accounts.did_document(account),
            "collections": pds.repos.collections(account.did),
            "handleIsCorrect": True,
        }

    @router.procedure("com.atproto.repo.uploadBlob")
    def upload_blob(req: XrpcRequest) -> dict[str, Any]:
        caller: Caller = req.principal
        if not req.raw_body:
            raise invalid_request("Blob body is empty")
        return {"blob": pds.blobs.upload(caller.did, req.raw_body, req.content_type)}

    # -- sync -------------------------------------------------------------------------------

    def repo_did(did: str) -> str:
        account = pds.accounts.by_did(did)
        if account is None:
            raise XrpcError(400, "RepoNotFound", f"Could not find repo for DID: {did}")
        return account.did

    @router.query("com.atproto.sync.getLatestCommit")
    def get_latest_commit(req: XrpcRequest) -> dict[str, Any]:
        cid, rev = pds.repos.head(repo_did(req.params["did"]))
        return {"cid": cid, "rev": rev}

    @router.query("com.atproto.sync.getRepo")
    def get_repo(req: XrpcRequest) -> Blob:
        return Blob(pds.repos.export(repo_did(req.params["did"]), req.params.get("since")), CAR)

    @router.query("com.atproto.sync.getRecord")
    def sync_get_record(req: XrpcRequest) -> Blob:
        did = repo_did(req.params["did"])
        return Blob(pds.repos.proof(did, req.params["collection"], req.params["rkey"]), CAR)

    @router.query("com.atproto.sync.getBlob")
    def get_blob(req: XrpcRequest) -> Blob:
        did = repo_did(req.params["did"])
        blob = pds.blobs.get(did, req.params["cid"])
        if blob is None:
            raise XrpcError(400, "BlobNotFound", f"Blob not found: {req.params['cid']}")
        return Blob(
            blob.content,
            blob.mime_type,
            {
                "X-Content-Type-Options": "nosniff",
                "Content-Security-Policy": "default-src 'none'; sandbox",
            },
        )

    @router.query("com.atproto.sync.listBlobs")
    def list_blobs(req: XrpcRequest) -> dict[str, Any]:
        did = repo_did(req.params["did"])
        cids, cursor = pds.blobs.list_referenced(
            did, req.params.get("since"), req.params.get("limit", 500), req.params.get("cursor")
        )
        return {"cids": cids, **({"cursor": cursor} if cursor else {})}
