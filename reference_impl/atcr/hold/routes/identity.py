"""``/.well-known/did.json`` (ATCR-HOLD-01), health, and the root page."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..context import Hold
from ..identity import did_document

VERSION = "atconform-reference-hold 0.1.0"


def http_routes(hold: Hold) -> list[Route]:
    document = did_document(hold.config.did, hold.key, hold.config.public_url)

    async def did_json(request: Request) -> Response:
        return JSONResponse(document, headers={"Cache-Control": "max-age=60"})

    async def root(request: Request) -> Response:
        return JSONResponse({"service": VERSION, "did": hold.config.did})

    return [
        Route("/.well-known/did.json", did_json, methods=["GET"]),
        Route("/", root, methods=["GET"]),
    ]
