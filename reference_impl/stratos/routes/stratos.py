"""``zone.stratos.{enrollment,identity,server,repo}.*``."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ...common.errors import XrpcError
from ...common.xrpc import XrpcRequest, XrpcRouter
from ..auth import caller_did
from ..core import Stratos
from .repo import _caller

HYDRATE_RECORDS = "zone.stratos.repo.hydrateRecords"
MAX_HYDRATE_URIS = 100


def _domains(boundaries: tuple[str, ...] | frozenset[str]) -> list[dict[str, str]]:
    return [{"value": d} for d in sorted(boundaries)]


def register(router: XrpcRouter, stratos: Stratos) -> None:
    enrollments, reads, writes = stratos.enrollments, stratos.reads, stratos.writes

    @router.query("zone.stratos.enrollment.status", auth="optional")
    def status(req: XrpcRequest) -> dict[str, Any]:
        did = req.params["did"]
        enrollment = enrollments.get(did)
        if enrollment is None:
            return {"did": did, "enrolled": False}
        out: dict[str, Any] = {"did": did, "enrolled": True, "enrolledAt": enrollment.enrolled_at}
        if caller_did(req.principal) == did:
            out["boundaries"] = _domains(enrollment.boundaries)
        return out

    @router.procedure("zone.stratos.enrollment.unenroll")
    def unenroll(req: XrpcRequest) -> dict[str, Any]:
        enrollments.unenroll(_caller(req))
        return {"success": True}

    @router.query("zone.stratos.identity.resolveEnrollments")
    def resolve_enrollments(req: XrpcRequest) -> dict[str, Any]:
        did = req.params["did"]
        domains = enrollments.domains_of(did)
        return {
            "did": did,
            "enrolled": domains is not None,
            "boundaries": _domains(domains or frozenset()),
        }

    @router.query("zone.stratos.server.listDomains")
    def list_domains(req: XrpcRequest) -> dict[str, Any]:
        return {"domains": list(stratos.config.domains)}

    @router.query("zone.stratos.repo.hydrateRecord", auth="optional")
    def hydrate_record(req: XrpcRequest) -> dict[str, Any]:
        view = reads.hydrate_record(
            reads.viewer(caller_did(req.principal)), req.params["uri"], req.params.get("cid")
        )
        return view.as_json()

    @router.procedure(HYDRATE_RECORDS, auth="optional")
    def hydrate_records(req: XrpcRequest) -> dict[str, Any]:
        uris = req.body["uris"]
        found, missing = reads.hydrate_records(reads.viewer(caller_did(req.principal)), uris)
        return {"records": [v.as_json() for v in found], "notFound": missing, "blocked": []}

    @router.procedure("zone.stratos.repo.importRepo")
    def import_repo(req: XrpcRequest) -> dict[str, Any]:
        return {"imported": writes.import_repo(_caller(req), req.raw_body or b"")}


def too_many_uris_guard(router: XrpcRouter) -> BaseRoute:
    """``hydrateRecords`` with more than 100 URIs answers ``400 TooManyUris`` (the name the
    lexicon declares) instead of the generic lexicon-violation error the router would give.

    Starlette keeps the body it read, so the router reads the same bytes afterwards.
    """

    async def endpoint(request: Request) -> Response:
        if request.method == "POST":
            raw = await request.body()
            try:
                uris = json.loads(raw).get("uris")
            except (ValueError, UnicodeDecodeError, AttributeError):
                uris = None
            if isinstance(uris, list) and len(uris) > MAX_HYDRATE_URIS:
                raise XrpcError(400, "TooManyUris", f"At most {MAX_HYDRATE_URIS} URIs per call")
        # The router's endpoint reads the method from the path parameter its own route sets.
        request.scope["path_params"] = {"nsid": HYDRATE_RECORDS}
        return await router.endpoint(request)

    return Route(f"/xrpc/{HYDRATE_RECORDS}", endpoint, methods=["GET", "HEAD", "POST"])
