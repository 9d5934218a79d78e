"""A tiny in-memory OCI registry (Starlette), correct by default and broken on request.

``FakeRegistry(faults)`` implements just enough of OCI Distribution v1.1 for the OCI checks:
uploads (monolithic, single POST, chunked with Content-Range, streamed), mounts, manifests by tag
and digest with ``?tag=``, tag lists with ``n``/``last``/``Link``, deletes, referrers with the
artifactType filter, and the spec's error bodies. Each fault name breaks one behaviour so the
project's tests can show every check failing. Modes (``bearer``, ``deny-foreign``,
``no-blob-delete``, ``rate-limit``) switch on optional behaviours. It is not the reference
implementation and shares no code with it.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from conformance.localserver import serve_in_thread

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
NAME = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*"
MANIFEST_LIMIT = 4 * 1024 * 1024
TOKEN = "fake-registry-token"
RATE_LIMIT = 5
STATUS = {"BLOB_UNKNOWN": 404, "BLOB_UPLOAD_INVALID": 400, "BLOB_UPLOAD_UNKNOWN": 404,
          "DIGEST_INVALID": 400, "MANIFEST_BLOB_UNKNOWN": 400, "MANIFEST_INVALID": 400,
          "MANIFEST_UNKNOWN": 404, "NAME_INVALID": 400, "NAME_UNKNOWN": 404, "SIZE_INVALID": 400,
          "UNAUTHORIZED": 401, "DENIED": 403, "UNSUPPORTED": 405, "TOOMANYREQUESTS": 429}


def digest_of(data: bytes, algorithm: str = "sha256") -> str:
    return f"{algorithm}:{hashlib.new(algorithm, data).hexdigest()}"


@dataclass
class Upload:
    repo: str
    data: bytearray = field(default_factory=bytearray)


@dataclass
class FakeRegistry:
    faults: frozenset[str] = frozenset()
    blobs: dict[tuple[str, str], bytes] = field(default_factory=dict)
    uploads: dict[str, Upload] = field(default_factory=dict)
    manifests: dict[tuple[str, str], tuple[bytes, str]] = field(default_factory=dict)
    tags: dict[tuple[str, str], str] = field(default_factory=dict)
    requests: int = 0

    def reset(self, faults: frozenset[str]) -> None:
        """Forget everything and switch to ``faults`` (one server serves many tests)."""
        self.faults = faults
        self.blobs.clear()
        self.uploads.clear()
        self.manifests.clear()
        self.tags.clear()
        self.requests = 0

    # --- helpers ----------------------------------------------------------------------------

    def has(self, fault: str) -> bool:
        return fault in self.faults

    def error(
        self, code: str, status: int | None = None, headers: dict[str, str] | None = None
    ) -> Response:
        shown = "UNKNOWN" if self.has(f"wrong-code:{code}") else code
        return JSONResponse({"errors": [{"code": shown, "message": code.lower(), "detail": {}}]},
                            status_code=status or STATUS[code], headers=headers)

    def blob_headers(self, digest: str, data: bytes) -> dict[str, str]:
        shown = digest_of(data + b"!") if self.has("wrong-blob-digest") else digest
        return {"Docker-Content-Digest": shown, "Content-Type": "application/octet-stream",
                "Content-Length": str(len(data))}

    def upload_response(self, status: int, repo: str, upload_id: str, size: int) -> Response:
        headers = {"Range": "0-0" if self.has("static-range") or size == 0 else f"0-{size - 1}",
                   "Docker-Upload-UUID": upload_id}
        if not self.has("no-location"):
            headers["Location"] = f"/v2/{repo}/blobs/uploads/{upload_id}"
        return Response(status_code=status, headers=headers)

    def created(self, repo: str, digest: str, data: bytes) -> Response:
        status = 200 if self.has("finish-200") else 201
        return Response(status_code=status, headers={
            "Location": f"/v2/{repo}/blobs/{digest}",
            **{k: v for k, v in self.blob_headers(digest, data).items()
               if k == "Docker-Content-Digest"}})

    def store_blob(self, repo: str, claimed: str, data: bytes) -> Response:
        algorithm, _, _ = claimed.partition(":")
        if algorithm not in ("sha256", "sha512") or not re.fullmatch(r"[a-z0-9]+:[a-f0-9]{64,128}",
                                                                     claimed):
            if algorithm == "sha512" and self.has("sha512-500"):
                return Response("boom", status_code=500)
            return self.error("DIGEST_INVALID")
        if algorithm == "sha512" and self.has("sha512-500"):
            return Response("boom", status_code=500)
        if digest_of(data, algorithm) != claimed and not self.has("accept-bad-digest"):
            return self.error("DIGEST_INVALID")
        self.blobs[(repo, claimed)] = data
        return self.created(repo, claimed, data)

    # --- dispatch ---------------------------------------------------------------------------

    async def handle(self, request: Request) -> Response:
        self.requests += 1
        path = request.url.path
        if path == "/token":
            return JSONResponse({"token": TOKEN, "access_token": TOKEN})
        if self.has("bearer") and request.headers.get("authorization") != f"Bearer {TOKEN}":
            base = f"{request.url.scheme}://{request.url.netloc}"
            if self.has("unauthorized-no-code"):
                return Response("no", status_code=401,
                                headers={"WWW-Authenticate": f'Bearer realm="{base}/token"'})
            challenge = f'Bearer realm="{base}/token",service="fake"'
            return self.error("UNAUTHORIZED", headers={"WWW-Authenticate": challenge})
        if self.has("rate-limit") and self.requests > RATE_LIMIT:
            return self.error("TOOMANYREQUESTS")
        if path == "/v2/":
            if self.has("base-401-no-challenge"):
                return Response(status_code=401)
            return JSONResponse({})
        match = re.fullmatch(r"/v2/(.+?)/(blobs/uploads|blobs|manifests|tags|referrers)(?:/(.*))?",
                             path)
        if match is None:
            return Response("404 page not found", status_code=404, media_type="text/plain")
        repo, kind, rest = match.group(1), match.group(2), match.group(3) or ""
        if not re.fullmatch(NAME, repo):
            return self.error("NAME_INVALID")
        if self.has("deny-foreign") and repo.startswith("other/") and request.method != "GET":
            return self.error("DENIED")
        body = await request.body()
        handler = {"blobs/uploads": self.uploads_endpoint, "blobs": self.blobs_endpoint,
                   "manifests": self.manifests_endpoint, "tags": self.tags_endpoint,
                   "referrers": self.referrers_endpoint}[kind]
        return handler(request, repo, rest, body)

    # --- uploads ----------------------------------------------------------------------------

    def uploads_endpoint(self, request: Request, repo: str, rest: str, body: bytes) -> Response:
        q = request.query_params
        if request.method == "POST" and not rest:
            if q.get("mount") and q.get("from"):
                if self.has("mount-500"):
                    return Response("boom", status_code=500)
                data = self.blobs.get((q["from"], q["mount"]))
                if data is not None:
                    self.blobs[(repo, q["mount"])] = data
                    return self.created(repo, q["mount"], data)
            if q.get("digest") and body and not self.has("single-post-202"):
                return self.store_blob(repo, q["digest"], body)
            upload_id = str(uuid.uuid4())
            self.uploads[upload_id] = Upload(repo)
            return self.upload_response(200 if self.has("post-200") else 202, repo, upload_id, 0)
        upload = self.uploads.get(rest)
        if upload is None or upload.repo != repo:
            return self.error("BLOB_UPLOAD_UNKNOWN")
        if request.method == "PATCH":
            content_range = request.headers.get("content-range")
            if content_range and not self.has("ignore-content-range"):
                start = int(content_range.split("-")[0])
                if start != len(upload.data):
                    if self.has("upload-invalid-500"):
                        return Response("boom", status_code=500)
                    return self.error("BLOB_UPLOAD_INVALID", 416)
            upload.data.extend(body)
            return self.upload_response(202, repo, rest, len(upload.data))
        if request.method == "GET":
            return self.upload_response(200 if self.has("status-200") else 204, repo, rest,
                                        len(upload.data))
        if request.method == "DELETE":
            if not self.has("cancel-keeps-session"):
                del self.uploads[rest]
            return Response(status_code=204)
        if request.method == "PUT":
            upload.data.extend(body)
            answer = self.store_blob(repo, q.get("digest", ""), bytes(upload.data))
            if answer.status_code < 300 and not self.has("session-survives-put"):
                del self.uploads[rest]
            return answer
        return Response(status_code=405)

    # --- blobs ------------------------------------------------------------------------------

    def blobs_endpoint(self, request: Request, repo: str, digest: str, body: bytes) -> Response:
        data = self.blobs.get((repo, digest))
        if request.method == "DELETE":
            if self.has("no-blob-delete"):
                return self.error("UNSUPPORTED")
            if self.has("unsupported-wrong-status"):
                return self.error("UNSUPPORTED", 500)
            if data is None:
                return self.error("BLOB_UNKNOWN")
            if not self.has("delete-keeps-blob"):
                del self.blobs[(repo, digest)]
            return Response(status_code=202)
        if data is None:
            return self.error("BLOB_UNKNOWN")
        headers = self.blob_headers(digest, data)
        if request.method == "HEAD":
            return Response(status_code=200, headers=headers)
        span = request.headers.get("range")
        if span and (m := re.fullmatch(r"bytes=(\d+)-(\d+)", span)):
            first, last = int(m.group(1)), int(m.group(2))
            part = data[first + 1:last + 2] if self.has("range-wrong-bytes") else \
                data[first:last + 1]
            headers.update({"Content-Range": f"bytes {first}-{last}/{len(data)}",
                            "Content-Length": str(len(part))})
            return Response(part, status_code=206, headers=headers)
        return Response(data, status_code=200, headers=headers)

    # --- manifests --------------------------------------------------------------------------

    def resolve(self, repo: str, reference: str) -> str | None:
        if ":" in reference:
            return reference if (repo, reference) in self.manifests else None
        return self.tags.get((repo, reference))

    def manifests_endpoint(self, request: Request, repo: str, ref: str, body: bytes) -> Response:
        if request.method in ("GET", "HEAD"):
            digest = self.resolve(repo, ref)
            if digest is None or (self.has("untagged-404") and ":" in ref
                                  and digest not in self.tags.values()):
                return self.error("MANIFEST_UNKNOWN")
            content, media_type = self.manifests[(repo, digest)]
            if self.has("manifest-wrong-type"):
                media_type = "application/json"
            headers = {"Docker-Content-Digest": digest, "Content-Type": media_type}
            if request.method == "HEAD":
                return Response(status_code=200, headers={**headers,
                                                          "Content-Length": str(len(content))})
            return Response(content, status_code=200, headers=headers)
        if request.method == "DELETE":
            digest = self.resolve(repo, ref)
            if digest is None:
                return self.error("MANIFEST_UNKNOWN")
            if not self.has("delete-keeps-manifest"):
                del self.manifests[(repo, digest)]
                for key in [k for k, v in self.tags.items() if v == digest]:
                    del self.tags[key]
            return Response(status_code=202)
        if request.method != "PUT":
            if self.has("undefined-op-wrong-code"):
                return self.error("MANIFEST_INVALID")
            return Response(status_code=405)
        return self.put_manifest(request, repo, ref, body)

    def put_manifest(self, request: Request, repo: str, ref: str, body: bytes) -> Response:
        if len(body) > MANIFEST_LIMIT:
            if self.has("size-500"):
                return Response("boom", status_code=500)
            return self.error("SIZE_INVALID")
        try:
            doc = json.loads(body)
        except ValueError:
            return self.error("MANIFEST_INVALID")
        if not isinstance(doc, dict):
            return self.error("MANIFEST_INVALID")
        for desc in [doc.get("config") or {}, *doc.get("layers", [])]:
            stored = self.blobs.get((repo, desc.get("digest", "")))
            if stored is None:
                return self.error("MANIFEST_BLOB_UNKNOWN")
            if len(stored) != desc.get("size"):
                return self.error("SIZE_INVALID")
        digest = digest_of(body)
        if ":" in ref and ref != digest:
            return self.error("DIGEST_INVALID")
        media_type = request.headers.get("content-type", doc.get("mediaType", ""))
        self.manifests[(repo, digest)] = (body, media_type)
        tags = [] if ":" in ref else [ref]
        params = request.query_params.getlist("tag")
        if self.has("tag-param-ignored"):
            params = []
        tags += params[:1] if self.has("tag-param-partial") else params
        for tag in tags:
            self.tags[(repo, tag)] = digest
        headers = {"Docker-Content-Digest": digest}
        if not (self.has("manifest-no-location") and ":" in ref):
            headers["Location"] = f"/v2/{repo}/manifests/{digest}"
        status = 200 if self.has("manifest-put-200") and ":" not in ref else 201
        return Response(status_code=status, headers=headers)

    # --- discovery --------------------------------------------------------------------------

    def tags_endpoint(self, request: Request, repo: str, rest: str, body: bytes) -> Response:
        names = sorted(t for (r, t) in self.tags if r == repo)
        if not names and not any(r == repo for (r, _) in self.manifests):
            return self.error("NAME_UNKNOWN")
        if self.has("tags-missing-one"):
            names = names[1:]
        if self.has("tags-unsorted"):
            names = list(reversed(names))
        q = request.query_params
        if "last" in q and not self.has("tags-ignore-last"):
            names = [t for t in names if t > q["last"]]
        headers = {}
        if "n" in q and not self.has("tags-ignore-n"):
            n = int(q["n"])
            if len(names) > n and not self.has("tags-no-link"):
                headers["Link"] = f'</v2/{repo}/tags/list?n={n}&last={names[n - 1]}>; rel="next"'
            names = names[:n]
        return JSONResponse({"name": repo, "tags": names}, headers=headers)

    def referrers_endpoint(self, request: Request, repo: str, digest: str, body: bytes) -> Response:
        if self.has("no-referrers"):
            return Response("404 page not found", status_code=404, media_type="text/plain")
        found = []
        for (r, d), (content, media_type) in self.manifests.items():
            doc = json.loads(content)
            if r == repo and (doc.get("subject") or {}).get("digest") == digest:
                desc = {"mediaType": media_type, "digest": d, "size": len(content)}
                if doc.get("artifactType") and not self.has("referrers-no-type"):
                    desc["artifactType"] = doc["artifactType"]
                found.append(desc)
        if self.has("referrers-missing"):
            found = found[1:]
        headers = {}
        wanted = request.query_params.get("artifactType")
        if wanted and not self.has("filter-ignored"):
            if not self.has("filter-no-header"):
                headers["OCI-Filters-Applied"] = "artifactType"
            if not self.has("filter-leaky"):
                found = [d for d in found if d.get("artifactType") == wanted]
        elif wanted and self.has("filter-leaky"):
            headers["OCI-Filters-Applied"] = "artifactType"
        return JSONResponse({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": found},
                            headers=headers, media_type=OCI_INDEX)


def make_app(registry: FakeRegistry) -> Starlette:
    methods = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]
    return Starlette(routes=[Route("/{path:path}", registry.handle, methods=methods)])


@contextmanager
def running_registry(*faults: str) -> Iterator[tuple[FakeRegistry, str]]:
    """A fresh fake registry with ``faults`` on loopback: yields (registry, base URL)."""
    registry = FakeRegistry(frozenset(faults))
    with serve_in_thread(make_app(registry)) as url:
        yield registry, url
