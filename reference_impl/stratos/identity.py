"""The service's own identity: its persisted P-256 key, its DID document, health and readiness."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from ..common.sqlite import Database
from ..common.xrpc import XrpcRequest, XrpcRouter
from ..primitives.keys import SigningKey, generate_signing_key, load_signing_key

VERSION = "atconform-reference-stratos 0.1.0"
_SERVICE_KEY = "service_signing_key"

DID_CONTEXT = (
    "https://www.w3.org/ns/did/v1",
    "https://w3id.org/security/multikey/v1",
)


def load_service_key(db: Database) -> SigningKey:
    """The service key, made on first start and kept in ``service.sqlite`` from then on."""
    with db.transaction() as conn:
        row = conn.execute(
            "SELECT value FROM service_secret WHERE name = ?", (_SERVICE_KEY,)
        ).fetchone()
        if row is not None:
            return load_signing_key("p256", bytes(row[0]))
        key = generate_signing_key("p256")
        conn.execute(
            "INSERT INTO service_secret (name, value) VALUES (?, ?)",
            (_SERVICE_KEY, key.private_bytes()),
        )
        return key


def did_document(service_did: str, public_url: str, key: SigningKey) -> dict[str, Any]:
    return {
        "@context": list(DID_CONTEXT),
        "id": service_did,
        "verificationMethod": [
            {
                "id": f"{service_did}#atproto",
                "type": "Multikey",
                "controller": service_did,
                "publicKeyMultibase": key.multikey,
            }
        ],
        "service": [{"id": "#stratos", "type": "StratosService", "serviceEndpoint": public_url}],
    }


def identity_routes(
    service_did: str, public_url: str, key: SigningKey, db: Database
) -> list[BaseRoute]:
    document = did_document(service_did, public_url, key)

    async def did_json(request: Request) -> Response:
        return JSONResponse(document)

    async def ready(request: Request) -> Response:
        # The service database was opened (and its schema applied) before routes existed; a
        # trivial query proves the file is still usable.
        db.query_one("SELECT 1")
        return JSONResponse({"ready": True})

    return [
        Route("/.well-known/did.json", did_json, methods=["GET"]),
        Route("/ready", ready, methods=["GET"]),
    ]


def register_health(router: XrpcRouter) -> None:
    @router.query("_health")
    def health(_: XrpcRequest) -> dict[str, str]:
        return {"version": VERSION}
