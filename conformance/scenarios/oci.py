"""Probes for the OCI Distribution API (OCI-end-*, OCI-code-*): they push and pull through a
``RegistryClient`` and return what came back; ``conformance.checks.oci`` judges.

Every probe set carries its *setup* (the pushes its requests depend on), so a check can tell a
refused prerequisite from the behaviour under test. ``Probe.case`` names what was sent in words
(repository, reference, digest prefix) and never a token. All loops are bounded.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import httpx

from conformance.clients.oci import RegistryClient, location_of
from conformance.clients.oci_images import (
    Blob,
    Manifest,
    artifact,
    image,
    random_bytes,
    sha256_digest,
    sha512_digest,
)
from conformance.scenarios.base import Probe, is_success

# Sizes stay small: the whole suite must run in seconds against a local registry.
LAYER_SIZE = 4096
CHUNK_SIZE = 1500
TAG_COUNT = 5
PAGE_SIZE = 2
MAX_TAG_PAGES = 10
OVERSIZE_MANIFEST = 4 * 1024 * 1024 + 1024  # just over the 4 MiB limit registries commonly use
RATE_PROBE_REQUESTS = 10

RepoNamer = Callable[[str], str]


def short(digest: str) -> str:
    """``sha256:0123456789ab…`` for messages."""
    return digest[:19] + "…"


def missing_digest() -> str:
    """A well-formed digest of bytes nobody pushed."""
    return sha256_digest(b"atconform-missing-" + secrets.token_bytes(16))


def ok(probes: Sequence[Probe]) -> bool:
    return all(is_success(p.response) for p in probes)


# --- pushing content (setup for most probes) ------------------------------------------------


def push_blob(client: RegistryClient, name: str, blob: Blob) -> tuple[Probe, ...]:
    """POST then monolithic PUT; the probes sent (the POST alone when it was refused)."""
    post = Probe(f"open an upload session in {name}", client.start_upload(name))
    location = location_of(post.response)
    if post.response.status_code != 202 or location is None:
        return (post,)
    put = Probe(
        f"finish the upload of {short(blob.digest)} ({blob.size} bytes) with one PUT",
        client.finish_upload(location, blob.digest, blob.data),
    )
    return (post, put)


def push_blobs(client: RegistryClient, name: str, blobs: Sequence[Blob]) -> tuple[Probe, ...]:
    probes: list[Probe] = []
    seen: set[str] = set()
    for blob in blobs:
        if blob.digest in seen:
            continue
        seen.add(blob.digest)
        pushed = push_blob(client, name, blob)
        probes.extend(pushed)
        if not ok(pushed):
            break
    return tuple(probes)


def push_manifest(
    client: RegistryClient, name: str, manifest: Manifest, reference: str | None = None,
    tags: Sequence[str] = (),
) -> Probe:
    ref = reference or manifest.digest
    label = "digest" if ref == manifest.digest else f"tag {ref!r}"
    return Probe(
        f"PUT the manifest {short(manifest.digest)} in {name} by {label}"
        + (f" with ?tag={','.join(tags)}" if tags else ""),
        client.put_manifest(name, ref, manifest.content, manifest.media_type, tags),
    )


def push_image(
    client: RegistryClient, name: str, manifest: Manifest, reference: str | None = None
) -> tuple[Probe, ...]:
    """Every blob of ``manifest``, then the manifest itself (by tag or digest)."""
    probes = push_blobs(client, name, manifest.blobs)
    if not ok(probes):
        return probes
    return (*probes, push_manifest(client, name, manifest, reference))


def small_image(label: str = "") -> Manifest:
    return image([random_bytes(LAYER_SIZE), random_bytes(LAYER_SIZE // 2)], label=label or None)


@dataclass(frozen=True)
class Seed:
    """One image pushed once per run for the pull checks (OCI-end-2/3, code-1/7)."""

    name: str
    tag: str
    manifest: Manifest
    setup: tuple[Probe, ...]

    @property
    def layer(self) -> Blob:
        return self.manifest.blobs[1]

    @property
    def pushed(self) -> bool:
        return ok(self.setup)


def seed_image(client: RegistryClient, name: str) -> Seed:
    manifest = small_image("seed")
    return Seed(name, "v1", manifest, push_image(client, name, manifest, "v1"))


# --- OCI-end-1 ------------------------------------------------------------------------------


def probe_base(client: RegistryClient) -> Probe:
    return Probe("GET /v2/ (answering any auth challenge)", client.base())


# --- OCI-end-2 ------------------------------------------------------------------------------


@dataclass(frozen=True)
class BlobReads:
    blob: Blob
    setup: tuple[Probe, ...]
    head: Probe
    get: Probe
    ranged: Probe
    range: tuple[int, int]  # inclusive byte positions asked for


def probe_blob_reads(client: RegistryClient, seed: Seed) -> BlobReads:
    blob = seed.layer
    first, last = 100, 1099
    return BlobReads(
        blob,
        seed.setup,
        Probe(f"HEAD the blob {short(blob.digest)}", client.head_blob(seed.name, blob.digest)),
        Probe(f"GET the blob {short(blob.digest)}", client.get_blob(seed.name, blob.digest)),
        Probe(
            f"GET the blob {short(blob.digest)} with Range: bytes={first}-{last}",
            client.get_blob(seed.name, blob.digest, headers={"Range": f"bytes={first}-{last}"}),
        ),
        (first, last),
    )


# --- OCI-end-3 ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ManifestRead:
    manifest: Manifest
    probe: Probe
    head: bool


@dataclass(frozen=True)
class ManifestReads:
    setup: tuple[Probe, ...]
    reads: tuple[ManifestRead, ...]


def probe_manifest_reads(client: RegistryClient, seed: Seed, untagged_name: str) -> ManifestReads:
    """GET/HEAD the seed by tag and digest, and an image pushed by digest only."""
    untagged = small_image("untagged")
    setup = (*seed.setup, *push_image(client, untagged_name, untagged))
    reads: list[ManifestRead] = []
    if ok(setup):
        m = seed.manifest
        for ref, label in ((seed.tag, f"tag {seed.tag!r}"), (m.digest, "digest")):
            reads.append(ManifestRead(m, Probe(f"GET the manifest by {label}",
                                               client.get_manifest(seed.name, ref)), False))
            reads.append(ManifestRead(m, Probe(f"HEAD the manifest by {label}",
                                               client.head_manifest(seed.name, ref)), True))
        reads.append(ManifestRead(untagged, Probe(
            "GET an untagged manifest (pushed by digest only) by digest",
            client.get_manifest(untagged_name, untagged.digest)), False))
        reads.append(ManifestRead(untagged, Probe(
            "HEAD an untagged manifest by digest",
            client.head_manifest(untagged_name, untagged.digest)), True))
    return ManifestReads(setup, tuple(reads))


# --- OCI-end-4a/4b/4c -----------------------------------------------------------------------


def cancel_quietly(client: RegistryClient, response: httpx.Response) -> None:
    """Cancel the session a response opened (cleanup: the answer is not judged)."""
    location = location_of(response)
    if response.status_code == 202 and location is not None:
        client.cancel_upload(location)


def probe_open_session(client: RegistryClient, name: str) -> Probe:
    probe = Probe(f"POST /v2/{name}/blobs/uploads/", client.start_upload(name))
    cancel_quietly(client, probe.response)
    return probe


@dataclass(frozen=True)
class MonolithicUpload:
    blob: Blob
    post: Probe
    put: Probe | None
    head: Probe | None
    sha512_post: Probe
    sha512_put: Probe | None
    sha512_head: Probe | None
    sha512_digest: str


def probe_monolithic_upload(client: RegistryClient, name: str) -> MonolithicUpload:
    blob = Blob(random_bytes(LAYER_SIZE))
    pushed = push_blob(client, name, blob)
    put = pushed[1] if len(pushed) > 1 else None
    head = None
    if put is not None and is_success(put.response):
        head = Probe(f"HEAD the uploaded blob {short(blob.digest)}",
                     client.head_blob(name, blob.digest))
    # sha512: the same upload with a sha512 digest; accepted or refused cleanly.
    other = random_bytes(LAYER_SIZE)
    digest512 = sha512_digest(other)
    post512 = Probe(f"open an upload session in {name}", client.start_upload(name))
    put512 = head512 = None
    location = location_of(post512.response)
    if post512.response.status_code == 202 and location is not None:
        put512 = Probe("finish an upload with a sha512 digest",
                       client.finish_upload(location, digest512, other))
        if is_success(put512.response):
            head512 = Probe("HEAD the blob by its sha512 digest", client.head_blob(name, digest512))
        else:
            cancel_quietly(client, post512.response)
    return MonolithicUpload(blob, pushed[0], put, head, post512, put512, head512, digest512)


@dataclass(frozen=True)
class SinglePostUpload:
    blob: Blob
    post: Probe
    head: Probe | None


def probe_single_post(client: RegistryClient, name: str) -> SinglePostUpload:
    blob = Blob(random_bytes(LAYER_SIZE))
    post = Probe(f"POST /v2/{name}/blobs/uploads/?digest={short(blob.digest)} with the blob",
                 client.start_upload(name, digest=blob.digest, data=blob.data))
    head = None
    if post.response.status_code == 201:
        head = Probe("HEAD the uploaded blob", client.head_blob(name, blob.digest))
    else:
        cancel_quietly(client, post.response)
    return SinglePostUpload(blob, post, head)


# --- OCI-end-5 / end-6 / end-13 / end-14 ----------------------------------------------------


@dataclass(frozen=True)
class ChunkedUpload:
    blob: Blob
    post: Probe
    chunks: tuple[Probe, ...]  # in order; each should answer 202 with a growing Range
    ends: tuple[int, ...]  # the last byte position expected in each chunk's Range
    out_of_order: Probe | None  # a chunk starting past the current offset
    finish: Probe | None
    get: Probe | None


def _patch_chunks(
    client: RegistryClient, location: str, data: bytes, ranged: bool, label: str
) -> tuple[list[Probe], list[int], str | None]:
    """Send ``data`` in CHUNK_SIZE pieces; (probes, expected range ends, last location)."""
    probes: list[Probe] = []
    ends: list[int] = []
    current: str | None = location
    for start in range(0, len(data), CHUNK_SIZE):
        piece = data[start:start + CHUNK_SIZE]
        end = start + len(piece) - 1
        content_range = f"{start}-{end}" if ranged else None
        assert current is not None
        response = client.patch_chunk(current, piece, content_range)
        probes.append(Probe(
            f"{label} chunk bytes {start}-{end}"
            + (f" with Content-Range: {content_range}" if ranged else " without Content-Range"),
            response))
        ends.append(end)
        if response.status_code != 202:
            return probes, ends, None
        current = location_of(response) or current
    return probes, ends, current


def probe_chunked_upload(client: RegistryClient, name: str, ranged: bool = True) -> ChunkedUpload:
    """Three ranged (or streamed) chunks, an out-of-order chunk (ranged only), then PUT."""
    blob = Blob(random_bytes(CHUNK_SIZE * 3 - 200))
    post = Probe(f"open an upload session in {name}", client.start_upload(name))
    location = location_of(post.response)
    if post.response.status_code != 202 or location is None:
        return ChunkedUpload(blob, post, (), (), None, None, None)
    label = "PATCH" if ranged else "PATCH (streamed)"
    chunks, ends, current = _patch_chunks(client, location, blob.data, ranged, label)
    if current is None:
        cancel_quietly(client, post.response)
        return ChunkedUpload(blob, post, tuple(chunks), tuple(ends), None, None, None)
    out_of_order = None
    if ranged:
        gap = blob.size + 100
        out_of_order = Probe(
            f"PATCH a chunk with Content-Range: {gap}-{gap + 9} (past the current offset "
            f"{blob.size})",
            client.patch_chunk(current, b"x" * 10, f"{gap}-{gap + 9}"))
        if out_of_order.response.status_code == 202:
            # The registry appended it: the session no longer holds the blob; stop here.
            cancel_quietly(client, out_of_order.response)
            return ChunkedUpload(blob, post, tuple(chunks), tuple(ends), out_of_order, None, None)
    finish = Probe(f"PUT ?digest={short(blob.digest)} to close the session",
                   client.finish_upload(current, blob.digest))
    get = None
    if is_success(finish.response):
        get = Probe("GET the assembled blob", client.get_blob(name, blob.digest))
    return ChunkedUpload(blob, post, tuple(chunks), tuple(ends), out_of_order, finish, get)


@dataclass(frozen=True)
class ClosedUpload:
    blob: Blob
    setup: tuple[Probe, ...]  # POST and the PATCH of the whole blob
    finish: Probe | None
    get: Probe | None
    status_after: Probe | None  # the closed session's status: must no longer be an open session


def probe_close_upload(client: RegistryClient, name: str) -> ClosedUpload:
    blob = Blob(random_bytes(LAYER_SIZE))
    post = Probe(f"open an upload session in {name}", client.start_upload(name))
    location = location_of(post.response)
    if post.response.status_code != 202 or location is None:
        return ClosedUpload(blob, (post,), None, None, None)
    patch = Probe("PATCH the whole blob as one streamed chunk",
                  client.patch_chunk(location, blob.data))
    current = location_of(patch.response) or location
    if patch.response.status_code != 202:
        cancel_quietly(client, post.response)
        return ClosedUpload(blob, (post, patch), None, None, None)
    finish = Probe(f"PUT ?digest={short(blob.digest)} with no body to close the session",
                   client.finish_upload(current, blob.digest))
    get = status = None
    if is_success(finish.response):
        get = Probe("GET the blob", client.get_blob(name, blob.digest))
        status = Probe("GET the status of the closed session", client.upload_status(current))
    return ClosedUpload(blob, (post, patch), finish, get, status)


@dataclass(frozen=True)
class UploadStatus:
    setup: tuple[Probe, ...]
    sent: int  # bytes sent before the status request
    status: Probe | None


def probe_upload_status(client: RegistryClient, name: str) -> UploadStatus:
    data = random_bytes(CHUNK_SIZE)
    post = Probe(f"open an upload session in {name}", client.start_upload(name))
    location = location_of(post.response)
    if post.response.status_code != 202 or location is None:
        return UploadStatus((post,), len(data), None)
    patch = Probe(f"PATCH bytes 0-{len(data) - 1}",
                  client.patch_chunk(location, data, f"0-{len(data) - 1}"))
    if patch.response.status_code != 202:
        cancel_quietly(client, post.response)
        return UploadStatus((post, patch), len(data), None)
    current = location_of(patch.response) or location
    status = Probe("GET the upload session's status", client.upload_status(current))
    client.cancel_upload(location_of(status.response) or current)
    return UploadStatus((post, patch), len(data), status)


@dataclass(frozen=True)
class CancelledUpload:
    post: Probe
    cancel: Probe | None
    after: Probe | None  # the status of the cancelled session


def probe_cancel_upload(client: RegistryClient, name: str) -> CancelledUpload:
    post = Probe(f"open an upload session in {name}", client.start_upload(name))
    location = location_of(post.response)
    if post.response.status_code != 202 or location is None:
        return CancelledUpload(post, None, None)
    cancel = Probe("DELETE the upload session", client.cancel_upload(location))
    after = Probe("GET the cancelled session's status", client.upload_status(location))
    return CancelledUpload(post, cancel, after)


# --- OCI-end-7a/7b --------------------------------------------------------------------------


@dataclass(frozen=True)
class ManifestPush:
    manifest: Manifest
    setup: tuple[Probe, ...]
    put: Probe | None


def probe_manifest_push(
    client: RegistryClient, name: str, by_tag: str | None
) -> ManifestPush:
    manifest = small_image("push")
    setup = push_blobs(client, name, manifest.blobs)
    if not ok(setup):
        return ManifestPush(manifest, setup, None)
    return ManifestPush(manifest, setup, push_manifest(client, name, manifest, by_tag))


@dataclass(frozen=True)
class TagParamPush:
    manifest: Manifest
    setup: tuple[Probe, ...]
    put: Probe | None
    tags: tuple[str, ...]
    reads: tuple[Probe, ...]  # GET by each tag


def probe_tag_params(client: RegistryClient, name: str) -> TagParamPush:
    manifest = small_image("tagparams")
    tags = ("alpha", "beta")
    setup = push_blobs(client, name, manifest.blobs)
    if not ok(setup):
        return TagParamPush(manifest, setup, None, tags, ())
    put = push_manifest(client, name, manifest, manifest.digest, tags)
    reads = tuple(Probe(f"GET the manifest by tag {t!r}", client.get_manifest(name, t))
                  for t in tags) if is_success(put.response) else ()
    return TagParamPush(manifest, setup, put, tags, reads)


# --- OCI-end-8a/8b --------------------------------------------------------------------------

TAGS = tuple(f"t{i}-{w}" for i, w in enumerate(("delta", "alpha", "echo", "bravo", "charlie")))


@dataclass(frozen=True)
class TagListing:
    name: str
    tags: tuple[str, ...]
    setup: tuple[Probe, ...]
    full: Probe | None
    pages: tuple[Probe, ...]  # n=PAGE_SIZE, then following Link (or ?last=) until done
    after_last: Probe | None  # ?last=<second tag in order>&n=PAGE_SIZE, sent directly


def push_tags(client: RegistryClient, name: str) -> tuple[Probe, ...]:
    manifest = small_image("tags")
    setup = list(push_blobs(client, name, manifest.blobs))
    if not ok(setup):
        return tuple(setup)
    for tag in TAGS:
        setup.append(push_manifest(client, name, manifest, tag))
        if not is_success(setup[-1].response):
            break
    return tuple(setup)


def next_link(response: httpx.Response) -> str | None:
    """The target of a ``Link: <url>; rel="next"`` header, absolute, or None."""
    for value in response.headers.get_list("link"):
        for part in value.split(","):
            url, _, params = part.partition(";")
            url = url.strip()
            if url.startswith("<") and url.endswith(">") and "next" in params.replace(
                    '"', " ").split("rel=")[-1].split():
                return str(response.request.url.join(url[1:-1]))
    return None


def probe_tag_listing(client: RegistryClient, name: str, paginate: bool) -> TagListing:
    setup = push_tags(client, name)
    if not ok(setup):
        return TagListing(name, TAGS, setup, None, (), None)
    if not paginate:
        return TagListing(name, TAGS, setup, Probe("GET the tag list", client.tags(name)),
                          (), None)
    pages: list[Probe] = []
    response = client.tags(name, n=PAGE_SIZE)
    pages.append(Probe(f"GET the tag list with n={PAGE_SIZE}", response))
    for index in range(MAX_TAG_PAGES):
        link = next_link(response)
        if response.status_code != 200 or link is None:
            break
        response = client.request("GET", link)
        pages.append(Probe(f"follow Link rel=\"next\" (page {index + 2})", response))
    ordered = sorted(TAGS)
    after = Probe(f"GET the tag list with n={PAGE_SIZE}&last={ordered[1]}",
                  client.tags(name, n=PAGE_SIZE, last=ordered[1]))
    return TagListing(name, TAGS, setup, None, tuple(pages), after)


# --- OCI-end-9/10 ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Deletion:
    digest: str
    setup: tuple[Probe, ...]
    delete: Probe | None
    after: Probe | None


def probe_manifest_delete(client: RegistryClient, name: str) -> Deletion:
    manifest = small_image("delete")
    setup = push_image(client, name, manifest, "doomed")
    if not ok(setup):
        return Deletion(manifest.digest, setup, None, None)
    delete = Probe("DELETE the manifest by digest",
                   client.delete_manifest(name, manifest.digest))
    after = None
    if is_success(delete.response):
        after = Probe("GET the deleted manifest by digest",
                      client.get_manifest(name, manifest.digest))
    return Deletion(manifest.digest, setup, delete, after)


def probe_blob_delete(client: RegistryClient, name: str) -> Deletion:
    blob = Blob(random_bytes(LAYER_SIZE))
    setup = push_blob(client, name, blob)
    if not ok(setup):
        return Deletion(blob.digest, setup, None, None)
    delete = Probe(f"DELETE the blob {short(blob.digest)}", client.delete_blob(name, blob.digest))
    after = None
    if is_success(delete.response):
        after = Probe("HEAD the deleted blob", client.head_blob(name, blob.digest))
    return Deletion(blob.digest, setup, delete, after)


# --- OCI-end-11 -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Mount:
    blob: Blob
    setup: tuple[Probe, ...]
    mount: Probe | None
    head: Probe | None


def probe_mount(client: RegistryClient, source: str, target: str) -> Mount:
    blob = Blob(random_bytes(LAYER_SIZE))
    setup = push_blob(client, source, blob)
    if not ok(setup):
        return Mount(blob, setup, None, None)
    mount = Probe(f"POST /v2/{target}/blobs/uploads/?mount={short(blob.digest)}&from={source}",
                  client.start_upload(target, mount=blob.digest, from_repo=source))
    head = None
    if mount.response.status_code == 201:
        head = Probe(f"HEAD the mounted blob in {target}", client.head_blob(target, blob.digest))
    else:
        cancel_quietly(client, mount.response)
    return Mount(blob, setup, mount, head)


# --- OCI-end-12a/12b ------------------------------------------------------------------------

ARTIFACT_TYPE_A = "application/vnd.atconform.signature.v1+json"
ARTIFACT_TYPE_B = "application/vnd.atconform.sbom.v1+json"


@dataclass(frozen=True)
class Referrers:
    subject: Manifest
    artifacts: tuple[Manifest, ...]
    setup: tuple[Probe, ...]
    listing: Probe | None
    filtered: Probe | None  # ?artifactType=ARTIFACT_TYPE_A


def probe_referrers(client: RegistryClient, name: str) -> Referrers:
    subject = small_image("subject")
    arts = (artifact(subject, ARTIFACT_TYPE_A, b'{"sig":1}'),
            artifact(subject, ARTIFACT_TYPE_B, b'{"sbom":1}'))
    setup = list(push_image(client, name, subject, "subject"))
    for art in arts:
        if not ok(setup):
            break
        setup.extend(push_image(client, name, art))
    if not ok(setup):
        return Referrers(subject, arts, tuple(setup), None, None)
    listing = Probe(f"GET the referrers of {short(subject.digest)}",
                    client.referrers(name, subject.digest))
    filtered = Probe(f"GET the referrers with ?artifactType={ARTIFACT_TYPE_A}",
                     client.referrers(name, subject.digest, ARTIFACT_TYPE_A))
    return Referrers(subject, arts, tuple(setup), listing, filtered)


# --- error codes ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ErrorProbes:
    """Requests that must each be refused, and the pushes they depend on."""

    setup: tuple[Probe, ...]
    cases: tuple[Probe, ...]
    after: tuple[Probe, ...] = ()  # follow-up reads (e.g. nothing stored under a bad digest)


def probe_blob_unknown(client: RegistryClient, seed: Seed) -> ErrorProbes:
    digest = missing_digest()
    return ErrorProbes(seed.setup, (Probe(f"GET a blob nobody pushed ({short(digest)})",
                                          client.get_blob(seed.name, digest)),))


def probe_upload_invalid(client: RegistryClient, name: str) -> ErrorProbes:
    post = Probe(f"open an upload session in {name}", client.start_upload(name))
    location = location_of(post.response)
    if post.response.status_code != 202 or location is None:
        return ErrorProbes((post,), ())
    first = Probe("PATCH bytes 0-99", client.patch_chunk(location, b"a" * 100, "0-99"))
    if first.response.status_code != 202:
        cancel_quietly(client, post.response)
        return ErrorProbes((post, first), ())
    current = location_of(first.response) or location
    gap = Probe("PATCH bytes 500-599 (the current offset is 100)",
                client.patch_chunk(current, b"b" * 100, "500-599"))
    client.cancel_upload(location_of(gap.response) or current)
    return ErrorProbes((post, first), (gap,))


def probe_upload_unknown(client: RegistryClient, name: str) -> ErrorProbes:
    cancelled = probe_cancel_upload(client, name)
    setup = (cancelled.post,) + ((cancelled.cancel,) if cancelled.cancel else ())
    cases: tuple[Probe, ...] = (cancelled.after,) if cancelled.after is not None else ()
    if cancelled.cancel is not None and cancelled.after is not None:
        location = str(cancelled.after.response.request.url)
        cases += (Probe("PATCH a chunk into the cancelled session",
                        client.patch_chunk(location, b"late")),)
    return ErrorProbes(setup, cases)


def probe_digest_invalid(client: RegistryClient, name: str) -> ErrorProbes:
    data = random_bytes(LAYER_SIZE)
    claimed = sha256_digest(data + b"-not-these-bytes")
    setup: list[Probe] = []
    cases: list[Probe] = []
    after: list[Probe] = []
    for digest, label in ((claimed, f"the wrong digest {short(claimed)}"),
                          ("sha256:" + "z" * 64, "a malformed digest")):
        post = Probe(f"open an upload session in {name}", client.start_upload(name))
        setup.append(post)
        location = location_of(post.response)
        if post.response.status_code != 202 or location is None:
            break
        cases.append(Probe(f"PUT {len(data)} bytes with {label}",
                           client.finish_upload(location, digest, data)))
        cancel_quietly(client, post.response)
    if cases:
        after.append(Probe(f"HEAD the claimed digest {short(claimed)}",
                           client.head_blob(name, claimed)))
    return ErrorProbes(tuple(setup), tuple(cases), tuple(after))


def probe_manifest_blob_unknown(client: RegistryClient, name: str) -> ErrorProbes:
    manifest = small_image("missing-layer")
    config = manifest.blobs[0]
    setup = push_blob(client, name, config)  # the config is there, the layers are not
    if not ok(setup):
        return ErrorProbes(setup, ())
    return ErrorProbes(setup, (push_manifest(client, name, manifest, "missing-layers"),))


def probe_manifest_invalid(client: RegistryClient, name: str, seed: Seed) -> ErrorProbes:
    return ErrorProbes(seed.setup, (Probe(
        "PUT a manifest body that is not JSON",
        client.put_manifest(name, "broken", b"{this is not a manifest",
                            seed.manifest.media_type)),))


def probe_manifest_unknown(client: RegistryClient, seed: Seed) -> ErrorProbes:
    digest = missing_digest()
    return ErrorProbes(seed.setup, (
        Probe("GET a tag nobody pushed", client.get_manifest(seed.name, "no-such-tag-" +
                                                               secrets.token_hex(4))),
        Probe(f"GET a manifest digest nobody pushed ({short(digest)})",
              client.get_manifest(seed.name, digest)),
    ))


def probe_name_invalid(client: RegistryClient, namespace: str) -> ErrorProbes:
    name = f"{namespace}/Invalid-NAME-{secrets.token_hex(3)}"
    return ErrorProbes((), (
        Probe(f"GET the tag list of {name!r} (upper case is outside the name grammar)",
              client.tags(name)),
        Probe(f"POST an upload session in {name!r}", client.start_upload(name)),
    ))


def probe_name_unknown(client: RegistryClient, name: str) -> ErrorProbes:
    return ErrorProbes((), (Probe(f"GET the tag list of {name} (never pushed)",
                                  client.tags(name)),))


def probe_size_invalid(client: RegistryClient, name: str) -> ErrorProbes:
    manifest = small_image("size")
    setup = push_blobs(client, name, manifest.blobs)
    if not ok(setup):
        return ErrorProbes(setup, ())
    # The same blobs, but the first layer's descriptor claims one byte more than was stored.
    layer = manifest.blobs[1]
    doc = manifest.content.replace(f'"size":{layer.size}'.encode(),
                                   f'"size":{layer.size + 1}'.encode(), 1)
    bad_size = Manifest(doc, manifest.media_type)
    oversize = Manifest(b'{"schemaVersion":2,"padding":"' + b"x" * OVERSIZE_MANIFEST + b'"}',
                        manifest.media_type)
    return ErrorProbes(setup, (
        push_manifest(client, name, bad_size, "wrong-size"),
        Probe(f"PUT a {OVERSIZE_MANIFEST}-byte manifest",
              client.put_manifest(name, "oversize", oversize.content, oversize.media_type)),
    ))


def probe_unauthorized(anonymous: RegistryClient, name: str) -> ErrorProbes:
    """Requests sent with no credentials at all (a client without RegistryAuth)."""
    base = Probe("GET /v2/ without credentials", anonymous.base())
    post = Probe(f"POST an upload session in {name} without credentials",
                 anonymous.start_upload(name))
    cancel_quietly(anonymous, post.response)
    return ErrorProbes((), (base, post))


def probe_denied(client: RegistryClient, foreign_name: str) -> ErrorProbes:
    post = Probe(f"POST an upload session in {foreign_name} (another identity's namespace)",
                 client.start_upload(foreign_name))
    cancel_quietly(client, post.response)
    return ErrorProbes((), (post,))


def probe_unsupported(client: RegistryClient, name: str) -> ErrorProbes:
    """A blob DELETE (registries may disable it) and a method no OCI endpoint defines."""
    deletion = probe_blob_delete(client, name)
    undefined = Probe(
        "PATCH a manifest (an operation the API does not define)",
        client.request("PATCH", f"/v2/{name}/manifests/latest", content=b"{}",
                       headers={"Content-Type": "application/json"}),
    )
    cases = (deletion.delete, undefined) if deletion.delete else (undefined,)
    return ErrorProbes(deletion.setup, cases)


def probe_rate_limit(client: RegistryClient, name: str) -> ErrorProbes:
    """A short, bounded burst of cheap reads; stops at the first 429."""
    cases: list[Probe] = []
    for index in range(RATE_PROBE_REQUESTS):
        cases.append(Probe(f"GET the tag list of {name} (burst request {index + 1})",
                           client.tags(name)))
        if cases[-1].response.status_code == 429:
            break
    return ErrorProbes((), tuple(cases))
