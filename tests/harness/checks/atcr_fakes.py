"""A tiny in-memory ATCR for the ATCR checks' own tests: registry (AppView), PDS and hold on one
loopback origin (Starlette, real HTTP via ``serve_in_thread``). Correct by default; each fault
breaks exactly one behaviour so a check can be shown to notice it. Never the reference impl.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from conformance.localserver import serve_in_thread
from conformance.scenarios.atcr import AtcrUser, digest_to_cid

SERVICE = "fake.atcr"
PASSWORD = "fake-password-1"
USERS = {
    "alice.test": "did:plc:alice",
    "bob.test": "did:plc:bob",
    "carol.test": "did:plc:carol",  # not crew
    "dave.test": "did:plc:dave",  # no OAuth session
}
CREW = {"did:plc:alice", "did:plc:bob"}
NO_SESSION = {"did:plc:dave"}
FAULTS = frozenset({
    "no-realm",             # ATCR-AUTH-01
    "token-unsigned-jwks",  # ATCR-AUTH-02: tokens signed by a key not in /auth/jwks
    "pull-only",            # ATCR-AUTH-02: tokens never grant push
    "push-anywhere",        # ATCR-AUTH-03: push granted and allowed on every repository
    "accept-tampered",      # ATCR-AUTH-04: token signatures not checked
    "metadata-404",         # ATCR-OAUTH-01
    "no-session-500",       # ATCR-OAUTH-03
    "no-records",           # ATCR-REC-01: manifests kept locally, no PDS records
    "unknown-200",          # ATCR-REC-02: unknown references answer 404 BLOB_UNKNOWN
    "tag-cache",            # ATCR-REC-03
    "reformat-manifest",    # ATCR-REC-04: manifests re-serialised on the way out
    "no-atproto-vm",        # ATCR-HOLD-01
    "blob-wrong-bytes",     # ATCR-HOLD-02: blob GET serves other bytes
    "crew-ignored",         # ATCR-HOLD-03
    "outage-hangs",         # ATCR-HOLD-04: with the hold down, blob calls hang
    "mid-push-hangs",       # ATCR-HOLD-04: only finishing a push begun before the outage hangs
    "no-digest-check",      # ATCR-HOLD-05: completeUpload stores under the claimed digest
    "nonce-leak",           # ATCR-CONC-01: concurrent uploads see use_dpop_nonce
    "shared-tags",          # ATCR-CONC-02: one tag table for everyone
})


def err(status: int, code: str, message: str = "", headers: dict[str, str] | None = None
        ) -> JSONResponse:
    return JSONResponse({"errors": [{"code": code, "message": message or code, "detail": None}]},
                        status_code=status, headers=headers)


def xerr(status: int, name: str) -> JSONResponse:
    return JSONResponse({"error": name, "message": name}, status_code=status)


@dataclass
class FakeState:
    faults: frozenset[str]
    key: ec.EllipticCurvePrivateKey = field(default_factory=lambda: ec.generate_private_key(
        ec.SECP256R1()))
    other_key: ec.EllipticCurvePrivateKey = field(default_factory=lambda: ec.generate_private_key(
        ec.SECP256R1()))
    blobs: dict[str, bytes] = field(default_factory=dict)
    uploads: dict[str, bytearray] = field(default_factory=dict)
    hold_uploads: dict[str, dict[int, bytes]] = field(default_factory=dict)
    records: dict[str, dict[tuple[str, str], dict[str, Any]]] = field(default_factory=dict)
    local_manifests: dict[tuple[str, str], bytes] = field(default_factory=dict)
    tag_cache: dict[tuple[str, str], bytes] = field(default_factory=dict)
    hold_down: bool = False
    active_uploads: int = 0
    counter: int = 0

    def rkey(self) -> str:
        self.counter += 1
        return f"3l{self.counter:011d}"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def build_app(faults: frozenset[str] = frozenset()) -> tuple[Starlette, FakeState]:
    unknown = faults - FAULTS
    if unknown:
        raise ValueError(f"unknown faults {sorted(unknown)}")
    state = FakeState(faults)

    def base(request: Request) -> str:
        return str(request.base_url).rstrip("/")

    def hold_did(request: Request) -> str:
        return "did:web:" + quote(request.url.netloc, safe="")

    def challenge(request: Request, scope: str | None = None) -> dict[str, str]:
        params = [f'service="{SERVICE}"']
        if "no-realm" not in faults:
            params.insert(0, f'realm="{base(request)}/auth/token"')
        if scope:
            params.append(f'scope="{scope}"')
        return {"WWW-Authenticate": "Bearer " + ",".join(params)}

    # --- token auth ---------------------------------------------------------------------

    def basic_user(request: Request) -> str | None:
        header = request.headers.get("authorization", "")
        if not header.startswith("Basic "):
            return None
        # A DID username contains colons: the password is after the last one.
        name, _, password = base64.b64decode(header[6:]).decode().rpartition(":")
        did = USERS.get(name, name if name in USERS.values() else None)
        return did if did and password == PASSWORD else None

    async def token(request: Request) -> Response:
        did = basic_user(request)
        if did is None:
            return err(401, "UNAUTHORIZED", "bad credentials")
        access = []
        for scope in request.query_params.getlist("scope"):
            _, name, actions = scope.split(":")
            owner = USERS.get(name.split("/")[0])
            granted = [a for a in actions.split(",") if a == "pull" or (
                (owner == did or "push-anywhere" in faults) and "pull-only" not in faults)]
            access.append({"type": "repository", "name": name, "actions": granted})
        now = int(time.time())
        signer = state.other_key if "token-unsigned-jwks" in faults else state.key
        claims = {"iss": base(request), "sub": did, "aud": SERVICE, "iat": now, "nbf": now,
                  "exp": now + 300, "jti": uuid.uuid4().hex, "access": access}
        tok = jwt.encode(claims, signer, "ES256", headers={"kid": "k1"})
        return JSONResponse({"token": tok, "access_token": tok, "expires_in": 300,
                             "issued_at": "2026-11-20T00:00:00Z"})

    async def jwks(request: Request) -> Response:
        jwk = ECAlgorithm.to_jwk(state.key.public_key(), as_dict=True)
        return JSONResponse({"keys": [{**jwk, "kid": "k1", "alg": "ES256", "use": "sig"}]})

    def bearer_claims(request: Request) -> dict[str, Any] | None:
        header = request.headers.get("authorization", "")
        if not header.startswith("Bearer "):
            return None
        try:
            if "accept-tampered" in faults:
                return dict(jwt.decode(header[7:], options={"verify_signature": False}))
            return dict(jwt.decode(header[7:], state.key.public_key(), ["ES256"],
                                   audience=SERVICE))
        except jwt.PyJWTError:
            return None

    def authorize(request: Request, name: str, action: str) -> tuple[str | None, Response | None]:
        scope = f"repository:{name}:{action if action == 'pull' else 'pull,push'}"
        claims = bearer_claims(request)
        if claims is None:
            return None, err(401, "UNAUTHORIZED", "authentication required",
                             challenge(request, scope))
        actions = {a for e in claims.get("access", []) if e.get("name") == name
                   for a in e.get("actions", [])}
        if action not in actions and "push-anywhere" not in faults:
            return None, err(403, "DENIED", "denied")
        did = str(claims.get("sub"))
        if action == "push" and did in NO_SESSION:
            if "no-session-500" in faults:
                return None, err(500, "UNKNOWN", "internal error")
            return None, err(401, "UNAUTHORIZED", f"no ATProto OAuth session for {did}: log in "
                             "again at /auth/oauth/login")
        return did, None

    async def v2_base(request: Request) -> Response:
        if bearer_claims(request) is None:
            return err(401, "UNAUTHORIZED", "authentication required", challenge(request))
        return JSONResponse({})

    # --- registry -------------------------------------------------------------------------

    def owner_did(name: str) -> str | None:
        return USERS.get(name.split("/")[0])

    def repo_records(did: str) -> dict[tuple[str, str], dict[str, Any]]:
        return state.records.setdefault(did, {})

    async def upload_start(request: Request) -> Response:
        name = request.path_params["name"]
        _, denied = authorize(request, name, "push")
        if denied:
            return denied
        if state.hold_down:
            return await outage()
        uid = uuid.uuid4().hex
        state.uploads[uid] = bytearray()
        return Response(status_code=202, headers={
            "Location": f"/v2/{name}/blobs/uploads/{uid}", "Range": "0-0",
            "Docker-Upload-UUID": uid})

    async def upload_patch(request: Request) -> Response:
        name, uid = request.path_params["name"], request.path_params["uid"]
        _, denied = authorize(request, name, "push")
        if denied:
            return denied
        if uid not in state.uploads:
            return err(404, "BLOB_UPLOAD_UNKNOWN")
        state.uploads[uid] += await request.body()
        return Response(status_code=202, headers={
            "Location": f"/v2/{name}/blobs/uploads/{uid}",
            "Range": f"0-{len(state.uploads[uid]) - 1}"})

    async def outage(hang: bool = False) -> Response:
        if "outage-hangs" in faults or hang:
            deadline = time.monotonic() + 30
            while state.hold_down and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
        return err(503, "UNAVAILABLE", "hold unreachable")

    async def upload_put(request: Request) -> Response:
        name, uid = request.path_params["name"], request.path_params["uid"]
        did, denied = authorize(request, name, "push")
        if denied:
            return denied
        if state.hold_down:
            begun = bool(state.uploads.get(uid))
            return await outage(hang=begun and "mid-push-hangs" in faults)
        if "nonce-leak" in faults:
            state.active_uploads += 1
            try:
                await asyncio.sleep(0.05)
                if state.active_uploads > 1:
                    return JSONResponse({"error": "use_dpop_nonce", "message": "nonce"}, 500)
            finally:
                state.active_uploads -= 1
        data = bytes(state.uploads.pop(uid, bytearray())) + await request.body()
        digest = request.query_params.get("digest", "")
        if "sha256:" + hashlib.sha256(data).hexdigest() != digest:
            return err(400, "DIGEST_INVALID")
        if did not in CREW and "crew-ignored" not in faults:
            return err(403, "DENIED", "not crew of the hold")
        state.blobs[digest] = data
        return Response(status_code=201, headers={"Location": f"/v2/{name}/blobs/{digest}",
                                                  "Docker-Content-Digest": digest})

    async def blob_get(request: Request) -> Response:
        name, digest = request.path_params["name"], request.path_params["digest"]
        if state.hold_down:
            if request.method == "HEAD" and "outage-hangs" not in faults:
                return Response(status_code=503)
            return await outage()
        if digest not in state.blobs:
            return err(404, "BLOB_UNKNOWN")
        if request.method == "HEAD":
            return Response(headers={"Content-Length": str(len(state.blobs[digest])),
                                     "Docker-Content-Digest": digest})
        del name
        query = urlencode({"did": hold_did(request), "cid": digest_to_cid(digest)})
        return RedirectResponse(f"{base(request)}/xrpc/com.atproto.sync.getBlob?{query}", 307)

    def manifest_records(did: str, path: str) -> list[tuple[str, dict[str, Any]]]:
        return [(k[1], v) for k, v in repo_records(did).items()
                if k[0] == "io.atcr.manifest" and v["repository"] == path]

    async def manifest_put(request: Request) -> Response:
        name, ref = request.path_params["name"], request.path_params["ref"]
        _, denied = authorize(request, name, "push")
        if denied:
            return denied
        body = await request.body()
        doc = json.loads(body)
        digest = "sha256:" + hashlib.sha256(body).hexdigest()
        did = owner_did(name) or ""
        path = name.split("/", 1)[1]
        if "no-records" in faults:
            state.local_manifests[(name, ref)] = body
            state.local_manifests[(name, digest)] = body
        else:
            rkey = state.rkey()
            repo_records(did)[("io.atcr.manifest", rkey)] = {
                "repository": path, "digest": digest, "mediaType": doc.get("mediaType"),
                "schemaVersion": 2, "config": doc.get("config"), "layers": doc.get("layers"),
                "holdDid": hold_did(request), "manifestBlob": base64.b64encode(body).decode(),
                "createdAt": "2026-11-20T00:00:00Z"}
            if not ref.startswith("sha256:"):
                tag_owner = "did:plc:shared" if "shared-tags" in faults else did
                repo_records(tag_owner)[("io.atcr.tag", f"{path}:{ref}")] = {
                    "repository": path, "tag": ref, "createdAt": "2026-11-20T00:00:00Z",
                    "manifest": f"at://{did}/io.atcr.manifest/{rkey}", "manifestDigest": digest}
        if "tag-cache" in faults:
            state.tag_cache[(name, ref)] = body
        return Response(status_code=201, headers={"Location": f"/v2/{name}/manifests/{digest}",
                                                  "Docker-Content-Digest": digest})

    def find_manifest(name: str, ref: str) -> bytes | None:
        if "no-records" in faults:
            return state.local_manifests.get((name, ref))
        if (name, ref) in state.tag_cache:
            return state.tag_cache[(name, ref)]
        did = owner_did(name) or ""
        path = name.split("/", 1)[1]
        digest = ref
        if not ref.startswith("sha256:"):
            tag_owner = "did:plc:shared" if "shared-tags" in faults else did
            tag = repo_records(tag_owner).get(("io.atcr.tag", f"{path}:{ref}"))
            if tag is None:
                return None
            digest = tag["manifestDigest"]
        for _, value in manifest_records(did, path):
            if value["digest"] == digest:
                return base64.b64decode(value["manifestBlob"])
        return None

    async def manifest_get(request: Request) -> Response:
        name, ref = request.path_params["name"], request.path_params["ref"]
        body = find_manifest(name, ref)
        if body is None:
            did = owner_did(name) or ""
            known = "no-records" in faults and any(k[0] == name for k in state.local_manifests)
            if "unknown-200" in faults:
                return err(404, "BLOB_UNKNOWN")
            if not known and not manifest_records(did, name.split("/", 1)[1]):
                return err(404, "NAME_UNKNOWN")
            return err(404, "MANIFEST_UNKNOWN")
        if "reformat-manifest" in faults:
            body = json.dumps(json.loads(body), indent=2).encode()
        return Response(body, media_type=json.loads(body).get("mediaType"),
                        headers={"Docker-Content-Digest": "sha256:" +
                                 hashlib.sha256(body).hexdigest()})

    async def tags_list(request: Request) -> Response:
        name = request.path_params["name"]
        if bearer_claims(request) is None:
            return err(401, "UNAUTHORIZED", "authentication required",
                       challenge(request, f"repository:{name}:pull"))
        did = owner_did(name) or ""
        path = name.split("/", 1)[1]
        tags = sorted(v["tag"] for k, v in repo_records(did).items()
                      if k[0] == "io.atcr.tag" and v["repository"] == path)
        tags += [ref for (n, ref) in state.tag_cache if n == name and ref not in tags]
        return JSONResponse({"name": name, "tags": tags})

    # --- OAuth metadata -------------------------------------------------------------------

    async def client_metadata(request: Request) -> Response:
        if "metadata-404" in faults:
            return Response("not found", 404)
        b = base(request)
        return JSONResponse({
            "client_id": f"{b}/client-metadata.json", "redirect_uris": [f"{b}/auth/oauth/cb"],
            "dpop_bound_access_tokens": True, "token_endpoint_auth_method": "private_key_jwt",
            "token_endpoint_auth_signing_alg": "ES256", "jwks_uri": f"{b}/auth/jwks",
            "grant_types": ["authorization_code", "refresh_token"],
            "scope": "atproto transition:generic", "response_types": ["code"]})

    # --- PDS ------------------------------------------------------------------------------

    async def create_session(request: Request) -> Response:
        body = await request.json()
        did = USERS.get(body.get("identifier"), body.get("identifier"))
        if body.get("password") != PASSWORD or did not in USERS.values():
            return xerr(401, "AuthenticationRequired")
        handle = next(h for h, d in USERS.items() if d == did)
        return JSONResponse({"did": did, "handle": handle, "accessJwt": f"access-{did}",
                             "refreshJwt": f"refresh-{did}"})

    async def service_auth(request: Request) -> Response:
        return JSONResponse({"token": f"svc-{uuid.uuid4().hex}"})

    async def list_records(request: Request) -> Response:
        did, coll = request.query_params["repo"], request.query_params["collection"]
        out = [{"uri": f"at://{did}/{c}/{k}", "cid": "bafyfake", "value": v}
               for (c, k), v in sorted(repo_records(did).items()) if c == coll]
        return JSONResponse({"records": out})

    async def get_record(request: Request) -> Response:
        q = request.query_params
        if q["repo"] == hold_did(request) and q["collection"] == "io.atcr.hold.captain":
            return JSONResponse({"uri": "at://hold/captain/self", "value": {
                "owner": "did:plc:alice", "public": True, "allowAllCrew": False}})
        value = repo_records(q["repo"]).get((q["collection"], q["rkey"]))
        if value is None:
            return xerr(400, "RecordNotFound")
        return JSONResponse({"uri": f"at://{q['repo']}/{q['collection']}/{q['rkey']}",
                             "value": value})

    async def delete_record(request: Request) -> Response:
        body = await request.json()
        repo_records(body["repo"]).pop((body["collection"], body["rkey"]), None)
        return JSONResponse({})

    # --- hold -----------------------------------------------------------------------------

    async def did_json(request: Request) -> Response:
        did = hold_did(request)
        vm_id = f"{did}#other" if "no-atproto-vm" in faults else f"{did}#atproto"
        return JSONResponse({
            "id": did,
            "verificationMethod": [{"id": vm_id, "type": "Multikey", "controller": did,
                                    "publicKeyMultibase": "zQ3shfake"}],
            "service": [{"id": "#atcr_hold", "type": "AtcrHoldService",
                         "serviceEndpoint": base(request)}]})

    async def get_blob(request: Request) -> Response:
        if request.query_params.get("did") != hold_did(request):
            return xerr(404, "RepoNotFound")
        cid = request.query_params.get("cid")
        for digest, data in state.blobs.items():
            if digest_to_cid(digest) == cid:
                if "blob-wrong-bytes" in faults:
                    data = data[::-1]
                return Response(data, media_type="application/octet-stream")
        return xerr(404, "BlobNotFound")

    async def initiate(request: Request) -> Response:
        body = await request.json()
        uid = uuid.uuid4().hex
        state.hold_uploads[uid] = {}
        del body
        return JSONResponse({"uploadId": uid, "partSize": 5 * 1024 * 1024})

    async def part_url(request: Request) -> Response:
        body = await request.json()
        if body["uploadId"] not in state.hold_uploads:
            return xerr(404, "UploadNotFound")
        query = urlencode({"uploadId": body["uploadId"], "partNumber": body["partNumber"]})
        return JSONResponse({"url": f"{base(request)}/xrpc/io.atcr.hold.uploadPart?{query}",
                             "method": "PUT"})

    async def upload_part(request: Request) -> Response:
        uid = request.query_params["uploadId"]
        if uid not in state.hold_uploads:
            return xerr(404, "UploadNotFound")
        data = await request.body()
        number = int(request.query_params["partNumber"])
        state.hold_uploads[uid][number] = data
        etag = '"' + hashlib.md5(data).hexdigest() + '"'
        return JSONResponse({"etag": etag, "partNumber": number, "size": len(data)})

    async def complete(request: Request) -> Response:
        body = await request.json()
        parts = state.hold_uploads.pop(body["uploadId"], None)
        if parts is None:
            return xerr(404, "UploadNotFound")
        data = b"".join(parts[n] for n in sorted(parts))
        actual = "sha256:" + hashlib.sha256(data).hexdigest()
        if actual != body["digest"] and "no-digest-check" not in faults:
            return xerr(400, "DigestMismatch")
        state.blobs[body["digest"]] = data
        return JSONResponse({"digest": body["digest"], "size": len(data)})

    async def abort(request: Request) -> Response:
        body = await request.json()
        if state.hold_uploads.pop(body["uploadId"], None) is None:
            return xerr(404, "UploadNotFound")
        return JSONResponse({})

    name = "{name:path}"
    app = Starlette(routes=[
        Route("/v2/", v2_base),
        Route(f"/v2/{name}/blobs/uploads/", upload_start, methods=["POST"]),
        Route(f"/v2/{name}/blobs/uploads/{{uid}}", upload_put, methods=["PUT"]),
        Route(f"/v2/{name}/blobs/uploads/{{uid}}", upload_patch, methods=["PATCH"]),
        Route(f"/v2/{name}/blobs/{{digest}}", blob_get, methods=["GET", "HEAD"]),
        Route(f"/v2/{name}/manifests/{{ref}}", manifest_put, methods=["PUT"]),
        Route(f"/v2/{name}/manifests/{{ref}}", manifest_get, methods=["GET", "HEAD"]),
        Route(f"/v2/{name}/tags/list", tags_list),
        Route("/auth/token", token),
        Route("/auth/jwks", jwks),
        Route("/client-metadata.json", client_metadata),
        Route("/.well-known/did.json", did_json),
        Route("/xrpc/com.atproto.server.createSession", create_session, methods=["POST"]),
        Route("/xrpc/com.atproto.server.getServiceAuth", service_auth),
        Route("/xrpc/com.atproto.repo.listRecords", list_records),
        Route("/xrpc/com.atproto.repo.getRecord", get_record),
        Route("/xrpc/com.atproto.repo.deleteRecord", delete_record, methods=["POST"]),
        Route("/xrpc/com.atproto.sync.getBlob", get_blob),
        Route("/xrpc/io.atcr.hold.initiateUpload", initiate, methods=["POST"]),
        Route("/xrpc/io.atcr.hold.getPartUploadUrl", part_url, methods=["POST"]),
        Route("/xrpc/io.atcr.hold.uploadPart", upload_part, methods=["POST", "PUT"]),
        Route("/xrpc/io.atcr.hold.completeUpload", complete, methods=["POST"]),
        Route("/xrpc/io.atcr.hold.abortUpload", abort, methods=["POST"]),
    ])
    return app, state


def user(handle: str) -> AtcrUser:
    return AtcrUser(handle, USERS[handle], PASSWORD)


@contextmanager
def running_atcr(*faults: str) -> Iterator[tuple[str, FakeState]]:
    """``with running_atcr("tag-cache") as (url, state): ...``"""
    app, state = build_app(frozenset(faults))
    with serve_in_thread(app) as url:
        yield url, state

