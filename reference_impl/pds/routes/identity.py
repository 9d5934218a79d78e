"""Identity: handle resolution (XRPC and well-known) and the PLC-compatible DID directory."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from ...common.errors import XrpcError
from ...common.xrpc import XrpcRequest, XrpcRouter
from ..context import Pds


def register(router: XrpcRouter, pds: Pds) -> None:
    @router.query("com.atproto.identity.resolveHandle")
    def resolve_handle(req: XrpcRequest) -> dict[str, Any]:
        account = pds.accounts.by_handle(req.params["handle"])
        if account is None:
            raise XrpcError(
                400, "HandleNotFound", f"Unable to resolve handle: {req.params['handle']}"
            )
        return {"did": account.did}


def http_routes(pds: Pds) -> list[Route]:
    def atproto_did(request: Request) -> Response:
        # The handle is the host the request was made to, as with DNS-based handle domains.
        host = (request.headers.get("host") or "").rsplit(":", 1)[0].lower()
        account = pds.accounts.by_handle(host) if host else None
        if account is None:
            return PlainTextResponse("no user by that handle", status_code=404)
        return PlainTextResponse(account.did)

    def did_document(request: Request) -> Response:
        did = request.path_params["did"]
        account = pds.accounts.by_did(did) if did.startswith("did:plc:") else None
        if account is None:
            return JSONResponse({"message": f"DID not registered: {did}"}, status_code=404)
        return JSONResponse(
            pds.accounts.did_document(account), media_type="application/did+ld+json"
        )

    return [
        Route("/.well-known/atproto-did", atproto_did, methods=["GET"]),
        # Mounted last: a single path segment that is a did:plc.
        Route("/{did}", did_document, methods=["GET"]),
    ]
