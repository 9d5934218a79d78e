"""end-2 and end-10: ``GET|HEAD|DELETE /v2/<name>/blobs/<digest>``.

Blob bytes live in the owner's hold: GET redirects (307) there, HEAD is answered here from the
hold's stat. The hold is shared by the owner's repositories and content-addressed, so DELETE
only unlinks the blob from this repository (``blob_links``): later reads here answer
BLOB_UNKNOWN, other repositories and the hold keep serving it.
Blob reads do not look for repository records: ``docker push`` HEADs blobs of repositories that
have none yet, so an absent blob is always BLOB_UNKNOWN.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from ....digests import InvalidDigest, parse_digest
from ...ports import Owner
from ..context import RegistryContext
from ..errors import RegistryError
from ..names import RepositoryName


def _digest(arg: str) -> str:
    try:
        return str(parse_digest(arg))
    except InvalidDigest as exc:
        raise RegistryError("DIGEST_INVALID", str(exc), arg[:200]) from None


async def _visible_size(
    ctx: RegistryContext, owner: Owner, name: RepositoryName, digest: str
) -> tuple[str, int]:
    """(hold, size) of a blob this repository serves; BLOB_UNKNOWN when the hold lacks it or
    it was deleted from this repository."""
    hold = await ctx.ports.manifests.hold_for(owner, for_push=False)
    size = await ctx.ports.blobs.stat(hold, digest)
    if size is None or await ctx.links.is_unlinked(owner.did, name.path, digest):
        raise RegistryError("BLOB_UNKNOWN", "blob unknown to registry", digest)
    return hold, size


async def blob(ctx: RegistryContext, request: Request, name: RepositoryName, arg: str) -> Response:
    if request.method == "DELETE":
        return await _delete(ctx, request, name, arg)
    ctx.auth.caller(request, name, "pull")
    digest = _digest(arg)
    owner = await ctx.owner(name)
    hold, size = await _visible_size(ctx, owner, name, digest)
    if request.method == "HEAD":
        return Response(
            b"",
            headers={
                "Content-Length": str(size),
                "Content-Type": "application/octet-stream",
                "Docker-Content-Digest": digest,
            },
        )
    url = await ctx.ports.blobs.download_url(hold, digest)
    return RedirectResponse(url, status_code=307, headers={"Docker-Content-Digest": digest})


async def _delete(
    ctx: RegistryContext, request: Request, name: RepositoryName, arg: str
) -> Response:
    # The same gate as a manifest DELETE: a delete grant, the caller's own namespace, and an
    # OAuth session (a delete is a write even though nothing reaches the PDS).
    caller = ctx.auth.caller(request, name, "delete")
    digest = _digest(arg)
    owner = await ctx.writable_owner(caller, name)
    await _visible_size(ctx, owner, name, digest)
    await ctx.links.unlink(owner.did, name.path, digest)
    return Response(status_code=202)
