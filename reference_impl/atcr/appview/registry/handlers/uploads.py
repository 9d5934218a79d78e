"""end-4a/b/c, end-5, end-6, end-11, end-13, end-14: blob upload sessions.

``POST /v2/<name>/blobs/uploads/`` opens a session (or finishes a monolithic upload with
``?digest=``, or mounts with ``?mount=&from=``); ``PATCH|PUT|GET|DELETE`` on its location add a
chunk, finish, report progress and cancel. Finishing verifies the digest over the spooled bytes,
then hands the file to the hold through ``ports.blobs.upload`` and drops the spool whatever
happens (a failed finish means the client starts again). A finished upload or a mount links the
digest to the repository again if it had been deleted there (end-10, ``blob_links``).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from ....digests import Digest, InvalidDigest, parse_digest
from ...ports import Owner, PortError
from ..context import RegistryContext
from ..errors import RegistryError
from ..names import InvalidName, RepositoryName, parse_name
from ..uploads import UploadSession, parse_content_length, parse_content_range


def _digest_param(request: Request, *, required: bool) -> Digest | None:
    value = request.query_params.get("digest")
    if value is None:
        if required:
            raise RegistryError("DIGEST_INVALID", "the digest query parameter is required")
        return None
    try:
        return parse_digest(value)
    except InvalidDigest as exc:
        raise RegistryError("DIGEST_INVALID", str(exc), value[:200]) from None


def _session_headers(
    ctx: RegistryContext, name: RepositoryName, session: UploadSession
) -> dict[str, str]:
    return {
        "Location": ctx.settings.url(f"/v2/{name}/blobs/uploads/{session.uuid}"),
        **ctx.uploads.progress_headers(session),
    }


def _blob_created(ctx: RegistryContext, name: RepositoryName, digest: str) -> Response:
    return Response(
        status_code=201,
        headers={
            "Location": ctx.settings.url(f"/v2/{name}/blobs/{digest}"),
            "Docker-Content-Digest": digest,
        },
    )


async def _append(ctx: RegistryContext, request: Request, session: UploadSession) -> None:
    header = request.headers.get("content-range")
    await ctx.uploads.append(
        session,
        request.stream(),
        content_range=parse_content_range(header) if header is not None else None,
        content_length=parse_content_length(request.headers.get("content-length")),
    )


async def _complete(
    ctx: RegistryContext,
    name: RepositoryName,
    owner: Owner,
    session: UploadSession,
    digest: Digest,
) -> Response:
    """Verify, send to the hold, drop the spool. Caller holds ``session.lock``."""
    try:
        if not ctx.fault("no-digest-verify") and not await ctx.uploads.verify(session, digest):
            raise RegistryError(
                "DIGEST_INVALID", "uploaded content does not match the digest", str(digest)
            )
        hold = await ctx.ports.manifests.hold_for(owner, for_push=True)
        await ctx.ports.blobs.upload(hold, owner, str(digest), session.path, session.offset)
    finally:
        ctx.uploads.discard(session)
    await ctx.links.relink(owner.did, name.path, str(digest))
    return _blob_created(ctx, name, str(digest))


async def start(
    ctx: RegistryContext, request: Request, name: RepositoryName, arg: None = None
) -> Response:
    caller = ctx.auth.caller(request, name, "push")
    digest = _digest_param(request, required=False)
    owner = await ctx.writable_owner(caller, name)
    mount = request.query_params.get("mount")
    if mount is not None and digest is None:
        mounted = await _try_mount(ctx, owner, name, mount, request.query_params.get("from"))
        if mounted is not None:
            return _blob_created(ctx, name, mounted)
        # Not mountable: a normal session, as the spec's fallback says (end-11).
    session = ctx.uploads.create(str(name))
    if digest is None:
        return Response(status_code=202, headers=_session_headers(ctx, name, session))
    async with session.lock:  # end-4c: the whole blob in the POST body
        try:
            await _append(ctx, request, session)
        except BaseException:
            ctx.uploads.discard(session)
            raise
        return await _complete(ctx, name, owner, session, digest)


async def _try_mount(
    ctx: RegistryContext, owner: Owner, name: RepositoryName, mount: str, source: str | None
) -> str | None:
    """The digest, now linked to ``name``, when the owner's hold already has the blob. Blobs
    live per hold, not per repository, so ``from`` only tells where the client saw it; a bad
    digest just means no mount."""
    try:
        digest = str(parse_digest(mount))
    except InvalidDigest:
        return None
    if await _deleted_at_source(ctx, source, digest):
        return None
    hold = await ctx.ports.manifests.hold_for(owner, for_push=True)
    if await ctx.ports.blobs.stat(hold, digest) is None:
        return None
    await ctx.links.relink(owner.did, name.path, digest)
    return digest


async def _deleted_at_source(ctx: RegistryContext, source: str | None, digest: str) -> bool:
    """Whether ``from`` names a repository the blob was deleted from: as in Distribution, a
    repository that no longer shows a blob is no source to mount it from (else a delete could
    be undone by mounting from the same repository). When ``from`` cannot be resolved the hold
    decides alone, as before deletes existed."""
    if source is None:
        return False
    try:
        source_name = parse_name(source)
        source_owner = await ctx.owner(source_name)
    except (InvalidName, PortError):
        return False
    return await ctx.links.is_unlinked(source_owner.did, source_name.path, digest)


async def session(
    ctx: RegistryContext, request: Request, name: RepositoryName, upload_id: str
) -> Response:
    caller = ctx.auth.caller(request, name, "push")
    digest: Digest | None = None
    owner: Owner | None = None
    if request.method == "PUT":  # checked before waiting for the session
        digest = _digest_param(request, required=True)
        owner = await ctx.writable_owner(caller, name)
    upload = ctx.uploads.get(upload_id, str(name))
    async with upload.lock:
        # A request that waited for the lock may find the session finished or cancelled.
        upload = ctx.uploads.get(upload_id, str(name))
        if request.method == "GET":  # end-13
            return Response(status_code=204, headers=_session_headers(ctx, name, upload))
        if request.method == "DELETE":  # end-14
            ctx.uploads.discard(upload)
            return Response(status_code=204)
        await _append(ctx, request, upload)
        if request.method == "PATCH":  # end-5
            return Response(status_code=202, headers=_session_headers(ctx, name, upload))
        assert owner is not None and digest is not None
        return await _complete(ctx, name, owner, upload, digest)  # end-6
