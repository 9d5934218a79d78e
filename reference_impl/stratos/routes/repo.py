"""``com.atproto.repo.*`` at Stratos: thin adapters over WriteService and ReadService."""

from __future__ import annotations

from typing import Any

from ...common.errors import invalid_request
from ...common.xrpc import XrpcRequest, XrpcRouter
from ..auth import caller_did
from ..core import Stratos
from ..records import UNSET, RecordWrite
from ..repos import CommitOutcome


def _caller(req: XrpcRequest) -> str:
    did = caller_did(req.principal)
    if did is None:  # the router already refused anonymous calls to these methods
        raise invalid_request("No caller DID")
    return did


def _swap(body: dict[str, Any], key: str) -> Any:
    return body[key] if key in body else UNSET


def _single(outcome: CommitOutcome) -> dict[str, Any]:
    result = outcome.results[0]
    out: dict[str, Any] = {"uri": result.uri, "cid": result.cid, "commit": outcome.commit_meta()}
    if result.validation_status is not None:
        out["validationStatus"] = result.validation_status
    return out


def register(router: XrpcRouter, stratos: Stratos) -> None:
    writes, reads = stratos.writes, stratos.reads

    @router.procedure("com.atproto.repo.createRecord")
    def create_record(req: XrpcRequest) -> dict[str, Any]:
        body = req.body
        write = RecordWrite("create", body["collection"], body.get("rkey"), body["record"])
        outcome = writes.apply(
            _caller(req), body["repo"], [write], body.get("validate"), body.get("swapCommit")
        )
        return _single(outcome)

    @router.procedure("com.atproto.repo.putRecord")
    def put_record(req: XrpcRequest) -> dict[str, Any]:
        body = req.body
        write = RecordWrite(
            "update", body["collection"], body["rkey"], body["record"], _swap(body, "swapRecord")
        )
        outcome = writes.apply(
            _caller(req), body["repo"], [write], body.get("validate"), body.get("swapCommit")
        )
        return _single(outcome)

    @router.procedure("com.atproto.repo.deleteRecord")
    def delete_record(req: XrpcRequest) -> dict[str, Any]:
        body = req.body
        write = RecordWrite(
            "delete", body["collection"], body["rkey"], None, _swap(body, "swapRecord")
        )
        outcome = writes.delete_if_present(
            _caller(req), body["repo"], write, body.get("swapCommit")
        )
        return {"commit": outcome.commit_meta()} if outcome is not None else {}

    @router.procedure("com.atproto.repo.applyWrites")
    def apply_writes(req: XrpcRequest) -> dict[str, Any]:
        body = req.body
        requested: list[RecordWrite] = []
        for item in body["writes"]:
            kind = item.get("$type", "")
            if kind.endswith("#create"):
                requested.append(
                    RecordWrite("create", item["collection"], item.get("rkey"), item["value"])
                )
            elif kind.endswith("#update"):
                requested.append(
                    RecordWrite("update", item["collection"], item["rkey"], item["value"])
                )
            elif kind.endswith("#delete"):
                requested.append(RecordWrite("delete", item["collection"], item["rkey"]))
            else:
                raise invalid_request(f"Unknown write type: {kind!r}")
        outcome = writes.apply(
            _caller(req), body["repo"], requested, body.get("validate"), body.get("swapCommit")
        )
        results: list[dict[str, Any]] = []
        for result in outcome.results:
            if result.action == "delete":
                results.append({"$type": "com.atproto.repo.applyWrites#deleteResult"})
                continue
            item_out: dict[str, Any] = {
                "$type": f"com.atproto.repo.applyWrites#{result.action}Result",
                "uri": result.uri,
                "cid": result.cid,
            }
            if result.validation_status is not None:
                item_out["validationStatus"] = result.validation_status
            results.append(item_out)
        return {"commit": outcome.commit_meta(), "results": results}

    @router.procedure("com.atproto.repo.uploadBlob")
    def upload_blob(req: XrpcRequest) -> dict[str, Any]:
        return {"blob": writes.upload_blob(_caller(req), req.raw_body or b"", req.content_type)}

    @router.query("com.atproto.repo.getRecord", auth="optional")
    def get_record(req: XrpcRequest) -> dict[str, Any]:
        p = req.params
        view = reads.get_record(
            reads.viewer(caller_did(req.principal)),
            p["repo"],
            p["collection"],
            p["rkey"],
            p.get("cid"),
        )
        return view.as_json()

    @router.query("com.atproto.repo.listRecords", auth="optional")
    def list_records(req: XrpcRequest) -> dict[str, Any]:
        p = req.params
        views, cursor = reads.list_records(
            reads.viewer(caller_did(req.principal)),
            p["repo"],
            p["collection"],
            p.get("limit", 50),
            p.get("cursor"),
            bool(p.get("reverse", False)),
        )
        out: dict[str, Any] = {"records": [v.as_json() for v in views]}
        if cursor is not None:
            out["cursor"] = cursor
        return out

    @router.query("com.atproto.repo.describeRepo", auth="optional")
    def describe_repo(req: XrpcRequest) -> dict[str, Any]:
        return reads.describe_repo(reads.viewer(caller_did(req.principal)), req.params["repo"])
