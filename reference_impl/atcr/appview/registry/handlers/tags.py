"""end-8a/b: ``GET /v2/<name>/tags/list[?n=&last=]`` in lexical order, paginated with a
``Link: <...>; rel="next"`` header while more remain."""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ..context import RegistryContext
from ..errors import RegistryError
from ..names import RepositoryName
from .common import require_repository


def _page_size(value: str | None) -> int | None:
    if value is None:
        return None
    if not value.isdigit() or len(value) > 9:
        raise RegistryError(
            "UNSUPPORTED", "n must be a non-negative integer", value[:50], status=400
        )
    return int(value)


async def tags_list(
    ctx: RegistryContext, request: Request, name: RepositoryName, arg: None = None
) -> Response:
    ctx.auth.caller(request, name, "pull")
    n = _page_size(request.query_params.get("n"))
    last = request.query_params.get("last")
    owner = await ctx.owner(name)
    tags = sorted(await ctx.ports.manifests.list_tags(owner, name.path))
    if not tags:
        await require_repository(ctx, owner, name)
    if last is not None:
        tags = [tag for tag in tags if tag > last]
    headers: dict[str, str] = {}
    if n is not None and len(tags) > n:
        tags = tags[:n]
        if tags:
            query = urlencode({"n": n, "last": tags[-1]})
            headers["Link"] = f'</v2/{name}/tags/list?{query}>; rel="next"'
    return JSONResponse({"name": str(name), "tags": tags}, headers=headers)
