"""end-1: ``GET /v2/`` — the API version check; any valid registry token passes."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ..context import RegistryContext


async def api_base(ctx: RegistryContext, request: Request) -> Response:
    ctx.auth.caller(request)
    return JSONResponse({})
