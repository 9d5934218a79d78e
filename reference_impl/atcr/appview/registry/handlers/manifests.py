"""end-3, end-7a/b, end-9: ``GET|HEAD|PUT|DELETE /v2/<name>/manifests/<reference>``.

Manifests and tags are records in the owner's PDS (``ports.manifests``); the bytes served are
exactly the bytes pushed. A PUT is accepted only when every blob it names is in the owner's
hold (and not deleted from the repository, end-10) and every child of an index is a manifest of
the repository.
"""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import Response

from ...ports import Owner, ParsedManifest
from ..context import RegistryContext, read_body
from ..errors import RegistryError
from ..manifests import (
    FOREIGN_LAYER_TYPES,
    MAX_MANIFEST_BYTES,
    manifest_digest,
    parse_manifest,
)
from ..names import InvalidReference, Reference, RepositoryName, is_valid_tag, parse_reference
from .common import require_repository


def _reference(arg: str, *, writing: bool) -> Reference:
    try:
        return parse_reference(arg)
    except InvalidReference as exc:
        if ":" in arg:
            raise RegistryError("DIGEST_INVALID", str(exc), arg[:200]) from None
        if writing:
            raise RegistryError("MANIFEST_INVALID", str(exc), arg[:200]) from None
        # A reference that cannot name anything names nothing that exists.
        raise RegistryError("MANIFEST_UNKNOWN", str(exc), arg[:200]) from None


async def manifest(
    ctx: RegistryContext, request: Request, name: RepositoryName, arg: str
) -> Response:
    if request.method == "PUT":
        return await _put(ctx, request, name, arg)
    if request.method == "DELETE":
        return await _delete(ctx, request, name, arg)
    return await _get(ctx, request, name, arg)


async def _get(ctx: RegistryContext, request: Request, name: RepositoryName, arg: str) -> Response:
    ctx.auth.caller(request, name, "pull")
    ref = _reference(arg, writing=False)
    owner = await ctx.owner(name)
    store = ctx.ports.manifests
    if ref.digest is not None:
        stored = await store.get_by_digest(owner, name.path, str(ref.digest))
    else:
        assert ref.tag is not None
        stored = await store.get_by_tag(owner, name.path, ref.tag)
    if stored is None:
        await require_repository(ctx, owner, name)
        raise RegistryError("MANIFEST_UNKNOWN", "manifest unknown", str(ref))
    headers = {
        "Content-Type": stored.media_type,
        "Content-Length": str(len(stored.content)),
        "Docker-Content-Digest": stored.digest,
    }
    body = b"" if request.method == "HEAD" else stored.content
    return Response(body, headers=headers)


async def _put(ctx: RegistryContext, request: Request, name: RepositoryName, arg: str) -> Response:
    caller = ctx.auth.caller(request, name, "push")
    ref = _reference(arg, writing=True)
    tags: list[str] = [ref.tag] if ref.tag is not None else []
    for tag in request.query_params.getlist("tag"):  # end-7b: ``?tag=`` params
        if not is_valid_tag(tag):
            raise RegistryError("MANIFEST_INVALID", f"{tag[:140]!r} is not a valid tag", tag[:200])
        if tag not in tags:
            tags.append(tag)
    owner = await ctx.writable_owner(caller, name)
    content = await read_body(request, MAX_MANIFEST_BYTES)
    parsed = parse_manifest(content, request.headers.get("content-type"))
    digest = str(manifest_digest(content, ref.digest))
    hold = await ctx.ports.manifests.hold_for(owner, for_push=True)
    await _require_references(ctx, owner, name, hold, parsed)
    await ctx.ports.manifests.put(owner, name.path, digest, content, parsed, tags, hold)
    headers = {
        "Location": ctx.settings.url(f"/v2/{name}/manifests/{digest}"),
        "Docker-Content-Digest": digest,
    }
    if parsed.subject is not None:
        headers["OCI-Subject"] = parsed.subject.digest
    return Response(status_code=201, headers=headers)


async def _require_references(
    ctx: RegistryContext, owner: Owner, name: RepositoryName, hold: str, parsed: ParsedManifest
) -> None:
    """MANIFEST_BLOB_UNKNOWN unless the blobs are in the hold and not deleted from this
    repository (end-10), and the children are records. The subject need not exist (OCI 1.1
    lets referrers be pushed first)."""
    blobs = [parsed.config] if parsed.config is not None else []
    blobs += [layer for layer in parsed.layers if layer.media_type not in FOREIGN_LAYER_TYPES]
    sizes = await asyncio.gather(*(ctx.ports.blobs.stat(hold, b.digest) for b in blobs))
    unlinked = await ctx.links.unlinked_among(owner.did, name.path, (b.digest for b in blobs))
    missing = [
        b.digest
        for b, size in zip(blobs, sizes, strict=True)
        if size is None or b.digest in unlinked
    ]
    children = await asyncio.gather(
        *(ctx.ports.manifests.get_by_digest(owner, name.path, m.digest) for m in parsed.manifests)
    )
    missing += [m.digest for m, got in zip(parsed.manifests, children, strict=True) if got is None]
    if missing:
        raise RegistryError(
            "MANIFEST_BLOB_UNKNOWN",
            f"manifest references {len(missing)} unknown blob(s) or manifest(s)",
            {"digests": missing},
        )


async def _delete(
    ctx: RegistryContext, request: Request, name: RepositoryName, arg: str
) -> Response:
    caller = ctx.auth.caller(request, name, "delete")
    ref = _reference(arg, writing=False)
    owner = await ctx.writable_owner(caller, name)
    store = ctx.ports.manifests
    if ref.digest is not None:
        deleted = await store.delete_manifest(owner, name.path, str(ref.digest))
    else:
        assert ref.tag is not None
        deleted = await store.delete_tag(owner, name.path, ref.tag)
    if not deleted:
        raise RegistryError("MANIFEST_UNKNOWN", "manifest unknown", str(ref))
    return Response(status_code=202)
