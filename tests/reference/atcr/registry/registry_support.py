"""In-memory ports and a running registry for the OCI-layer tests.

These are TEST DOUBLES of the ATProto side only (records in a PDS, the hold, credential checks,
OAuth sessions): dict- and directory-backed, each recording the writes it saw so tests can prove
"nothing was written". The registry layer itself runs for real: uvicorn on a loopback port,
spool files on disk, and blob GETs redirected to a tiny blob server in the same test.
"""

from __future__ import annotations

import base64
import hashlib
import shutil
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric import ec
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from conformance.localserver import free_port, serve_in_thread
from reference_impl.atcr.appview.ports import (
    BadCredentials,
    BlobDigestMismatch,
    HoldDenied,
    NameUnknown,
    NoOAuthSession,
    Owner,
    ParsedManifest,
    Referrer,
    RegistryPorts,
    StoredManifest,
    Unavailable,
)
from reference_impl.atcr.appview.registry import RegistrySettings, create_registry_app

ALICE_DID = "did:plc:aliceaaaaaaaaaaaaaaaaaaa"
BOB_DID = "did:plc:bobbbbbbbbbbbbbbbbbbbbbb"
CAROL_DID = "did:plc:carolccccccccccccccccccc"  # no OAuth session
HOLD = "did:web:hold.test"
SERVICE = "atcr.test"
PASSWORD = "app-pass-1234"


class MemoryOwners:
    def __init__(self, owners: list[Owner]) -> None:
        self.by_key = {o.did: o for o in owners} | {o.handle: o for o in owners if o.handle}
        self.calls: list[str] = []

    async def resolve(self, owner: str) -> Owner:
        self.calls.append(owner)
        try:
            return self.by_key[owner]
        except KeyError:
            raise NameUnknown(f"{owner} does not resolve") from None


class MemoryCredentials:
    def __init__(self, owners: list[Owner]) -> None:
        self.accounts = {o.did: o.did for o in owners} | {
            o.handle: o.did for o in owners if o.handle
        }

    async def check(self, identifier: str, password: str) -> str:
        if identifier in self.accounts and password == PASSWORD:
            return self.accounts[identifier]
        raise BadCredentials("Invalid identifier or password")


class MemorySessions:
    def __init__(self, logged_in: set[str]) -> None:
        self.logged_in = logged_in

    async def require_session(self, owner: Owner) -> None:
        if owner.did not in self.logged_in:
            raise NoOAuthSession(
                owner.did, f"http://appview.test/auth/oauth/login?handle={owner.handle}"
            )


@dataclass
class MemoryManifests:
    """Records per (did, path): manifests by digest, tags -> digest; ``writes`` logs changes."""

    manifests: dict[tuple[str, str], dict[str, tuple[StoredManifest, ParsedManifest]]] = field(
        default_factory=dict
    )
    tags: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)
    holds: dict[str, str] = field(default_factory=dict)
    writes: list[tuple[Any, ...]] = field(default_factory=list)

    async def repository_exists(self, owner: Owner, path: str) -> bool:
        return bool(self.manifests.get((owner.did, path)) or self.tags.get((owner.did, path)))

    async def get_by_tag(self, owner: Owner, path: str, tag: str) -> StoredManifest | None:
        digest = self.tags.get((owner.did, path), {}).get(tag)
        return None if digest is None else await self.get_by_digest(owner, path, digest)

    async def get_by_digest(self, owner: Owner, path: str, digest: str) -> StoredManifest | None:
        entry = self.manifests.get((owner.did, path), {}).get(digest)
        return None if entry is None else entry[0]

    async def list_tags(self, owner: Owner, path: str) -> list[str]:
        return sorted(self.tags.get((owner.did, path), {}))

    async def put(
        self,
        owner: Owner,
        path: str,
        digest: str,
        content: bytes,
        manifest: ParsedManifest,
        tags: Any,
        hold_did: str,
    ) -> str:
        uri = f"at://{owner.did}/io.atcr.manifest/{digest[7:20]}"
        stored = StoredManifest(
            digest,
            manifest.media_type,
            content,
            uri,
            hold_did,
            manifest.artifact_type,
            manifest.annotations,
            manifest.config.media_type if manifest.config else None,
        )
        self.manifests.setdefault((owner.did, path), {})[digest] = (stored, manifest)
        for tag in tags:
            self.tags.setdefault((owner.did, path), {})[tag] = digest
        self.writes.append(("put", owner.did, path, digest, tuple(tags)))
        return uri

    async def delete_manifest(self, owner: Owner, path: str, digest: str) -> bool:
        found = self.manifests.get((owner.did, path), {}).pop(digest, None)
        tags = self.tags.get((owner.did, path), {})
        for tag in [t for t, d in tags.items() if d == digest]:
            del tags[tag]
        self.writes.append(("delete_manifest", owner.did, path, digest))
        return found is not None

    async def delete_tag(self, owner: Owner, path: str, tag: str) -> bool:
        self.writes.append(("delete_tag", owner.did, path, tag))
        return self.tags.get((owner.did, path), {}).pop(tag, None) is not None

    async def referrers(self, owner: Owner, path: str, digest: str) -> list[Referrer]:
        found = []
        for stored, parsed in self.manifests.get((owner.did, path), {}).values():
            if parsed.subject is not None and parsed.subject.digest == digest:
                artifact = parsed.artifact_type or (
                    parsed.config.media_type if parsed.config else None
                )
                found.append(
                    Referrer(
                        stored.digest,
                        stored.media_type,
                        len(stored.content),
                        artifact,
                        parsed.annotations,
                    )
                )
        return found

    async def hold_for(self, owner: Owner, *, for_push: bool) -> str:
        return self.holds.get(owner.did, HOLD)


class DirectoryBlobs:
    """A hold as a directory: ``<root>/<hold>/<alg>/<hex>``. ``deny`` DIDs get HoldDenied;
    ``unavailable`` makes every call fail with Unavailable; ``mismatch`` makes uploads fail as
    a hold that re-hashes would."""

    def __init__(self, root: Path, blob_server: str) -> None:
        self.root = root
        self.blob_server = blob_server
        self.deny: set[str] = set()
        self.unavailable = False
        self.mismatch = False
        self.uploads: list[tuple[str, str, str, int]] = []

    def path(self, hold_did: str, digest: str) -> Path:
        algorithm, hexpart = digest.split(":", 1)
        return self.root / hashlib.sha256(hold_did.encode()).hexdigest()[:12] / algorithm / hexpart

    def put(self, data: bytes, hold_did: str = HOLD, algorithm: str = "sha256") -> str:
        digest = f"{algorithm}:{hashlib.new(algorithm, data).hexdigest()}"
        target = self.path(hold_did, digest)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        return digest

    async def stat(self, hold_did: str, digest: str) -> int | None:
        if self.unavailable:
            raise Unavailable("hold unreachable")
        target = self.path(hold_did, digest)
        return target.stat().st_size if target.exists() else None

    async def download_url(self, hold_did: str, digest: str) -> str:
        return (
            f"{self.blob_server}/blob/{hashlib.sha256(hold_did.encode()).hexdigest()[:12]}/{digest}"
        )

    async def upload(
        self, hold_did: str, owner: Owner, digest: str, spool: Path, size: int
    ) -> None:
        if self.unavailable:
            raise Unavailable("hold unreachable")
        if owner.did in self.deny:
            raise HoldDenied(f"{owner.did} is not crew of {hold_did}")
        if self.mismatch:
            raise BlobDigestMismatch("assembled blob does not have the digest")
        assert spool.stat().st_size == size
        target = self.path(hold_did, digest)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(spool, target)  # streamed copy, never whole in memory
        self.uploads.append((hold_did, owner.did, digest, size))


def blob_server_app(root: Path) -> Starlette:
    async def blob(request: Request) -> Response:
        algorithm, _, hexpart = request.path_params["digest"].partition(":")
        target = root / request.path_params["hold"] / algorithm / hexpart
        if not target.is_file():
            return JSONResponse({"error": "BlobNotFound"}, status_code=404)
        return FileResponse(target, media_type="application/octet-stream")

    return Starlette(routes=[Route("/blob/{hold}/{digest}", blob)])


@dataclass
class RunningRegistry:
    url: str
    ports: RegistryPorts
    manifests: MemoryManifests
    blobs: DirectoryBlobs
    owners: MemoryOwners
    sessions: MemorySessions
    settings: RegistrySettings
    spool: Path
    http: httpx.Client

    def token(self, *scopes: str, user: str | None = "alice.test", password: str = PASSWORD) -> str:
        headers = {}
        if user is not None:
            basic = base64.b64encode(f"{user}:{password}".encode()).decode()
            headers["Authorization"] = f"Basic {basic}"
        params = [("service", SERVICE), *(("scope", s) for s in scopes)]
        response = self.http.get("/auth/token", params=params, headers=headers)
        assert response.status_code == 200, response.text
        return str(response.json()["token"])

    def auth(self, *scopes: str, user: str | None = "alice.test") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(*scopes, user=user)}"}

    def push_auth(self, name: str, user: str | None = "alice.test") -> dict[str, str]:
        return self.auth(f"repository:{name}:pull,push,delete", user=user)


OWNERS = [
    Owner(ALICE_DID, "alice.test", "http://pds.test"),
    Owner(BOB_DID, "bob.test", "http://pds.test"),
    Owner(CAROL_DID, "carol.test", "http://pds.test"),
]


@contextmanager
def running_registry(
    tmp: Path, faults: frozenset[str] = frozenset(), clock: Any = None
) -> Iterator[RunningRegistry]:
    with ExitStack() as stack:
        blob_root = tmp / "holds"
        blob_root.mkdir(parents=True, exist_ok=True)
        blob_url = stack.enter_context(serve_in_thread(blob_server_app(blob_root)))
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        owners = MemoryOwners(OWNERS)
        sessions = MemorySessions({ALICE_DID, BOB_DID})
        manifests = MemoryManifests()
        blobs = DirectoryBlobs(blob_root, blob_url)
        ports = RegistryPorts(owners, MemoryCredentials(OWNERS), sessions, manifests, blobs)
        extra: dict[str, Any] = {"clock": clock} if clock is not None else {}
        settings = RegistrySettings(
            base_url=url,
            service_name=SERVICE,
            signing_key=ec.generate_private_key(ec.SECP256R1()),
            spool_dir=tmp / "uploads",
            faults=faults,
            **extra,
        )
        app = create_registry_app(ports, settings)
        stack.enter_context(serve_in_thread(app, port=port))
        http = stack.enter_context(httpx.Client(base_url=url, timeout=30))
        yield RunningRegistry(
            url, ports, manifests, blobs, owners, sessions, settings, tmp / "uploads", http
        )


def oci_manifest(
    config: tuple[str, int],
    layers: list[tuple[str, int]],
    subject: tuple[str, int, str] | None = None,
    artifact_type: str | None = None,
) -> bytes:
    import json

    body: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": config[0],
            "size": config[1],
        },
        "layers": [
            {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": d, "size": s}
            for d, s in layers
        ],
    }
    if subject is not None:
        body["subject"] = {"mediaType": subject[2], "digest": subject[0], "size": subject[1]}
    if artifact_type is not None:
        body["artifactType"] = artifact_type
    return json.dumps(body, indent=1).encode()


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def errors_of(response: httpx.Response) -> list[str]:
    """The OCI error codes of a response (asserting the body has the spec's shape)."""
    assert response.headers["content-type"].startswith("application/json"), response.text
    body = response.json()
    assert set(body) == {"errors"}
    for error in body["errors"]:
        assert set(error) == {"code", "message", "detail"}
    return [error["code"] for error in body["errors"]]


def push_blob(reg: RunningRegistry, name: str, data: bytes, headers: dict[str, str]) -> str:
    digest = sha256(data)
    response = reg.http.post(
        f"/v2/{name}/blobs/uploads/", params={"digest": digest}, content=data, headers=headers
    )
    assert response.status_code == 201, response.text
    return digest


def push_image(
    reg: RunningRegistry, name: str, tag: str | None, headers: dict[str, str], seed: bytes = b""
) -> tuple[str, bytes]:
    """A config and a layer, then the manifest; returns (manifest digest, manifest bytes)."""
    config = push_blob(reg, name, b'{"seed": "%s"}' % seed, headers)
    layer_data = b"layer-" + seed
    layer = push_blob(reg, name, layer_data, headers)
    content = oci_manifest((config, len(b'{"seed": "%s"}' % seed)), [(layer, len(layer_data))])
    response = reg.http.put(
        f"/v2/{name}/manifests/{tag or sha256(content)}",
        content=content,
        headers={**headers, "Content-Type": "application/vnd.oci.image.manifest.v1+json"},
    )
    assert response.status_code == 201, response.text
    return sha256(content), content
