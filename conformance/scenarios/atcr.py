"""Probes for the ATCR requirements (ATCR-AUTH/OAUTH/REC/HOLD/CONC-*): what the harness sends to
an ATCR AppView, its hold and the owners' PDSes, and what came back (docs/atcr.md).

Scenarios never decide; ``conformance.checks.atcr`` judges what they return. ``Probe.case``
describes what was sent in words and never holds a password or token. Everything reaches the
target over HTTP through the clients the suite hands in (recorded, so they are evidence).

Also here, because scenarios, checks and real-client drivers share them: the blob CID of a
digest (:func:`digest_to_cid`), the did:web → URL rule with its loopback exception
(:func:`did_web_url`), OCI error codes of a response (:func:`oci_error_codes`) and JWT parts
(:func:`jwt_parts`).
"""

from __future__ import annotations

import base64
import concurrent.futures
import hashlib
import json
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlencode, urlsplit

import httpx

from conformance.clients.oci import RegistryClient, location_of, parse_challenge
from conformance.clients.oci_images import Blob, Manifest, image, random_bytes
from conformance.clients.pds import BearerAuth, PdsClient, Session
from conformance.redact import Redactor
from conformance.scenarios.base import Probe, body_of, json_body

MANIFEST_COLLECTION = "io.atcr.manifest"
TAG_COLLECTION = "io.atcr.tag"
PROFILE_COLLECTION = "io.atcr.sailor.profile"
CAPTAIN_COLLECTION = "io.atcr.hold.captain"
ATCR_COLLECTIONS = (MANIFEST_COLLECTION, TAG_COLLECTION)

INITIATE = "io.atcr.hold.initiateUpload"
PART_URL = "io.atcr.hold.getPartUploadUrl"
UPLOAD_PART = "io.atcr.hold.uploadPart"
COMPLETE = "io.atcr.hold.completeUpload"
ABORT = "io.atcr.hold.abortUpload"
GET_BLOB = "com.atproto.sync.getBlob"

# Outage probes give up after this long, so a hanging target is reported, not waited for
# (ATCR-HOLD-04 allows 10 s; the margin keeps slow-but-conforming answers apart from hangs).
OUTAGE_CLIENT_TIMEOUT_S = 15.0
# Smallest part S3 accepts for any part but the last; holds on S3 need parts at least this big.
MIN_MULTIPART_PART = 5 * 1024 * 1024
LIST_PAGE_LIMIT = 100
MAX_LIST_PAGES = 50


# --- pure helpers ---------------------------------------------------------------------------------

_B32 = "abcdefghijklmnopqrstuvwxyz234567"
_MULTIHASH = {"sha256": (0x12, 32), "sha512": (0x13, 64)}


def _base32_lower(data: bytes) -> str:
    """RFC 4648 base32, lower case, no padding (the multibase ``b`` alphabet)."""
    bits = 0
    value = 0
    out: list[str] = []
    for byte in data:
        value = (value << 8) | byte
        bits += 8
        while bits >= 5:
            bits -= 5
            out.append(_B32[(value >> bits) & 31])
    if bits:
        out.append(_B32[(value << (5 - bits)) & 31])
    return "".join(out)


def digest_to_cid(digest: str) -> str:
    """The CIDv1 ``raw`` (0x55) whose multihash is ``digest``, base32 multibase (docs/atcr.md,
    "Digests and blob CIDs"): how a hold names a blob in ``com.atproto.sync.getBlob``."""
    algorithm, _, hex_part = digest.partition(":")
    if algorithm not in _MULTIHASH:
        raise ValueError(f"unsupported digest algorithm {algorithm!r}")
    code, length = _MULTIHASH[algorithm]
    raw = bytes.fromhex(hex_part)
    if len(raw) != length or hex_part != hex_part.lower():
        raise ValueError(f"malformed {algorithm} digest")
    # version 1, codec raw, multihash code, length: all single-byte varints for these values.
    return "b" + _base32_lower(bytes((0x01, 0x55, code, length)) + raw)


def did_web_url(did: str) -> str | None:
    """The origin a ``did:web`` resolves to: https, except http for loopback hosts."""
    if not did.startswith("did:web:"):
        return None
    parts = did[len("did:web:") :].split(":")
    host = unquote(parts[0])
    hostname = urlsplit(f"//{host}").hostname or ""
    scheme = "http" if hostname in ("localhost", "127.0.0.1", "::1") else "https"
    path = "/".join(unquote(p) for p in parts[1:])
    return f"{scheme}://{host}" + (f"/{path}" if path else "")


def did_web_document_url(did: str) -> str | None:
    base = did_web_url(did)
    if base is None:
        return None
    return base + ("/did.json" if urlsplit(base).path else "/.well-known/did.json")


def digest_of(data: bytes, algorithm: str = "sha256") -> str:
    return f"{algorithm}:{hashlib.new(algorithm, data).hexdigest()}"


def oci_error_codes(response: httpx.Response | None) -> tuple[str, ...]:
    """The ``code``s of an OCI error body ``{"errors": [{"code", ...}]}``, in order."""
    if response is None:
        return ()
    body = json_body(response)
    errors = body.get("errors") if isinstance(body, dict) else None
    if not isinstance(errors, list):
        return ()
    return tuple(
        e["code"] for e in errors if isinstance(e, dict) and isinstance(e.get("code"), str)
    )


def oci_error_messages(response: httpx.Response | None) -> tuple[str, ...]:
    if response is None:
        return ()
    body = json_body(response)
    errors = body.get("errors") if isinstance(body, dict) else None
    if not isinstance(errors, list):
        return ()
    return tuple(
        str(e.get("message", "")) for e in errors if isinstance(e, dict)
    )


def _b64url_decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def _b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def jwt_parts(token: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """(header, claims) of a compact JWS, unverified; None when it is not one."""
    pieces = token.split(".")
    if len(pieces) != 3:
        return None
    try:
        header = json.loads(_b64url_decode(pieces[0]))
        claims = json.loads(_b64url_decode(pieces[1]))
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        return None
    return header, claims


def tamper_signature(token: str) -> str:
    """The same token with its signature's first byte flipped."""
    head, payload, signature = token.split(".")
    raw = bytearray(_b64url_decode(signature))
    raw[0] ^= 0xFF
    return f"{head}.{payload}.{_b64url_encode(bytes(raw))}"


def tamper_claims(token: str, **changes: Any) -> str:
    """The token with claims changed and the original signature kept (so it no longer matches).

    The harness cannot re-sign a registry token, so an "expired" token is this: ``exp`` in the
    past under a signature made for other claims. A server must refuse it either way."""
    head, _payload, signature = token.split(".")
    parts = jwt_parts(token)
    claims = dict(parts[1]) if parts else {}
    claims.update(changes)
    encoded = _b64url_encode(json.dumps(claims, separators=(",", ":")).encode("utf-8"))
    return f"{head}.{encoded}.{signature}"


def unsigned_token(token: str) -> str:
    """The token's claims under ``alg: none`` with no signature."""
    parts = jwt_parts(token)
    claims = parts[1] if parts else {}
    head = _b64url_encode(json.dumps({"alg": "none", "typ": "JWT"}).encode("utf-8"))
    body = _b64url_encode(json.dumps(claims, separators=(",", ":")).encode("utf-8"))
    return f"{head}.{body}."


def unique_suffix() -> str:
    return os.urandom(4).hex()


def repository_path(name: str) -> str:
    """``<owner>/<path>`` -> ``<path>`` (what the records' ``repository`` field holds)."""
    return name.split("/", 1)[1] if "/" in name else name


# --- who pushes ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class AtcrUser:
    """An account as the ATCR suite uses it: handle, DID and password (never shown)."""

    handle: str
    did: str
    password: str = field(repr=False)

    def repo(self, path: str) -> str:
        return f"{self.handle}/{path}"


@dataclass(frozen=True)
class Registry:
    """An ATCR AppView as seen by one user (``client`` carries that user's RegistryAuth)."""

    client: RegistryClient
    user: AtcrUser | None = None


# --- pushing --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BlobPush:
    blob: Blob
    start: Probe
    finish: Probe | None  # None when the session did not open

    @property
    def last(self) -> Probe:
        return self.finish if self.finish is not None else self.start


@dataclass(frozen=True)
class ImagePush:
    name: str
    tag: str | None
    manifest: Manifest
    blobs: tuple[BlobPush, ...]
    manifest_put: Probe | None  # None when a blob upload failed first
    elapsed_s: float = 0.0

    @property
    def probes(self) -> tuple[Probe, ...]:
        out: list[Probe] = []
        for b in self.blobs:
            out.append(b.start)
            if b.finish is not None:
                out.append(b.finish)
        if self.manifest_put is not None:
            out.append(self.manifest_put)
        return tuple(out)

    @property
    def ok(self) -> bool:
        return self.manifest_put is not None and self.manifest_put.response.status_code == 201


def push_blob(registry: RegistryClient, name: str, blob: Blob) -> BlobPush:
    """POST an upload session, then PUT the whole blob to its Location (end-4b): what docker
    does for each layer."""
    start = registry.start_upload(name)
    start_probe = Probe(f"upload session POST for {name} ({blob.size} bytes)", start)
    location = location_of(start) if start.status_code == 202 else None
    if location is None:
        return BlobPush(blob, start_probe, None)
    finish = registry.finish_upload(location, blob.digest, blob.data)
    return BlobPush(blob, start_probe, Probe(f"upload PUT of {blob.digest} to {name}", finish))


def push_image(
    registry: RegistryClient,
    name: str,
    manifest: Manifest,
    tag: str | None = "latest",
    *,
    concurrent_blobs: bool = False,
) -> ImagePush:
    """Every blob (one session each; concurrently like docker when asked), then the manifest
    by tag (or by digest when ``tag`` is None)."""
    started = time.monotonic()
    if concurrent_blobs and len(manifest.blobs) > 1:
        with concurrent.futures.ThreadPoolExecutor(max_workers=len(manifest.blobs)) as pool:
            blobs = tuple(pool.map(lambda b: push_blob(registry, name, b), manifest.blobs))
    else:
        blobs = tuple(push_blob(registry, name, b) for b in manifest.blobs)
    if any(b.finish is None or b.finish.response.status_code != 201 for b in blobs):
        return ImagePush(name, tag, manifest, blobs, None, time.monotonic() - started)
    reference = tag if tag is not None else manifest.digest
    put = registry.put_manifest(name, reference, manifest.content, manifest.media_type)
    probe = Probe(f"manifest PUT {name}:{reference}", put)
    return ImagePush(name, tag, manifest, blobs, probe, time.monotonic() - started)


def small_image(layers: int = 2, layer_size: int = 2048) -> Manifest:
    return image([random_bytes(layer_size) for _ in range(layers)])


# --- records in the PDS --------------------------------------------------------------------------


@dataclass(frozen=True)
class RecordListing:
    """Every record of one collection in one repo (all pages), and the pages fetched."""

    did: str
    collection: str
    records: tuple[Mapping[str, Any], ...]
    pages: tuple[Probe, ...]

    @property
    def complete(self) -> bool:
        return all(p.response.status_code == 200 for p in self.pages)

    def values(self) -> tuple[Mapping[str, Any], ...]:
        return tuple(r.get("value", {}) for r in self.records if isinstance(r.get("value"), dict))

    def uris(self) -> frozenset[str]:
        return frozenset(str(r.get("uri")) for r in self.records)


def list_collection(pds: PdsClient, did: str, collection: str) -> RecordListing:
    """All records of ``collection`` in ``did``'s repo, unauthenticated (records are public)."""
    records: list[Mapping[str, Any]] = []
    pages: list[Probe] = []
    cursor: str | None = None
    for _ in range(MAX_LIST_PAGES):
        response = pds.list_records(did, collection, limit=LIST_PAGE_LIMIT, cursor=cursor)
        pages.append(Probe(f"listRecords {collection} of {did}", response))
        body = body_of(response)
        if body is None:
            break
        page = [r for r in body.get("records", []) if isinstance(r, dict)]
        records.extend(page)
        next_cursor = body.get("cursor")
        if not page or not isinstance(next_cursor, str) or next_cursor == cursor:
            break
        cursor = next_cursor
    return RecordListing(did, collection, tuple(records), tuple(pages))


@dataclass(frozen=True)
class RecordSnapshot:
    """io.atcr.manifest and io.atcr.tag of several repos at one moment."""

    listings: tuple[RecordListing, ...]

    def uris(self, did: str) -> frozenset[str]:
        out: set[str] = set()
        for listing in self.listings:
            if listing.did == did:
                out |= listing.uris()
        return frozenset(out)

    def listing(self, did: str, collection: str) -> RecordListing | None:
        for listing in self.listings:
            if listing.did == did and listing.collection == collection:
                return listing
        return None


def snapshot_records(pds: PdsClient, dids: Sequence[str]) -> RecordSnapshot:
    return RecordSnapshot(
        tuple(list_collection(pds, did, c) for did in dids for c in ATCR_COLLECTIONS)
    )


# --- ATCR-AUTH-01 --------------------------------------------------------------------------------


def probe_base_unauthenticated(http: httpx.Client, registry_url: str) -> Probe:
    return Probe("GET /v2/ without credentials", http.get(f"{registry_url.rstrip('/')}/v2/"))


# --- ATCR-AUTH-02 --------------------------------------------------------------------------------


def basic_header(username: str, password: str, redactor: Redactor) -> str:
    encoded = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
    redactor.add(password)
    redactor.add(encoded)
    return f"Basic {encoded}"


def request_token(
    http: httpx.Client,
    realm: str,
    *,
    service: str | None,
    scopes: Sequence[str],
    username: str | None,
    password: str | None,
    redactor: Redactor,
) -> httpx.Response:
    """``GET <realm>?service=&scope=…`` as docker does; registers any token it gets back."""
    params: list[tuple[str, str | int | float | bool | None]] = (
        [("service", service)] if service else []
    )
    params += [("scope", s) for s in scopes]
    headers = {}
    if username is not None and password is not None:
        headers["Authorization"] = basic_header(username, password, redactor)
    response = http.get(realm, params=params, headers=headers)
    body = json_body(response)
    if isinstance(body, dict):
        for key in ("token", "access_token", "refresh_token"):
            if isinstance(body.get(key), str):
                redactor.add(body[key])
    return response


@dataclass(frozen=True)
class TokenProbes:
    """ATCR-AUTH-02: tokens for the user's own repository (by handle and by DID as username),
    one asking push on another user's repository, and the JWKS that must verify them."""

    service: str | None
    own_repo: str
    other_repo: str
    by_handle: Probe
    by_did: Probe
    other: Probe
    jwks: Probe


def realm_of(registry_url: str) -> str:
    return f"{registry_url.rstrip('/')}/auth/token"


def probe_tokens(
    http: httpx.Client,
    registry_url: str,
    *,
    service: str | None,
    user: AtcrUser,
    own_repo: str,
    other_repo: str,
    redactor: Redactor,
) -> TokenProbes:
    realm = realm_of(registry_url)

    def ask(username: str, repo: str, label: str) -> Probe:
        scope = f"repository:{repo}:pull,push"
        response = request_token(
            http, realm, service=service, scopes=[scope], username=username,
            password=user.password, redactor=redactor,
        )
        return Probe(f"token for {scope} with Basic {label}", response)

    return TokenProbes(
        service=service,
        own_repo=own_repo,
        other_repo=other_repo,
        by_handle=ask(user.handle, own_repo, "handle + password"),
        by_did=ask(user.did, own_repo, "DID + password"),
        other=ask(user.handle, other_repo, "handle + password (another user's repository)"),
        jwks=Probe("GET /auth/jwks", http.get(f"{registry_url.rstrip('/')}/auth/jwks")),
    )


def challenge_service(response: httpx.Response) -> str | None:
    """The ``service`` of a registry's Bearer challenge, when it gives one."""
    challenge = parse_challenge(response.headers.get("www-authenticate"))
    return None if challenge is None else challenge.params.get("service")


# --- ATCR-AUTH-03 --------------------------------------------------------------------------------


@dataclass(frozen=True)
class CrossNamespaceProbes:
    """ATCR-AUTH-03: a wrong password at the realm; user A writing into user B's namespace
    (blob session and manifest PUT, blobs already in the hold); records before and after."""

    wrong_password: Probe
    own_blobs: tuple[BlobPush, ...]  # A's blobs pushed to A's own repo first (the control)
    upload_other: Probe
    manifest_other: Probe
    before: RecordSnapshot
    after: RecordSnapshot


def probe_cross_namespace(
    http: httpx.Client,
    registry_url: str,
    registry_a: RegistryClient,
    pds: PdsClient,
    *,
    service: str | None,
    user_a: AtcrUser,
    user_b: AtcrUser,
    redactor: Redactor,
) -> CrossNamespaceProbes:
    suffix = unique_suffix()
    wrong = request_token(
        http, realm_of(registry_url), service=service,
        scopes=[f"repository:{user_a.repo('atconform-auth')}:pull,push"],
        username=user_a.handle, password=f"wrong-password-{suffix}",
        redactor=redactor,
    )
    manifest = small_image(2)
    own_name = user_a.repo(f"atconform-own-{suffix}")
    own_blobs = tuple(push_blob(registry_a, own_name, b) for b in manifest.blobs)
    before = snapshot_records(pds, [user_a.did, user_b.did])
    other_name = user_b.repo(f"atconform-intrude-{suffix}")
    upload = registry_a.start_upload(other_name)
    put = registry_a.put_manifest(other_name, "latest", manifest.content, manifest.media_type)
    after = snapshot_records(pds, [user_a.did, user_b.did])
    return CrossNamespaceProbes(
        wrong_password=Probe("token request with a wrong password", wrong),
        own_blobs=own_blobs,
        upload_other=Probe(f"{user_a.handle} opening an upload session in {other_name}", upload),
        manifest_other=Probe(f"{user_a.handle} putting a manifest into {other_name}", put),
        before=before,
        after=after,
    )


# --- ATCR-AUTH-04 --------------------------------------------------------------------------------


@dataclass(frozen=True)
class TamperedTokenProbes:
    """ATCR-AUTH-04: a valid token (the control) and altered copies, each presented alone."""

    token_response: Probe
    control: Probe | None
    cases: tuple[Probe, ...]


def probe_tampered_tokens(
    http: httpx.Client,
    registry_url: str,
    *,
    service: str | None,
    user: AtcrUser,
    repo: str,
    redactor: Redactor,
) -> TamperedTokenProbes:
    response = request_token(
        http, realm_of(registry_url), service=service, scopes=[f"repository:{repo}:pull"],
        username=user.handle, password=user.password, redactor=redactor,
    )
    body = body_of(response)
    token = body.get("token") if body else None
    probe = Probe(f"token for repository:{repo}:pull", response)
    if not isinstance(token, str) or jwt_parts(token) is None:
        return TamperedTokenProbes(probe, None, ())
    url = f"{registry_url.rstrip('/')}/v2/{repo}/tags/list"

    def send(bearer: str, case: str) -> Probe:
        redactor.add(bearer)
        return Probe(case, http.get(url, headers={"Authorization": f"Bearer {bearer}"}))

    past = int(time.time()) - 3600
    variants = (
        (tamper_signature(token), "the token with its signature altered"),
        (
            tamper_claims(token, exp=past, iat=past - 300, nbf=past - 300),
            "the token with exp an hour in the past (claims altered, so the signature no "
            "longer matches: the harness cannot re-sign)",
        ),
        (tamper_claims(token, sub="did:plc:atconformforged"), "the token with sub altered"),
        (unsigned_token(token), "the token's claims under alg none, unsigned"),
    )
    return TamperedTokenProbes(
        probe,
        send(token, "the valid token (control)"),
        tuple(send(t, case) for t, case in variants),
    )


# --- ATCR-OAUTH-01 -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClientMetadataProbes:
    base_url: str
    metadata: Probe
    jwks: Probe | None  # fetched from jwks_uri when the metadata names one


def probe_client_metadata(http: httpx.Client, registry_url: str) -> ClientMetadataProbes:
    base = registry_url.rstrip("/")
    response = http.get(f"{base}/client-metadata.json")
    metadata = Probe("GET /client-metadata.json", response)
    body = json_body(response)
    jwks_uri = body.get("jwks_uri") if isinstance(body, dict) else None
    jwks = None
    if response.status_code == 200 and isinstance(jwks_uri, str) and jwks_uri.startswith("http"):
        jwks = Probe(f"GET jwks_uri {jwks_uri}", http.get(jwks_uri))
    return ClientMetadataProbes(base, metadata, jwks)


# --- ATCR-OAUTH-03 -------------------------------------------------------------------------------


@dataclass(frozen=True)
class NoSessionProbes:
    """ATCR-OAUTH-03: an account never logged in to the AppView gets a push token (what
    ``docker login`` checks) but its pushes are refused."""

    token: Probe
    upload: Probe
    manifest: Probe


def probe_no_session_push(
    http: httpx.Client,
    registry_url: str,
    *,
    service: str | None,
    user: AtcrUser,
    redactor: Redactor,
) -> NoSessionProbes:
    """The token is presented as is (no challenge-answering client): a client that retried
    the 401 with another token would hide the answer being judged."""
    name = user.repo(f"atconform-nosession-{unique_suffix()}")
    token_response = request_token(
        http, realm_of(registry_url), service=service, scopes=[f"repository:{name}:pull,push"],
        username=user.handle, password=user.password, redactor=redactor,
    )
    body = body_of(token_response)
    token = body.get("token") if body else None
    bearer = {"Authorization": f"Bearer {token}"} if isinstance(token, str) else {}
    manifest = small_image(1)
    base = f"{registry_url.rstrip('/')}/v2/{name}"
    upload = http.post(f"{base}/blobs/uploads/", headers={**bearer, "Content-Length": "0"})
    put = http.put(f"{base}/manifests/latest", content=manifest.content,
                   headers={**bearer, "Content-Type": manifest.media_type})
    return NoSessionProbes(
        token=Probe(f"token for repository:{name}:pull,push (as docker login)", token_response),
        upload=Probe(f"upload session POST to {name} with that token", upload),
        manifest=Probe(f"manifest PUT to {name} with that token", put),
    )


# --- ATCR-REC-01 / 04 ----------------------------------------------------------------------------


@dataclass(frozen=True)
class HoldIdentity:
    document: Probe
    did: str | None


def probe_hold_identity(http: httpx.Client, hold_url: str) -> HoldIdentity:
    response = http.get(f"{hold_url.rstrip('/')}/.well-known/did.json")
    body = json_body(response)
    did = body.get("id") if isinstance(body, dict) and response.status_code == 200 else None
    return HoldIdentity(Probe("GET hold /.well-known/did.json", response), did if isinstance(
        did, str) else None)


@dataclass(frozen=True)
class PushedRecords:
    """ATCR-REC-01: a push and the owner's records afterwards."""

    user: AtcrUser
    push: ImagePush
    manifests: RecordListing
    tags: RecordListing
    hold: HoldIdentity


def probe_push_records(
    registry: RegistryClient, pds: PdsClient, http: httpx.Client, hold_url: str, user: AtcrUser
) -> PushedRecords:
    name = user.repo(f"atconform-rec-{unique_suffix()}")
    push = push_image(registry, name, small_image(2), "v1")
    return PushedRecords(
        user,
        push,
        list_collection(pds, user.did, MANIFEST_COLLECTION),
        list_collection(pds, user.did, TAG_COLLECTION),
        probe_hold_identity(http, hold_url),
    )


@dataclass(frozen=True)
class RoundTrip:
    """ATCR-REC-04: the pushed manifest pulled back by tag and by digest."""

    push: ImagePush
    by_tag: Probe | None
    by_digest: Probe | None


def probe_round_trip(registry: RegistryClient, user: AtcrUser) -> RoundTrip:
    name = user.repo(f"atconform-bytes-{unique_suffix()}")
    push = push_image(registry, name, small_image(2), "v1")
    if not push.ok:
        return RoundTrip(push, None, None)
    media = push.manifest.media_type
    return RoundTrip(
        push,
        Probe(f"GET {name}:v1", registry.get_manifest(name, "v1", accept=media)),
        Probe(f"GET {name}@{push.manifest.digest}",
              registry.get_manifest(name, push.manifest.digest, accept=media)),
    )


# --- ATCR-REC-02 ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class UnknownPulls:
    push: ImagePush  # an existing repository (the control)
    unknown_tag: Probe | None
    unknown_digest: Probe | None
    unknown_repo: Probe


def probe_unknown_pulls(registry: RegistryClient, user: AtcrUser) -> UnknownPulls:
    suffix = unique_suffix()
    name = user.repo(f"atconform-known-{suffix}")
    push = push_image(registry, name, small_image(1), "v1")
    missing_digest = digest_of(os.urandom(32))
    empty = user.repo(f"atconform-never-pushed-{suffix}")
    tag_probe = digest_probe = None
    if push.ok:
        tag_probe = Probe(f"GET {name}:no-such-tag-{suffix}",
                          registry.get_manifest(name, f"no-such-tag-{suffix}"))
        digest_probe = Probe(f"GET {name}@<random digest>",
                             registry.get_manifest(name, missing_digest))
    return UnknownPulls(
        push, tag_probe, digest_probe,
        Probe(f"GET {empty}:latest (repository never pushed)",
              registry.get_manifest(empty, "latest")),
    )


# --- ATCR-REC-03 ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class TagDeletion:
    push: ImagePush
    tag: str
    before_list: Probe | None
    before_pull: Probe | None
    tag_record_uri: str | None
    delete: Probe | None
    after_list: Probe | None
    after_pull: Probe | None


def find_tag_record(listing: RecordListing, path: str, tag: str) -> Mapping[str, Any] | None:
    for record in listing.records:
        value = record.get("value")
        if isinstance(value, dict) and value.get("repository") == path and value.get("tag") == tag:
            return record
    return None


def probe_tag_deletion(
    registry: RegistryClient, pds: PdsClient, user: AtcrUser, session: Session
) -> TagDeletion:
    """Push a tag, read it through the registry (a cache would now hold it), delete its
    io.atcr.tag record straight in the PDS, read again."""
    name = user.repo(f"atconform-untag-{unique_suffix()}")
    tag = "doomed"
    push = push_image(registry, name, small_image(1), tag)
    if not push.ok:
        return TagDeletion(push, tag, None, None, None, None, None, None)
    before_list = Probe(f"GET {name} tags/list", registry.tags(name))
    before_pull = Probe(f"GET {name}:{tag}", registry.get_manifest(name, tag))
    record = find_tag_record(list_collection(pds, user.did, TAG_COLLECTION),
                             repository_path(name), tag)
    if record is None:
        return TagDeletion(push, tag, before_list, before_pull, None, None, None, None)
    uri = str(record.get("uri"))
    rkey = uri.rsplit("/", 1)[-1]
    delete = pds.delete_record(session, user.did, TAG_COLLECTION, rkey)
    return TagDeletion(
        push, tag, before_list, before_pull, uri,
        Probe(f"deleteRecord {TAG_COLLECTION}/{rkey} in the owner's PDS", delete),
        Probe(f"GET {name} tags/list after the deletion", registry.tags(name)),
        Probe(f"GET {name}:{tag} after the deletion", registry.get_manifest(name, tag)),
    )


# --- ATCR-HOLD-01 / 02 / 03 ----------------------------------------------------------------------


@dataclass(frozen=True)
class BlobPlacement:
    """ATCR-HOLD-02: where a pushed layer went and how the AppView serves it."""

    push: ImagePush
    blob: Blob | None
    profile: Probe
    expected_hold_did: str | None
    expected_hold_url: str | None
    appview_get: Probe | None
    followed: Probe | None  # the redirect target, when the AppView redirected
    hold_get: Probe | None


def hold_blob_url(hold_url: str, hold_did: str, digest: str) -> str:
    # The DID of a hold on a port holds "%3A": it must be percent-encoded again in a query.
    query = urlencode({"did": hold_did, "cid": digest_to_cid(digest)})
    return f"{hold_url.rstrip('/')}/xrpc/{GET_BLOB}?{query}"


def resolve_hold_url(http: httpx.Client, hold_did: str) -> str | None:
    """A hold's service endpoint, from its did:web document."""
    url = did_web_document_url(hold_did)
    if url is None:
        return None
    try:
        response = http.get(url)
    except httpx.HTTPError:
        return None
    body = json_body(response)
    for service in body.get("service", []) if isinstance(body, dict) else []:
        if isinstance(service, dict) and isinstance(service.get("serviceEndpoint"), str):
            return str(service["serviceEndpoint"])
    return None


def probe_blob_placement(
    registry: RegistryClient,
    pds: PdsClient,
    http: httpx.Client,
    user: AtcrUser,
    *,
    default_hold_did: str | None,
    default_hold_url: str,
) -> BlobPlacement:
    name = user.repo(f"atconform-place-{unique_suffix()}")
    push = push_image(registry, name, small_image(2, 4096), "v1")
    profile = Probe(
        f"getRecord {PROFILE_COLLECTION}/self of {user.handle}",
        pds.get_record(user.did, PROFILE_COLLECTION, "self"),
    )
    if not push.ok:
        return BlobPlacement(push, None, profile, None, None, None, None, None)
    profile_body = body_of(profile.response)
    value = profile_body.get("value") if profile_body else None
    named = value.get("defaultHold") if isinstance(value, dict) else None
    hold_did = named if isinstance(named, str) and named else default_hold_did
    hold_url = default_hold_url if hold_did == default_hold_did else (
        resolve_hold_url(http, hold_did) if hold_did else None
    )
    layer = push.manifest.blobs[-1]
    appview = registry.get_blob(name, layer.digest, follow_redirects=False)
    followed = None
    if appview.status_code in (301, 302, 303, 307, 308):
        target = location_of(appview)
        if target:
            followed = Probe("GET the blob's redirect target", http.get(target))
    hold_get = None
    if hold_did and hold_url:
        hold_get = Probe(
            f"getBlob of the layer at hold {hold_did}",
            http.get(hold_blob_url(hold_url, hold_did, layer.digest)),
        )
    return BlobPlacement(
        push, layer, profile, hold_did, hold_url,
        Probe(f"GET {name} blob {layer.digest} via the AppView", appview), followed, hold_get,
    )


@dataclass(frozen=True)
class CrewProbes:
    """ATCR-HOLD-03: the hold's captain record; a non-crew user's push; an unauthenticated read
    of a crew member's blob."""

    captain: Probe
    hold_did: str | None
    outsider_push: BlobPush | None
    outsider_blob_in_hold: Probe | None
    crew_push: BlobPush | None
    anonymous_read: Probe | None


def captain_settings(captain: Probe) -> tuple[bool | None, bool | None]:
    """(public, allowAllCrew) from a captain getRecord answer."""
    body = body_of(captain.response)
    value = body.get("value") if body else None
    if not isinstance(value, dict):
        return None, None
    public = value.get("public")
    allow = value.get("allowAllCrew")
    return (public if isinstance(public, bool) else None,
            allow if isinstance(allow, bool) else None)


def probe_crew(
    http: httpx.Client,
    hold_url: str,
    registry_crew: RegistryClient,
    registry_outsider: RegistryClient | None,
    crew: AtcrUser,
    outsider: AtcrUser | None,
) -> CrewProbes:
    hold = probe_hold_identity(http, hold_url)
    did = hold.did
    base = hold_url.rstrip("/")
    captain = Probe(
        f"getRecord {CAPTAIN_COLLECTION}/self of the hold",
        http.get(f"{base}/xrpc/com.atproto.repo.getRecord",
                 params={"repo": did or "", "collection": CAPTAIN_COLLECTION, "rkey": "self"}),
    )
    public, allow_all = captain_settings(captain)
    outsider_push = in_hold = None
    if registry_outsider is not None and outsider is not None and allow_all is False:
        blob = Blob(random_bytes(1024))
        outsider_push = push_blob(
            registry_outsider, outsider.repo(f"atconform-notcrew-{unique_suffix()}"), blob)
        if did:
            in_hold = Probe("getBlob of the non-crew user's blob",
                            http.get(hold_blob_url(hold_url, did, blob.digest)))
    crew_push = anonymous = None
    if public is True and did:
        blob = Blob(random_bytes(1024))
        crew_push = push_blob(registry_crew, crew.repo(f"atconform-public-{unique_suffix()}"), blob)
        # A fresh client: no credentials, no cookies, nothing but the URL.
        with httpx.Client(timeout=30.0, event_hooks=http.event_hooks) as anon:
            anonymous = Probe("unauthenticated getBlob of a crew member's blob",
                              anon.get(hold_blob_url(hold_url, did, blob.digest)))
    return CrewProbes(captain, did, outsider_push, in_hold, crew_push, anonymous)


# --- ATCR-HOLD-04 --------------------------------------------------------------------------------


@dataclass(frozen=True)
class TimedProbe:
    """A request that may not come back: the response (None on a client timeout or a refused
    connection), how long it took, and the transport error in words."""

    case: str
    response: httpx.Response | None
    elapsed_s: float
    error: str | None = None


def timed(case: str, send: Callable[[], httpx.Response]) -> TimedProbe:
    started = time.monotonic()
    try:
        response = send()
    except httpx.TimeoutException:
        return TimedProbe(case, None, time.monotonic() - started, "no answer before the client "
                          f"timeout ({OUTAGE_CLIENT_TIMEOUT_S:g} s)")
    except httpx.HTTPError as exc:
        return TimedProbe(case, None, time.monotonic() - started, f"{type(exc).__name__}: {exc}")
    return TimedProbe(case, response, time.monotonic() - started)


@dataclass(frozen=True)
class OutageProbes:
    warmup: BlobPush  # a blob pushed while the hold is up (the one pulled during the outage)
    push_during: tuple[TimedProbe, ...]
    head_during: TimedProbe | None
    get_during: TimedProbe | None
    push_after: BlobPush | None
    # The closing PUT of a push begun (POST + first PATCH) while the hold was still up.
    finish_mid_push: TimedProbe | None = None
    # The warm-up blob pulled once the hold is back: an acknowledged push survives the outage.
    warm_after: Probe | None = None


def timed_push(registry: RegistryClient, name: str, blob: Blob) -> tuple[TimedProbe, ...]:
    start = timed(f"upload session POST to {name} with the hold down",
                  lambda: registry.start_upload(name))
    if start.response is None or start.response.status_code != 202:
        return (start,)
    location = location_of(start.response)
    if location is None:
        return (start,)
    finish = timed(f"upload PUT of {blob.size} bytes to {name} with the hold down",
                   lambda: registry.finish_upload(location, blob.digest, blob.data))
    return (start, finish)


def probe_hold_outage(
    registry: RegistryClient,
    user: AtcrUser,
    stop_hold: Callable[[], None],
    start_hold: Callable[[], None],
) -> OutageProbes:
    """Push a blob (hold up), stop the hold, push and pull with a bounded client, start the
    hold again (always), push the same blob again. ``registry``'s client must carry a timeout
    of about :data:`OUTAGE_CLIENT_TIMEOUT_S`."""
    name = user.repo(f"atconform-outage-{unique_suffix()}")
    warm = push_blob(registry, name, Blob(random_bytes(2048)))
    if warm.finish is None or warm.finish.response.status_code != 201:
        return OutageProbes(warm, (), None, None, None)
    blob = Blob(random_bytes(2048))
    mid = Blob(random_bytes(4096))
    begun = begin_push(registry, name, mid.data[:2048])
    stop_hold()
    try:
        finish_mid = None
        if begun is not None:
            finish_mid = timed(
                f"upload PUT finishing a push to {name} begun before the hold went down",
                lambda: registry.finish_upload(begun, mid.digest, mid.data[2048:]),
            )
        during = timed_push(registry, name, blob)
        head = timed(f"HEAD {name} blob with the hold down",
                     lambda: registry.request("HEAD", f"/v2/{name}/blobs/{warm.blob.digest}"))
        get = timed(f"GET {name} blob with the hold down",
                    lambda: registry.get_blob(name, warm.blob.digest, follow_redirects=False))
    finally:
        start_hold()
    after = push_blob(registry, name, blob)
    kept = Probe(f"GET {name} blob pushed before the outage, after it",
                 registry.get_blob(name, warm.blob.digest))
    return OutageProbes(warm, during, head, get, after, finish_mid, kept)


def begin_push(registry: RegistryClient, name: str, first_chunk: bytes) -> str | None:
    """POST an upload session and PATCH its first chunk; the session's location, or None when
    the registry refused either step (the outage probe then has no mid-push case)."""
    start = registry.start_upload(name)
    location = location_of(start) if start.status_code == 202 else None
    if location is None:
        return None
    patched = registry.patch_chunk(location, first_chunk, f"0-{len(first_chunk) - 1}")
    if patched.status_code != 202:
        return None
    return location_of(patched) or location


# --- ATCR-HOLD-05 --------------------------------------------------------------------------------


@dataclass(frozen=True)
class MultipartRun:
    """One multipart upload driven by hand; every call's probe, in order."""

    label: str
    digest: str
    probes: tuple[Probe, ...]
    upload_id: str | None
    etags: tuple[str, ...]
    complete: Probe | None
    fetch: Probe | None


@dataclass(frozen=True)
class MultipartProbes:
    hold_did: str | None
    identity: Probe
    good: MultipartRun | None
    good_data_digest: str
    wrong: MultipartRun | None
    aborted: MultipartRun | None
    abort: Probe | None
    part_after_abort: Probe | None
    complete_after_abort: Probe | None


class HoldUploader:
    """Drives the hold's multipart XRPC as the AppView would, with service-auth JWTs minted by
    the user's PDS for each method (``lxm``)."""

    def __init__(
        self, http: httpx.Client, pds: PdsClient, session: Session, hold_url: str, hold_did: str
    ) -> None:
        self.http = http
        self.pds = pds
        self.session = session
        self.hold_url = hold_url.rstrip("/")
        self.hold_did = hold_did

    def auth(self, lxm: str) -> BearerAuth:
        token = self.pds.service_auth_token(self.session, self.hold_did, lxm=lxm)
        self.pds.redactor.add(token)
        return BearerAuth(token)

    def call(self, nsid: str, body: Mapping[str, Any]) -> httpx.Response:
        return self.http.post(f"{self.hold_url}/xrpc/{nsid}", json=dict(body),
                              auth=self.auth(nsid))

    def initiate(self, digest: str, size: int) -> httpx.Response:
        return self.call(INITIATE, {"digest": digest, "size": size,
                                    "mediaType": "application/octet-stream"})

    def send_part(self, upload_id: str, number: int, data: bytes) -> tuple[Probe, ...]:
        """getPartUploadUrl, then the part to the URL it names (the hold's own uploadPart gets
        a service-auth JWT; a presigned storage URL gets nothing extra)."""
        url_response = self.call(PART_URL, {"uploadId": upload_id, "partNumber": number})
        url_probe = Probe(f"getPartUploadUrl part {number}", url_response)
        body = body_of(url_response)
        url = body.get("url") if body else None
        if not isinstance(url, str):
            # No URL: fall back to the hold's uploadPart, which docs/atcr.md always serves.
            url = (f"{self.hold_url}/xrpc/{UPLOAD_PART}?uploadId={upload_id}"
                   f"&partNumber={number}")
        method = str(body.get("method") or "PUT") if body else "PUT"
        extra = body.get("headers") if body else None
        sent_headers = {str(k): str(v) for k, v in extra.items()} if isinstance(extra, dict) \
            else {}
        sent_headers.setdefault("Content-Type", "application/octet-stream")
        auth = self.auth(UPLOAD_PART) if url.startswith(self.hold_url) else None
        part = self.http.request(method, url, content=data, headers=sent_headers,
                                 auth=auth if auth is not None else httpx.USE_CLIENT_DEFAULT)
        return url_probe, Probe(f"part {number} ({len(data)} bytes) {method}", part)

    def fetch(self, digest: str) -> httpx.Response:
        return self.http.get(hold_blob_url(self.hold_url, self.hold_did, digest))


def _etag_of(response: httpx.Response) -> str | None:
    body = body_of(response)
    etag = body.get("etag") if body else None
    if isinstance(etag, str) and etag:
        return etag
    header = response.headers.get("etag")
    return header if header else None


def split_parts(data: bytes, part_size: int) -> tuple[bytes, ...]:
    return tuple(data[i : i + part_size] for i in range(0, len(data), part_size))


def run_multipart(
    uploader: HoldUploader,
    label: str,
    data: bytes,
    claimed_digest: str,
    part_size: int,
) -> MultipartRun:
    probes: list[Probe] = []
    initiate = uploader.initiate(claimed_digest, len(data))
    probes.append(Probe(f"{label}: initiateUpload", initiate))
    body = body_of(initiate)
    upload_id = body.get("uploadId") if body else None
    if not isinstance(upload_id, str):
        return MultipartRun(label, claimed_digest, tuple(probes), None, (), None, None)
    etags: list[str] = []
    for number, chunk in enumerate(split_parts(data, part_size), start=1):
        url_probe, part_probe = uploader.send_part(upload_id, number, chunk)
        probes += [url_probe, part_probe]
        etag = _etag_of(part_probe.response)
        if part_probe.response.status_code >= 300 or etag is None:
            return MultipartRun(label, claimed_digest, tuple(probes), upload_id, tuple(etags),
                                None, None)
        etags.append(etag)
    complete = Probe(f"{label}: completeUpload", uploader.call(COMPLETE, {
        "uploadId": upload_id,
        "digest": claimed_digest,
        "parts": [{"partNumber": n, "etag": e} for n, e in enumerate(etags, start=1)],
    }))
    probes.append(complete)
    fetch = Probe(f"{label}: getBlob of {claimed_digest}", uploader.fetch(claimed_digest))
    probes.append(fetch)
    return MultipartRun(label, claimed_digest, tuple(probes), upload_id, tuple(etags),
                        complete, fetch)


def probe_multipart(
    http: httpx.Client, pds: PdsClient, session: Session, hold_url: str
) -> MultipartProbes:
    """Three uploads straight to the hold: a good one in two parts, one completed with a wrong
    digest, one aborted after its first part."""
    identity = probe_hold_identity(http, hold_url)
    part_size = MIN_MULTIPART_PART
    data = random_bytes(part_size + 4096)
    good_digest = digest_of(data)
    if identity.did is None:
        return MultipartProbes(None, identity.document, None, good_digest, None, None, None,
                               None, None)
    uploader = HoldUploader(http, pds, session, hold_url, identity.did)
    good = run_multipart(uploader, "two-part upload", data, good_digest, part_size)
    # The claimed digest names bytes never sent anywhere, so finding it later means the hold
    # stored the upload under a digest it did not check.
    wrong = run_multipart(uploader, "upload completed with a wrong digest", random_bytes(8192),
                          digest_of(os.urandom(64)), part_size)
    aborted_data = random_bytes(4096)
    aborted_digest = digest_of(aborted_data)
    initiate = uploader.initiate(aborted_digest, len(aborted_data) * 2)
    probes = [Probe("aborted upload: initiateUpload", initiate)]
    body = body_of(initiate)
    upload_id = body.get("uploadId") if body else None
    abort = part_after = complete_after = None
    etags: list[str] = []
    if isinstance(upload_id, str):
        url_probe, part_probe = uploader.send_part(upload_id, 1, aborted_data)
        probes += [url_probe, part_probe]
        etag = _etag_of(part_probe.response)
        if etag:
            etags.append(etag)
        abort = Probe("abortUpload", uploader.call(ABORT, {"uploadId": upload_id}))
        part_after = Probe(
            "uploadPart after abortUpload",
            http.post(f"{uploader.hold_url}/xrpc/{UPLOAD_PART}",
                      params={"uploadId": upload_id, "partNumber": 2}, content=aborted_data,
                      headers={"Content-Type": "application/octet-stream"},
                      auth=uploader.auth(UPLOAD_PART)),
        )
        complete_after = Probe("completeUpload after abortUpload", uploader.call(COMPLETE, {
            "uploadId": upload_id, "digest": aborted_digest,
            "parts": [{"partNumber": 1, "etag": etags[0] if etags else '"0"'}],
        }))
    aborted = MultipartRun("aborted upload", aborted_digest, tuple(probes),
                           upload_id if isinstance(upload_id, str) else None, tuple(etags),
                           None, None)
    return MultipartProbes(identity.did, identity.document, good, good_digest, wrong, aborted,
                           abort, part_after, complete_after)


# --- ATCR-CONC-01 / 02 ---------------------------------------------------------------------------


def probe_concurrent_layers(
    registry: RegistryClient, user: AtcrUser, layers: int = 8
) -> ImagePush:
    """One image of ``layers`` layers, every layer's upload session in its own thread."""
    name = user.repo(f"atconform-conc-{unique_suffix()}")
    manifest = image([random_bytes(16 * 1024) for _ in range(layers)])
    return push_image(registry, name, manifest, "v1", concurrent_blobs=True)


@dataclass(frozen=True)
class RacePush:
    user: AtcrUser
    push: ImagePush
    pull: Probe | None


@dataclass(frozen=True)
class SameTagRace:
    """ATCR-CONC-02: two users pushing the same repository path and tag at the same time."""

    path: str
    tag: str
    pushes: tuple[RacePush, ...]
    records: RecordSnapshot


def probe_same_tag_race(
    pds: PdsClient, pushers: Sequence[tuple[RegistryClient, AtcrUser]]
) -> SameTagRace:
    path = f"atconform-race-{unique_suffix()}"
    tag = "latest"

    def one(pair: tuple[RegistryClient, AtcrUser]) -> RacePush:
        registry, user = pair
        push = push_image(registry, user.repo(path), small_image(2), tag)
        return RacePush(user, push, None)

    with concurrent.futures.ThreadPoolExecutor(max_workers=len(pushers)) as pool:
        raced = list(pool.map(one, pushers))
    out = []
    for (registry, user), race in zip(pushers, raced, strict=True):
        pull = None
        if race.push.ok:
            pull = Probe(f"GET {user.repo(path)}:{tag} after the race",
                         registry.get_manifest(user.repo(path), tag))
        out.append(RacePush(user, race.push, pull))
    records = snapshot_records(pds, [u.did for _, u in pushers])
    return SameTagRace(path, tag, tuple(out), records)
