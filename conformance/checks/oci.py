"""The OCI Distribution API (OCI-end-*, OCI-code-*): one small check per requirement.

Each check takes what a ``conformance.scenarios.oci`` probe returned and answers
``Failure | None``. A refused prerequisite (the pushes a probe depends on) is reported as such,
since the behaviour under test could not be observed. Where the spec lets a registry validly
lack an optional feature, a check returns an :class:`Unsupported` verdict instead, which the
suite turns into a ``skip``. Messages quote statuses, digests (shortened), error codes and probe
descriptions — never tokens.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import httpx

from conformance.checks.base import Failure
from conformance.clients.oci import OCI_INDEX, location_of
from conformance.scenarios.base import Probe, is_success, json_body
from conformance.scenarios.oci import (
    ARTIFACT_TYPE_A,
    PAGE_SIZE,
    BlobReads,
    CancelledUpload,
    ChunkedUpload,
    ClosedUpload,
    Deletion,
    ErrorProbes,
    ManifestPush,
    ManifestReads,
    MonolithicUpload,
    Mount,
    Referrers,
    SinglePostUpload,
    TagListing,
    TagParamPush,
    UploadStatus,
    short,
)

_HASHES = {"sha256": hashlib.sha256, "sha384": hashlib.sha384, "sha512": hashlib.sha512}
_RANGE = re.compile(r"^(?:bytes=)?(\d+)-(\d+)$")
_CONTENT_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+|\*)$")


@dataclass(frozen=True)
class Unsupported:
    """The registry validly lacks an optional feature; the suite skips with ``reason``."""

    requirement: str
    reason: str


Verdict = Failure | Unsupported | None


# --- shared helpers -------------------------------------------------------------------------


def describe(response: httpx.Response) -> str:
    """Status, OCI error codes and content type, in one secret-free line."""
    parts = [str(response.status_code)]
    codes = error_codes(response)
    if codes:
        parts.append("codes " + ",".join(codes))
    content_type = response.headers.get("content-type")
    parts.append(f"content-type {content_type}" if content_type else "no content-type")
    return f"{parts[0]} ({'; '.join(parts[1:])})"


def error_codes(response: httpx.Response) -> tuple[str, ...] | None:
    """The ``code`` of every entry of an OCI error body, or None when the body is not one."""
    body = json_body(response)
    if not isinstance(body, dict) or not isinstance(body.get("errors"), list):
        return None
    codes: list[str] = []
    for entry in body["errors"]:
        if not isinstance(entry, dict) or not isinstance(entry.get("code"), str):
            return None
        codes.append(entry["code"])
    return tuple(codes) if codes else None


def digest_of(data: bytes, digest: str) -> bool:
    """Whether ``digest`` (any algorithm this module knows) is a digest of ``data``."""
    algorithm, _, hex_value = digest.partition(":")
    hasher = _HASHES.get(algorithm)
    return hasher is not None and hasher(data).hexdigest() == hex_value


def setup_failure(requirement: str, setup: Iterable[Probe]) -> Failure | None:
    """A Failure when a push the probe depends on was refused."""
    for probe in setup:
        if not is_success(probe.response):
            return Failure(
                requirement,
                "a push the check depends on was refused",
                f"{probe.case}: expected 2xx, got {describe(probe.response)}",
                (probe.response,),
            )
    return None


def _fail(requirement: str, title: str, probe: Probe, expected: str) -> Failure:
    return Failure(requirement, title,
                   f"{probe.case}: expected {expected}, got {describe(probe.response)}",
                   (probe.response,))


def digest_header_problem(response: httpx.Response, data: bytes) -> str | None:
    """Why a present ``Docker-Content-Digest`` is not a digest of ``data`` (None when fine or
    absent: the header is a SHOULD)."""
    header = response.headers.get("docker-content-digest")
    if header is None or digest_of(data, header.strip()):
        return None
    return f"Docker-Content-Digest {short(header)} is not a digest of the content"


def check_blob_digest_header(
    requirement: str, probe: Probe, data: bytes
) -> Failure | None:
    problem = digest_header_problem(probe.response, data)
    if problem is None:
        return None
    return Failure(requirement, "wrong Docker-Content-Digest", f"{probe.case}: {problem}",
                   (probe.response,))


def _location_problem(probe: Probe) -> str | None:
    if location_of(probe.response) is None:
        return f"{probe.case}: no Location header"
    return None


# --- OCI-end-1 ------------------------------------------------------------------------------


def check_base(probe: Probe) -> Failure | None:
    """OCI-end-1: GET /v2/ ends in 200 once any challenge is answered."""
    response = probe.response
    if response.status_code == 200:
        return None
    if response.status_code == 401:
        challenge = response.headers.get("www-authenticate")
        why = ("without a WWW-Authenticate challenge" if not challenge
               else "even after answering its challenge")
        return Failure("OCI-end-1", "GET /v2/ stays unauthorized",
                       f"{probe.case}: 401 {why} ({describe(response)})", (response,))
    return _fail("OCI-end-1", "GET /v2/ does not answer 200", probe, "200")


# --- OCI-end-2 ------------------------------------------------------------------------------


def check_blob_head(reads: BlobReads) -> Failure | None:
    probe, blob = reads.head, reads.blob
    if probe.response.status_code != 200:
        return _fail("OCI-end-2", "HEAD of a stored blob is not 200", probe, "200")
    length = probe.response.headers.get("content-length")
    if length is None or length.strip() != str(blob.size):
        return Failure("OCI-end-2", "blob HEAD has a wrong Content-Length",
                       f"{probe.case}: Content-Length {length!r}, expected {blob.size}",
                       (probe.response,))
    return check_blob_digest_header("OCI-end-2", probe, blob.data)


def check_blob_get(reads: BlobReads) -> Failure | None:
    probe, blob = reads.get, reads.blob
    if probe.response.status_code != 200:
        return _fail("OCI-end-2", "GET of a stored blob is not 200", probe, "200")
    if probe.response.content != blob.data:
        return Failure("OCI-end-2", "GET of a blob returned other bytes",
                       f"{probe.case}: {len(probe.response.content)} bytes that are not the "
                       f"{blob.size} bytes pushed", (probe.response,))
    return check_blob_digest_header("OCI-end-2", probe, blob.data)


def check_blob_range(reads: BlobReads) -> Failure | None:
    """206 with exactly the asked bytes; a 200 with the whole blob is allowed (no Range
    support: the suite records a note, see :func:`range_supported`)."""
    probe, blob = reads.ranged, reads.blob
    response = probe.response
    first, last = reads.range
    if response.status_code == 200:
        if response.content != blob.data:
            return Failure("OCI-end-2", "a Range request returned wrong bytes",
                           f"{probe.case}: 200 without the whole blob", (response,))
        return None
    if response.status_code != 206:
        return _fail("OCI-end-2", "a Range request was not answered with 206 or 200", probe,
                     "206 Partial Content (or 200 with the whole blob)")
    if response.content != blob.data[first:last + 1]:
        return Failure("OCI-end-2", "a Range request returned wrong bytes",
                       f"{probe.case}: 206 with {len(response.content)} bytes that are not bytes "
                       f"{first}-{last} of the blob", (response,))
    content_range = response.headers.get("content-range", "")
    match = _CONTENT_RANGE.match(content_range.strip())
    if match is None or (int(match.group(1)), int(match.group(2))) != (first, last):
        return Failure("OCI-end-2", "a 206 answer has a wrong Content-Range",
                       f"{probe.case}: Content-Range {content_range!r}, expected "
                       f"'bytes {first}-{last}/{blob.size}'", (response,))
    return None


def range_supported(reads: BlobReads) -> bool:
    return reads.ranged.response.status_code == 206


def check_blob_reads(reads: BlobReads) -> Failure | None:
    """OCI-end-2."""
    return (setup_failure("OCI-end-2", reads.setup) or check_blob_head(reads)
            or check_blob_get(reads) or check_blob_range(reads))


# --- OCI-end-3 ------------------------------------------------------------------------------


def check_manifest_reads(reads: ManifestReads) -> Failure | None:
    """OCI-end-3: 200 by tag and digest (also untagged), the pushed bytes, the media type."""
    if (failure := setup_failure("OCI-end-3", reads.setup)) is not None:
        return failure
    for read in reads.reads:
        probe, manifest = read.probe, read.manifest
        response = probe.response
        if response.status_code != 200:
            return _fail("OCI-end-3", "a pushed manifest could not be pulled", probe, "200")
        problems: list[str] = []
        content_type = response.headers.get("content-type", "").split(";")[0].strip()
        if content_type != manifest.media_type:
            problems.append(f"Content-Type {content_type!r}, expected {manifest.media_type}")
        header = response.headers.get("docker-content-digest")
        if header is not None and header.strip() != manifest.digest:
            problems.append(f"Docker-Content-Digest {short(header)}, expected "
                            f"{short(manifest.digest)}")
        if read.head:
            length = response.headers.get("content-length")
            if length is not None and length.strip() != str(manifest.size):
                problems.append(f"Content-Length {length}, expected {manifest.size}")
        elif response.content != manifest.content:
            problems.append("the body is not the manifest bytes pushed")
        if problems:
            return Failure("OCI-end-3", "a manifest pull differs from what was pushed",
                           f"{probe.case}: " + "; ".join(problems), (response,))
    return None


# --- OCI-end-4a/4b/4c -----------------------------------------------------------------------


def check_session_opened(probe: Probe, requirement: str = "OCI-end-4a") -> Failure | None:
    """POST …/uploads/ → 202 with a Location."""
    if probe.response.status_code != 202:
        return _fail(requirement, "opening an upload session is not 202 Accepted", probe, "202")
    problem = _location_problem(probe)
    if problem is not None:
        return Failure(requirement, "an upload session has no Location", problem,
                       (probe.response,))
    return None


def check_blob_created(
    requirement: str, probe: Probe, data: bytes
) -> Failure | None:
    """An upload's final answer: 201 Created with a Location and, if present, the right digest."""
    if probe.response.status_code != 201:
        return _fail(requirement, "finishing an upload is not 201 Created", probe, "201")
    problem = _location_problem(probe)
    if problem is not None:
        return Failure(requirement, "a created blob has no Location", problem, (probe.response,))
    return check_blob_digest_header(requirement, probe, data)


def _retrievable(requirement: str, probe: Probe | None, what: str) -> Failure | None:
    if probe is None or probe.response.status_code == 200:
        return None
    return _fail(requirement, f"{what} is not retrievable", probe, "200")


def check_sha512_upload(upload: MonolithicUpload) -> Failure | None:
    """sha512: accepted (201, then HEAD 200) or refused with a 4xx OCI error — never a 5xx."""
    if upload.sha512_put is None:
        return None
    response = upload.sha512_put.response
    if response.status_code == 201:
        return _retrievable("OCI-end-4b", upload.sha512_head, "a blob uploaded by sha512 digest")
    if 400 <= response.status_code < 500 and error_codes(response) is not None:
        return None
    return _fail("OCI-end-4b", "a sha512 digest was not handled cleanly", upload.sha512_put,
                 "201, or a 4xx with an OCI error body")


def check_monolithic_upload(upload: MonolithicUpload) -> Failure | None:
    """OCI-end-4b."""
    if (failure := check_session_opened(upload.post, "OCI-end-4b")) is not None:
        return failure
    if upload.put is None:
        return None  # unreachable: a 202 with a Location always gets its PUT
    return (check_blob_created("OCI-end-4b", upload.put, upload.blob.data)
            or _retrievable("OCI-end-4b", upload.head, "the uploaded blob")
            or check_sha512_upload(upload))


def check_single_post(upload: SinglePostUpload) -> Verdict:
    """OCI-end-4c: 201, or 202 (the registry ignores the single-POST form: unsupported)."""
    response = upload.post.response
    if response.status_code == 202:
        return Unsupported("OCI-end-4c", "the registry answers POST ?digest= with an upload "
                           "session (202) instead of storing the blob")
    return (check_blob_created("OCI-end-4c", upload.post, upload.blob.data)
            or _retrievable("OCI-end-4c", upload.head, "the uploaded blob"))


# --- OCI-end-5 / 6 / 13 / 14 ----------------------------------------------------------------


def _range_end(response: httpx.Response) -> int | None:
    match = _RANGE.match(response.headers.get("range", "").strip())
    return int(match.group(2)) if match else None


def check_chunks(upload: ChunkedUpload) -> Failure | None:
    """Each chunk: 202, a Location, and a Range ending at the last byte received."""
    for probe, end in zip(upload.chunks, upload.ends, strict=True):
        if probe.response.status_code != 202:
            return _fail("OCI-end-5", "an upload chunk was refused", probe, "202")
        if (problem := _location_problem(probe)) is not None:
            return Failure("OCI-end-5", "a chunk answer has no Location", problem,
                           (probe.response,))
        got = _range_end(probe.response)
        if got != end:
            return Failure("OCI-end-5", "the Range header does not track the bytes received",
                           f"{probe.case}: Range {probe.response.headers.get('range')!r}, "
                           f"expected '0-{end}'", (probe.response,))
    return None


def check_out_of_order(upload: ChunkedUpload) -> Failure | None:
    probe = upload.out_of_order
    if probe is None or probe.response.status_code == 416:
        return None
    return _fail("OCI-end-5", "an out-of-order chunk was not refused with 416", probe,
                 "416 Requested Range Not Satisfiable")


def check_chunked_upload(ranged: ChunkedUpload, streamed: ChunkedUpload) -> Failure | None:
    """OCI-end-5: ranged chunks, the out-of-order refusal, and streamed chunks, each upload
    finished and read back."""
    for upload in (ranged, streamed):
        if (failure := check_session_opened(upload.post, "OCI-end-5")) is not None:
            return failure
        if (failure := check_chunks(upload)) is not None:
            return failure
        if (failure := check_out_of_order(upload)) is not None:
            return failure
        if upload.finish is not None:
            failure = check_blob_created("OCI-end-5", upload.finish, upload.blob.data)
            if failure is not None:
                return failure
        if upload.get is not None and upload.get.response.content != upload.blob.data:
            return Failure("OCI-end-5", "the assembled blob is not the chunks in order",
                           f"{upload.get.case}: {describe(upload.get.response)}, "
                           f"{len(upload.get.response.content)} bytes", (upload.get.response,))
    return None


def check_close_upload(upload: ClosedUpload) -> Failure | None:
    """OCI-end-6: PUT closes the session: 201, the blob readable, the session gone."""
    if (failure := check_session_opened(upload.setup[0], "OCI-end-6")) is not None:
        return failure
    if (failure := setup_failure("OCI-end-6", upload.setup[1:])) is not None:
        return failure
    if upload.finish is None:
        return None
    if (failure := check_blob_created("OCI-end-6", upload.finish, upload.blob.data)) is not None:
        return failure
    if upload.get is not None and (upload.get.response.status_code != 200
                                   or upload.get.response.content != upload.blob.data):
        return _fail("OCI-end-6", "the blob of a closed upload is not retrievable", upload.get,
                     f"200 with the {upload.blob.size} bytes uploaded")
    status = upload.status_after
    if status is not None and is_success(status.response):
        return _fail("OCI-end-6", "the upload session is still open after the closing PUT",
                     status, "4xx (the session is gone)")
    return None


def check_upload_status(status: UploadStatus) -> Failure | None:
    """OCI-end-13: 204 with a Location and Range 0-<last byte received>."""
    if (failure := setup_failure("OCI-end-13", status.setup)) is not None:
        return failure
    probe = status.status
    if probe is None:
        return None
    if probe.response.status_code != 204:
        return _fail("OCI-end-13", "upload status is not 204 No Content", probe, "204")
    if (problem := _location_problem(probe)) is not None:
        return Failure("OCI-end-13", "upload status has no Location", problem, (probe.response,))
    if _range_end(probe.response) != status.sent - 1:
        return Failure("OCI-end-13", "upload status has a wrong Range",
                       f"{probe.case}: Range {probe.response.headers.get('range')!r}, "
                       f"expected '0-{status.sent - 1}'", (probe.response,))
    return None


def check_cancel_upload(cancelled: CancelledUpload) -> Failure | None:
    """OCI-end-14: DELETE → 204/202, then the session is BLOB_UPLOAD_UNKNOWN."""
    if (failure := check_session_opened(cancelled.post, "OCI-end-14")) is not None:
        return failure
    if cancelled.cancel is None or cancelled.after is None:
        return None
    if cancelled.cancel.response.status_code not in (202, 204):
        return _fail("OCI-end-14", "cancelling an upload was refused", cancelled.cancel,
                     "204 No Content (or 202)")
    return check_error_code("OCI-end-14", cancelled.after, (404,), "BLOB_UPLOAD_UNKNOWN")


# --- OCI-end-7a/7b --------------------------------------------------------------------------


def check_manifest_created(requirement: str, push: ManifestPush) -> Failure | None:
    """OCI-end-7a (by tag) / 7b (by digest): 201 with a Location (and the right digest)."""
    if (failure := setup_failure(requirement, push.setup)) is not None:
        return failure
    probe = push.put
    if probe is None:
        return None
    if probe.response.status_code != 201:
        return _fail(requirement, "a manifest PUT is not 201 Created", probe, "201")
    if (problem := _location_problem(probe)) is not None:
        return Failure(requirement, "a created manifest has no Location", problem,
                       (probe.response,))
    header = probe.response.headers.get("docker-content-digest")
    if header is not None and header.strip() != push.manifest.digest:
        return Failure(requirement, "wrong Docker-Content-Digest on a manifest PUT",
                       f"{probe.case}: {short(header)}, expected {short(push.manifest.digest)}",
                       (probe.response,))
    return None


def check_tag_params(push: TagParamPush) -> Verdict:
    """OCI-end-7b, ?tag=: honoured (every tag pulls the manifest) or ignored (unsupported)."""
    if (failure := setup_failure("OCI-end-7b", push.setup)) is not None:
        return failure
    if push.put is None:
        return None
    if push.put.response.status_code != 201:
        return _fail("OCI-end-7b", "a manifest PUT with ?tag= parameters is not 201", push.put,
                     "201")
    served = [p for p in push.reads if p.response.status_code == 200]
    announced = push.put.response.headers.get_list("oci-tag")
    if not served and not announced:
        return Unsupported("OCI-end-7b", "the registry ignores ?tag= on a manifest PUT by digest")
    for probe in push.reads:
        if probe.response.status_code != 200 or probe.response.content != push.manifest.content:
            return _fail("OCI-end-7b", "a tag given with ?tag= does not pull the manifest",
                         probe, "200 with the manifest pushed")
    return None


# --- OCI-end-8a/8b --------------------------------------------------------------------------


def _tags_of(probe: Probe) -> list[str] | None:
    body = json_body(probe.response)
    if probe.response.status_code != 200 or not isinstance(body, dict):
        return None
    tags = body.get("tags")
    if tags is None:
        return []
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        return None
    return tags


def check_tag_list(listing: TagListing) -> Failure | None:
    """OCI-end-8a: 200 {name, tags} naming the repository and every tag pushed."""
    if (failure := setup_failure("OCI-end-8a", listing.setup)) is not None:
        return failure
    probe = listing.full
    if probe is None:
        return None
    tags = _tags_of(probe)
    if tags is None:
        return _fail("OCI-end-8a", "the tag list is not a JSON {name, tags} answer", probe,
                     "200 with {\"name\", \"tags\": [...]}")
    body = json_body(probe.response)
    problems = []
    if body.get("name") != listing.name:
        problems.append(f"name {body.get('name')!r}, expected {listing.name!r}")
    missing = sorted(set(listing.tags) - set(tags))
    if missing:
        problems.append(f"tags missing: {', '.join(missing)}")
    if problems:
        return Failure("OCI-end-8a", "the tag list is wrong", f"{probe.case}: "
                       + "; ".join(problems), (probe.response,))
    return None


def check_tag_pagination(listing: TagListing) -> Failure | None:
    """OCI-end-8b: n bounds each page, lexical order, Link rel="next", ?last= continues."""
    if (failure := setup_failure("OCI-end-8b", listing.setup)) is not None:
        return failure
    ordered = sorted(listing.tags)
    seen: list[str] = []
    for index, probe in enumerate(listing.pages):
        tags = _tags_of(probe)
        if tags is None:
            return _fail("OCI-end-8b", "a tag list page is not a JSON tag list", probe,
                         "200 with {\"name\", \"tags\": [...]}")
        if len(tags) > PAGE_SIZE:
            return Failure("OCI-end-8b", "the tag list ignores n",
                           f"{probe.case}: {len(tags)} tags for n={PAGE_SIZE}", (probe.response,))
        if tags != sorted(tags):
            return Failure("OCI-end-8b", "tags are not in lexical order",
                           f"{probe.case}: {tags}", (probe.response,))
        seen.extend(tags)
        remaining = len(ordered) - len(seen)
        if remaining > 0 and index == len(listing.pages) - 1:
            return Failure("OCI-end-8b", "a full page has no Link rel=\"next\" header",
                           f"{probe.case}: {len(seen)} of {len(ordered)} tags listed and no "
                           "Link header to the rest", (probe.response,))
    if seen and seen != ordered:
        return Failure("OCI-end-8b", "the pages do not list every tag once in order",
                       f"pages gave {seen}, expected {ordered}",
                       tuple(p.response for p in listing.pages))
    after_last = listing.after_last
    if after_last is not None:
        tags = _tags_of(after_last)
        expected = ordered[2:2 + PAGE_SIZE]
        if tags != expected:
            return Failure("OCI-end-8b", "?last= does not continue after the given tag",
                           f"{after_last.case}: tags {tags}, expected {expected}",
                           (after_last.response,))
    return None


# --- OCI-end-9/10 ---------------------------------------------------------------------------


def _refused_as_unsupported(response: httpx.Response) -> bool:
    """400/405 with UNSUPPORTED (or 405 alone): the registry does not allow this deletion."""
    codes = error_codes(response) or ()
    return response.status_code == 405 or (response.status_code == 400
                                           and "UNSUPPORTED" in codes)


def check_deletion(requirement: str, deletion: Deletion, what: str) -> Verdict:
    """OCI-end-9 (manifest) / 10 (blob): 202 then 404; 400/405 UNSUPPORTED → unsupported."""
    if (failure := setup_failure(requirement, deletion.setup)) is not None:
        return failure
    probe = deletion.delete
    if probe is None:
        return None
    if _refused_as_unsupported(probe.response):
        return Unsupported(requirement, f"the registry does not allow {what} deletion "
                           f"({describe(probe.response)})")
    if probe.response.status_code != 202:
        return _fail(requirement, f"{what} DELETE is not 202 Accepted", probe,
                     "202 (or 400/405 UNSUPPORTED)")
    after = deletion.after
    # Only the 404 is required: which code comes with it (MANIFEST_UNKNOWN, or NAME_UNKNOWN
    # once the repository is empty, as ATCR answers) is the error-code checks' business.
    if after is not None and after.response.status_code != 404:
        return _fail(requirement, f"a deleted {what} is still served", after, "404")
    return None


# --- OCI-end-11 -----------------------------------------------------------------------------


def check_mount(mount: Mount) -> Failure | None:
    """OCI-end-11: 201 (blob now in the target repository) or a 202 fallback session."""
    if (failure := setup_failure("OCI-end-11", mount.setup)) is not None:
        return failure
    probe = mount.mount
    if probe is None:
        return None
    if probe.response.status_code == 202:
        return check_session_opened(probe, "OCI-end-11")
    failure = check_blob_created("OCI-end-11", probe, mount.blob.data)
    if failure is not None:
        failure = Failure(failure.requirement, "a mount is neither 201 nor a 202 session",
                          failure.message, failure.responses)
    return failure or _retrievable("OCI-end-11", mount.head, "the mounted blob")


# --- OCI-end-12a/12b ------------------------------------------------------------------------


def _referrer_descriptors(response: httpx.Response) -> list[dict[str, object]] | None:
    body = json_body(response)
    if not isinstance(body, dict) or not isinstance(body.get("manifests"), list):
        return None
    return [d for d in body["manifests"] if isinstance(d, dict)]


def check_referrers(refs: Referrers) -> Verdict:
    """OCI-end-12a: 200 image index listing each artifact with its artifactType; 404 →
    unsupported."""
    if (failure := setup_failure("OCI-end-12a", refs.setup)) is not None:
        return failure
    probe = refs.listing
    if probe is None:
        return None
    if probe.response.status_code == 404:
        return Unsupported("OCI-end-12a", "the registry does not implement the referrers API "
                           "(404)")
    descriptors = _referrer_descriptors(probe.response)
    if probe.response.status_code != 200 or descriptors is None:
        return _fail("OCI-end-12a", "the referrers answer is not an image index", probe,
                     "200 with an image index")
    content_type = probe.response.headers.get("content-type", "").split(";")[0].strip()
    if content_type != OCI_INDEX:
        return Failure("OCI-end-12a", "the referrers answer has the wrong Content-Type",
                       f"{probe.case}: {content_type!r}, expected {OCI_INDEX}",
                       (probe.response,))
    by_digest = {d.get("digest"): d for d in descriptors}
    for art in refs.artifacts:
        found = by_digest.get(art.digest)
        if found is None:
            return Failure("OCI-end-12a", "a referrer is missing from the referrers list",
                           f"{probe.case}: {short(art.digest)} is not listed", (probe.response,))
        if found.get("artifactType") != art.artifact_type:
            return Failure("OCI-end-12a", "a referrer is listed without its artifactType",
                           f"{probe.case}: {short(art.digest)} has artifactType "
                           f"{found.get('artifactType')!r}, expected {art.artifact_type}",
                           (probe.response,))
    return None


def check_referrers_filter(refs: Referrers) -> Verdict:
    """OCI-end-12b: with OCI-Filters-Applied: artifactType only that type is listed; without
    the header the filter was not applied (unsupported)."""
    if (failure := setup_failure("OCI-end-12b", refs.setup)) is not None:
        return failure
    probe = refs.filtered
    if probe is None:
        return None
    if probe.response.status_code == 404:
        return Unsupported("OCI-end-12b", "the registry does not implement the referrers API "
                           "(404)")
    descriptors = _referrer_descriptors(probe.response)
    if probe.response.status_code != 200 or descriptors is None:
        return _fail("OCI-end-12b", "the filtered referrers answer is not an image index",
                     probe, "200 with an image index")
    applied = {v.strip() for v in
               probe.response.headers.get("oci-filters-applied", "").split(",") if v.strip()}
    types = {d.get("artifactType") for d in descriptors}
    if "artifactType" not in applied:
        if types <= {ARTIFACT_TYPE_A}:
            return Failure("OCI-end-12b", "a filtered referrers list lacks OCI-Filters-Applied",
                           f"{probe.case}: only {ARTIFACT_TYPE_A} is listed but the answer has "
                           "no 'OCI-Filters-Applied: artifactType' header", (probe.response,))
        return Unsupported("OCI-end-12b", "the registry does not apply the artifactType filter "
                           "(no OCI-Filters-Applied header; clients filter themselves)")
    if types != {ARTIFACT_TYPE_A}:
        return Failure("OCI-end-12b", "the artifactType filter lets other types through",
                       f"{probe.case}: artifact types {sorted(str(t) for t in types)}, "
                       f"expected only {ARTIFACT_TYPE_A}", (probe.response,))
    return None


# --- error codes ----------------------------------------------------------------------------


def check_error_code(
    requirement: str, probe: Probe, statuses: Sequence[int], code: str
) -> Failure | None:
    """``probe`` was answered with one of ``statuses`` and an OCI error body holding ``code``."""
    response = probe.response
    expected = f"{'/'.join(str(s) for s in statuses)} with the error code {code}"
    if response.status_code not in statuses:
        return _fail(requirement, f"not refused with {code}", probe, expected)
    codes = error_codes(response)
    if codes is None:
        return Failure(requirement, "the error body is not an OCI error body",
                       f"{probe.case}: {describe(response)}; expected a JSON body "
                       f'{{"errors": [{{"code": "{code}", ...}}]}}', (response,))
    if code not in codes:
        return Failure(requirement, f"wrong error code (expected {code})",
                       f"{probe.case}: codes {', '.join(codes)}, expected {code}", (response,))
    return None


def check_errors(
    requirement: str, probes: ErrorProbes, statuses: Sequence[int], code: str
) -> Failure | None:
    """Every case is refused with ``code``; the setup first."""
    if (failure := setup_failure(requirement, probes.setup)) is not None:
        return failure
    if not probes.cases:
        return Failure(requirement, "the error could not be provoked",
                       "no request could be sent (see the setup exchanges)", ())
    for probe in probes.cases:
        if (failure := check_error_code(requirement, probe, statuses, code)) is not None:
            return failure
    return None


def check_blob_unknown(probes: ErrorProbes) -> Failure | None:
    """OCI-code-1."""
    return check_errors("OCI-code-1", probes, (404,), "BLOB_UNKNOWN")


def check_upload_invalid(probes: ErrorProbes) -> Verdict:
    """OCI-code-2: the refused chunk carries BLOB_UPLOAD_INVALID. The spec fixes only the 416
    status for this case, so another code (or an accepted chunk, which OCI-end-5 fails) is a
    skip with a note, never a pass."""
    if (failure := setup_failure("OCI-code-2", probes.setup)) is not None:
        return failure
    for probe in probes.cases:
        response = probe.response
        if is_success(response):
            return Unsupported("OCI-code-2", "the registry accepted a chunk past the current "
                               "offset (OCI-end-5 reports that), so it never answered "
                               "BLOB_UPLOAD_INVALID")
        if response.status_code >= 500:
            return _fail("OCI-code-2", "a bad chunk caused a server error", probe,
                         "416/400 BLOB_UPLOAD_INVALID")
        codes = error_codes(response)
        if codes is None:
            return Failure("OCI-code-2", "the error body is not an OCI error body",
                           f"{probe.case}: {describe(response)}", (response,))
        if "BLOB_UPLOAD_INVALID" not in codes:
            return Unsupported("OCI-code-2", f"the registry reports an out-of-order chunk as "
                               f"{', '.join(codes)} ({response.status_code})")
        if response.status_code not in (400, 416):
            return _fail("OCI-code-2", "BLOB_UPLOAD_INVALID with an unexpected status", probe,
                         "416 or 400")
    return None


def check_upload_unknown(probes: ErrorProbes) -> Failure | None:
    """OCI-code-3."""
    return check_errors("OCI-code-3", probes, (404,), "BLOB_UPLOAD_UNKNOWN")


def check_digest_invalid(probes: ErrorProbes) -> Failure | None:
    """OCI-code-4: DIGEST_INVALID, and nothing stored under the claimed digest."""
    if (failure := check_errors("OCI-code-4", probes, (400,), "DIGEST_INVALID")) is not None:
        return failure
    for probe in probes.after:
        if probe.response.status_code != 404:
            return _fail("OCI-code-4", "a blob was stored under a digest it does not match",
                         probe, "404 (nothing stored)")
    return None


def check_manifest_blob_unknown(probes: ErrorProbes) -> Failure | None:
    """OCI-code-5."""
    return check_errors("OCI-code-5", probes, (400, 404), "MANIFEST_BLOB_UNKNOWN")


def check_manifest_invalid(probes: ErrorProbes) -> Failure | None:
    """OCI-code-6."""
    return check_errors("OCI-code-6", probes, (400,), "MANIFEST_INVALID")


def check_manifest_unknown(probes: ErrorProbes) -> Failure | None:
    """OCI-code-7."""
    return check_errors("OCI-code-7", probes, (404,), "MANIFEST_UNKNOWN")


def check_name_invalid(probes: ErrorProbes) -> Verdict:
    """OCI-code-8: 400 NAME_INVALID; a plain (non-JSON) 404 from a router that never matches
    such names is allowed by the spec (4xx bodies need not be JSON): unsupported."""
    for probe in probes.cases:
        response = probe.response
        if response.status_code == 404 and json_body(response) is None:
            return Unsupported("OCI-code-8", "the registry does not route names outside the "
                               "grammar (plain 404 without an OCI error body)")
        if (failure := check_error_code("OCI-code-8", probe, (400, 404), "NAME_INVALID")):
            return failure
    return None


def check_name_unknown(probes: ErrorProbes) -> Failure | None:
    """OCI-code-9."""
    return check_errors("OCI-code-9", probes, (404,), "NAME_UNKNOWN")


def check_size_invalid(probes: ErrorProbes) -> Verdict:
    """OCI-code-10: SIZE_INVALID when a size is refused; never a 5xx; other clean answers are
    a skip with a note (the spec leaves the code for these cases open)."""
    if (failure := setup_failure("OCI-code-10", probes.setup)) is not None:
        return failure
    # Every probe is judged for server errors and malformed bodies before any SIZE_INVALID
    # counts: one clean refusal does not excuse a crash on the other.
    for probe in probes.cases:
        response = probe.response
        if response.status_code >= 500:
            return _fail("OCI-code-10", "a size problem caused a server error", probe,
                         "a 4xx with SIZE_INVALID")
        if 400 <= response.status_code < 500 and error_codes(response) is None \
                and json_body(response) is not None:
            return Failure("OCI-code-10", "the error body is not an OCI error body",
                           f"{probe.case}: {describe(response)}", (response,))
    seen: list[str] = []
    for probe in probes.cases:
        response = probe.response
        if "SIZE_INVALID" in (error_codes(response) or ()):
            if 400 <= response.status_code < 500:
                return None
            return _fail("OCI-code-10", "SIZE_INVALID with a non-4xx status", probe, "4xx")
        seen.append(f"{probe.case}: {describe(response)}")
    return Unsupported("OCI-code-10", "no SIZE_INVALID observed: " + "; ".join(seen))


def check_unauthorized(probes: ErrorProbes) -> Verdict:
    """OCI-code-11: each 401 carries a challenge and UNAUTHORIZED; no 401 → unsupported."""
    refused = [p for p in probes.cases if p.response.status_code == 401]
    if not refused:
        return Unsupported("OCI-code-11", "the registry needs no authentication")
    for probe in refused:
        if not probe.response.headers.get("www-authenticate"):
            return Failure("OCI-code-11", "a 401 has no WWW-Authenticate challenge",
                           f"{probe.case}: {describe(probe.response)}", (probe.response,))
        if (failure := check_error_code("OCI-code-11", probe, (401,), "UNAUTHORIZED")):
            return failure
    return None


def check_denied(probes: ErrorProbes) -> Failure | None:
    """OCI-code-12."""
    return check_errors("OCI-code-12", probes, (401, 403), "DENIED")


def check_unsupported(probes: ErrorProbes) -> Verdict:
    """OCI-code-13: a refused operation carries UNSUPPORTED; all supported → unsupported."""
    if (failure := setup_failure("OCI-code-13", probes.setup)) is not None:
        return failure
    refused = [p for p in probes.cases if not is_success(p.response)]
    if not refused:
        return Unsupported("OCI-code-13", "every probed operation is supported")
    for probe in refused:
        if error_codes(probe.response) is None and probe.response.status_code in (400, 404, 405):
            continue  # a 4xx body MAY be in any format; only a JSON one must name the code
        if (failure := check_error_code("OCI-code-13", probe, (400, 404, 405), "UNSUPPORTED")):
            return failure
    return None


def check_rate_limited(probes: ErrorProbes) -> Verdict:
    """OCI-code-14: a 429 carries TOOMANYREQUESTS; no 429 in the burst → unsupported."""
    limited = [p for p in probes.cases if p.response.status_code == 429]
    if not limited:
        return Unsupported("OCI-code-14", f"no rate limit hit within {len(probes.cases)} "
                           "requests (the suite does not hammer registries)")
    return check_error_code("OCI-code-14", limited[0], (429,), "TOOMANYREQUESTS")
