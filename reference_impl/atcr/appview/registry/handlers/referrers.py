"""end-12a/b: ``GET /v2/<name>/referrers/<digest>[?artifactType=]`` — an OCI image index of the
manifests whose ``subject`` is the digest (an empty index when there are none)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ....digests import InvalidDigest, parse_digest
from ...ports import Referrer
from ..context import RegistryContext
from ..errors import RegistryError
from ..manifests import OCI_INDEX
from ..names import RepositoryName
from .common import require_repository


def _descriptor(ref: Referrer) -> dict[str, Any]:
    entry: dict[str, Any] = {"mediaType": ref.media_type, "digest": ref.digest, "size": ref.size}
    if ref.artifact_type is not None:
        entry["artifactType"] = ref.artifact_type
    if ref.annotations:
        entry["annotations"] = dict(ref.annotations)
    return entry


async def referrers(
    ctx: RegistryContext, request: Request, name: RepositoryName, arg: str
) -> Response:
    ctx.auth.caller(request, name, "pull")
    try:
        digest = str(parse_digest(arg))
    except InvalidDigest as exc:
        raise RegistryError("DIGEST_INVALID", str(exc), arg[:200]) from None
    owner = await ctx.owner(name)
    found = await ctx.ports.manifests.referrers(owner, name.path, digest)
    if not found:
        await require_repository(ctx, owner, name)
    headers: dict[str, str] = {}
    artifact_type = request.query_params.get("artifactType")
    if artifact_type is not None:
        found = [ref for ref in found if ref.artifact_type == artifact_type]
        headers["OCI-Filters-Applied"] = "artifactType"
    index = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [_descriptor(r) for r in found],
    }
    return JSONResponse(index, headers=headers, media_type=OCI_INDEX)
