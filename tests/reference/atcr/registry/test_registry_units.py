"""Unit tests of the pure parts of the registry layer: names, routing, scopes and tokens,
manifest parsing, upload sessions, the error mapping."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
from collections.abc import AsyncIterator
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from registry_support import ALICE_DID, BOB_DID, OWNERS, MemoryOwners

from reference_impl.atcr.appview.ports import (
    BadCredentials,
    BlobDigestMismatch,
    HoldDenied,
    NameUnknown,
    NoOAuthSession,
    Unavailable,
)
from reference_impl.atcr.appview.registry.errors import RegistryError, error_response
from reference_impl.atcr.appview.registry.manifests import (
    DOCKER_LIST,
    DOCKER_MANIFEST,
    MAX_MANIFEST_BYTES,
    OCI_INDEX,
    OCI_MANIFEST,
    manifest_digest,
    parse_manifest,
)
from reference_impl.atcr.appview.registry.names import (
    InvalidName,
    InvalidReference,
    is_valid_tag,
    parse_name,
    parse_reference,
)
from reference_impl.atcr.appview.registry.routing import match_path
from reference_impl.atcr.appview.registry.tokens import (
    InvalidToken,
    Scope,
    TokenIssuer,
    decide_access,
    jwk_thumbprint,
    parse_scopes,
)
from reference_impl.atcr.appview.registry.uploads import (
    ChunkRange,
    UploadStore,
    parse_content_range,
)

D1 = "sha256:" + "a" * 64

# --- names --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "alice.test/app",
        "alice.test/team/app-1",
        "did:plc:aliceaaaaaaaaaaaaaaaaaaa/app",
        "did:web:127.0.0.1%3A8080/a/b__c",
        "alice.test/a.b_c--d",
    ],
)
def test_valid_names(text: str) -> None:
    name = parse_name(text)
    assert str(name) == text
    assert name.owner == text.split("/", 1)[0]


@pytest.mark.parametrize(
    "text",
    [
        "",
        "app",
        "alice.test/",
        "alice.test/App",
        "alice.test/a//b",
        "alice.test/-a",
        "alice.test/a_",
        "not a handle/app",
        "did:plc/app",
        "alice/app",  # a handle has a dot
        "alice.test/" + "a" * 250,  # > 255 in total
    ],
)
def test_invalid_names(text: str) -> None:
    with pytest.raises(InvalidName):
        parse_name(text)


def test_tags_and_references() -> None:
    assert is_valid_tag("latest") and is_valid_tag("_x.1-A") and is_valid_tag("a" * 128)
    assert not is_valid_tag("a" * 129) and not is_valid_tag(".x") and not is_valid_tag("-x")
    assert parse_reference("v1").tag == "v1"
    ref = parse_reference(D1)
    assert ref.digest is not None and str(ref) == D1
    assert parse_reference("sha512:" + "b" * 128).digest is not None
    for bad in ("sha256:abc", "md5:" + "a" * 32, "bad tag", "sha256:" + "A" * 64):
        with pytest.raises(InvalidReference):
            parse_reference(bad)


# --- routing ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tail", "kind", "name", "arg"),
    [
        ("", "base", None, None),
        ("a.test/x/blobs/uploads/", "upload_start", "a.test/x", None),
        ("a.test/x/blobs/uploads/abc", "upload", "a.test/x", "abc"),
        (f"a.test/x/y/blobs/{D1}", "blob", "a.test/x/y", D1),
        ("a.test/x/manifests/v1", "manifest", "a.test/x", "v1"),
        ("a.test/x/tags/list", "tags", "a.test/x", None),
        (f"a.test/x/referrers/{D1}", "referrers", "a.test/x", D1),
        # the last resource keyword wins: a repository may be called ".../blobs"
        ("a.test/blobs/manifests/v1", "manifest", "a.test/blobs", "v1"),
    ],
)
def test_routing(tail: str, kind: str, name: str | None, arg: str | None) -> None:
    target = match_path(tail)
    assert target is not None
    assert (target.kind, target.name, target.arg) == (kind, name, arg)


def test_routing_unknown() -> None:
    assert match_path("a.test/x/nothing") is None
    assert match_path("x" * 5000 + "/tags/list") is None


# --- scopes, grants, tokens ---------------------------------------------------------------------


def test_parse_scopes() -> None:
    scopes = parse_scopes(
        [
            "repository:alice.test/app:pull,push",
            "repository:did:plc:aliceaaaaaaaaaaaaaaaaaaa/app:pull repository:bob.test/x:pull",
            "registry:catalog:*",
            "garbage",
        ]
    )
    assert scopes == [
        Scope("repository", "alice.test/app", frozenset({"pull", "push"})),
        Scope("repository", "did:plc:aliceaaaaaaaaaaaaaaaaaaa/app", frozenset({"pull"})),
        Scope("repository", "bob.test/x", frozenset({"pull"})),
        Scope("registry", "catalog", frozenset({"*"})),
    ]


def test_decide_access() -> None:
    owners = MemoryOwners(OWNERS)
    scopes = parse_scopes(
        [
            "repository:alice.test/app:pull,push,delete",
            f"repository:{ALICE_DID}/other:push",
            "repository:bob.test/app:pull,push",
            "repository:nobody.test/app:pull,push",
            "repository:Bad Name:pull",
            "registry:catalog:*",
        ]
    )
    access = asyncio.run(decide_access(scopes, ALICE_DID, owners))
    assert access == {
        "alice.test/app": frozenset({"pull", "push", "delete"}),
        f"{ALICE_DID}/other": frozenset({"push"}),
        "bob.test/app": frozenset({"pull"}),
        "nobody.test/app": frozenset({"pull"}),
    }
    anonymous = asyncio.run(decide_access(scopes, None, owners))
    assert anonymous["alice.test/app"] == frozenset({"pull"})
    everywhere = asyncio.run(decide_access(scopes, ALICE_DID, owners, push_anywhere=True))
    assert everywhere["bob.test/app"] == frozenset({"pull", "push"})
    star = asyncio.run(decide_access(parse_scopes(["repository:bob.test/a:*"]), BOB_DID, owners))
    assert star == {"bob.test/a": frozenset({"pull", "push", "delete"})}


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def issuer(clock: Clock, audience: str = "atcr.test") -> TokenIssuer:
    return TokenIssuer(
        ec.generate_private_key(ec.SECP256R1()), "http://appview.test", audience, 300, clock
    )


def test_token_round_trip_and_claims() -> None:
    clock = Clock(1_700_000_000)
    tokens = issuer(clock)
    issued = tokens.issue(ALICE_DID, {"alice.test/app": frozenset({"pull", "push"})})
    assert issued.body()["token"] == issued.body()["access_token"]
    assert issued.expires_in == 300 and issued.issued_at == "2023-11-14T22:13:20Z"
    header = jwt.get_unverified_header(issued.token)
    assert header["alg"] == "ES256" and header["kid"] == tokens.kid
    claims = jwt.decode(issued.token, options={"verify_signature": False})
    assert claims["iss"] == "http://appview.test" and claims["aud"] == "atcr.test"
    assert claims["sub"] == ALICE_DID and claims["exp"] - claims["iat"] == 300
    assert claims["nbf"] == claims["iat"] and claims["jti"]
    assert claims["access"] == [
        {"type": "repository", "name": "alice.test/app", "actions": ["pull", "push"]}
    ]
    caller = tokens.verify(issued.token)
    assert caller.did == ALICE_DID and caller.may("alice.test/app", "push")
    assert tokens.verify(tokens.issue(None, {}).token).did is None
    # Anyone can check the signature with the published JWKS.
    key = jwt.PyJWK(tokens.jwks()["keys"][0]).key
    jwt.decode(
        issued.token,
        key,
        algorithms=["ES256"],
        audience="atcr.test",
        options={"verify_exp": False},
    )


def test_token_rejections() -> None:
    clock = Clock(1_700_000_000)
    tokens = issuer(clock)
    token = tokens.issue(ALICE_DID, {}).token
    head, body, sig = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=="))
    claims["sub"] = BOB_DID
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    for bad in (f"{head}.{forged}.{sig}", "not-a-jwt", token[:-4] + "AAAA", ""):
        with pytest.raises(InvalidToken):
            tokens.verify(bad)
    with pytest.raises(InvalidToken):  # other audience
        issuer(clock, "other").verify(token)
    with pytest.raises(InvalidToken):  # other key (same kid absent)
        issuer(clock).verify(token)
    clock.now += 300
    with pytest.raises(InvalidToken, match="expired"):
        tokens.verify(token)
    clock.now -= 600
    with pytest.raises(InvalidToken, match="not yet"):
        tokens.verify(token)


def test_jwk_thumbprint_rfc7638_example() -> None:
    # RFC 7638 section 3.1 uses RSA; the EC member set is the same construction, checked here
    # against an independent computation.
    jwk = {"kty": "EC", "crv": "P-256", "x": "xx", "y": "yy", "kid": "ignored"}
    expected = (
        base64.urlsafe_b64encode(
            hashlib.sha256(b'{"crv":"P-256","kty":"EC","x":"xx","y":"yy"}').digest()
        )
        .rstrip(b"=")
        .decode()
    )
    assert jwk_thumbprint(jwk) == expected


def test_issuer_refuses_other_curves() -> None:
    with pytest.raises(ValueError, match="P-256"):
        TokenIssuer(ec.generate_private_key(ec.SECP256K1()), "i", "a")


# --- manifests ----------------------------------------------------------------------------------


def descriptor(media_type: str = "application/vnd.oci.image.layer.v1.tar+gzip") -> dict:
    return {"mediaType": media_type, "digest": D1, "size": 3}


def test_parse_oci_manifest() -> None:
    body = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": descriptor("application/vnd.oci.image.config.v1+json"),
        "layers": [descriptor(), descriptor()],
        "subject": descriptor(OCI_MANIFEST),
        "artifactType": "application/x-sig",
        "annotations": {"a": "b"},
    }
    parsed = parse_manifest(json.dumps(body).encode(), None)
    assert parsed.media_type == OCI_MANIFEST and parsed.schema_version == 2
    assert parsed.config is not None and parsed.config.digest == D1
    assert len(parsed.layers) == 2 and parsed.subject is not None
    assert parsed.artifact_type == "application/x-sig" and parsed.annotations == {"a": "b"}


def test_parse_indexes_and_docker_types() -> None:
    index = {"schemaVersion": 2, "manifests": [descriptor(OCI_MANIFEST)]}
    parsed = parse_manifest(json.dumps(index).encode(), OCI_INDEX + "; charset=utf-8")
    assert parsed.media_type == OCI_INDEX and len(parsed.manifests) == 1
    listed = {**index, "mediaType": DOCKER_LIST}
    assert parse_manifest(json.dumps(listed).encode(), "application/json").media_type == DOCKER_LIST
    docker = {
        "schemaVersion": 2,
        "mediaType": DOCKER_MANIFEST,
        "config": descriptor(),
        "layers": [],
    }
    assert parse_manifest(json.dumps(docker).encode(), DOCKER_MANIFEST).layers == ()


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"{not json", OCI_MANIFEST),
        (b"[]", OCI_MANIFEST),
        (b'{"schemaVersion": 2, "config": {}}', None),  # no media type anywhere
        (b'{"schemaVersion": 1, "mediaType": "%s"}' % OCI_MANIFEST.encode(), None),
        (b'{"schemaVersion": 2, "mediaType": "text/plain"}', None),
        (json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "layers": []}).encode(), None),
        (json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX}).encode(), OCI_MANIFEST),
        (
            json.dumps({"schemaVersion": 2, "config": {**descriptor(), "size": -1}}).encode(),
            OCI_MANIFEST,
        ),
        (
            json.dumps({"schemaVersion": 2, "config": {**descriptor(), "size": True}}).encode(),
            OCI_MANIFEST,
        ),
        (
            json.dumps(
                {"schemaVersion": 2, "config": {**descriptor(), "digest": "sha256:x"}}
            ).encode(),
            OCI_MANIFEST,
        ),
        (
            json.dumps({"schemaVersion": 2, "config": {"digest": D1, "size": 1}}).encode(),
            OCI_MANIFEST,
        ),
        (
            json.dumps({"schemaVersion": 2, "config": descriptor(), "layers": {}}).encode(),
            OCI_MANIFEST,
        ),
        (
            json.dumps({"schemaVersion": 2, "manifests": [], "config": descriptor()}).encode(),
            OCI_INDEX,
        ),
        (
            json.dumps(
                {"schemaVersion": 2, "config": descriptor(), "annotations": {"a": 1}}
            ).encode(),
            OCI_MANIFEST,
        ),
        (b"\xff\xfe", OCI_MANIFEST),
    ],
)
def test_invalid_manifests(body: bytes, content_type: str | None) -> None:
    with pytest.raises(RegistryError) as caught:
        parse_manifest(body, content_type)
    assert caught.value.code == "MANIFEST_INVALID" and caught.value.status == 400


def test_manifest_size_and_digest() -> None:
    with pytest.raises(RegistryError) as caught:
        parse_manifest(b" " * (MAX_MANIFEST_BYTES + 1), OCI_MANIFEST)
    assert caught.value.code == "SIZE_INVALID"
    content = b'{"x": 1}'
    assert str(manifest_digest(content)) == "sha256:" + hashlib.sha256(content).hexdigest()
    sha512 = parse_reference("sha512:" + hashlib.sha512(content).hexdigest()).digest
    assert manifest_digest(content, sha512) == sha512
    with pytest.raises(RegistryError) as caught:
        manifest_digest(content, parse_reference(D1).digest)
    assert caught.value.code == "DIGEST_INVALID"


# --- uploads ------------------------------------------------------------------------------------


async def chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


def test_content_range_parsing() -> None:
    assert parse_content_range("0-9") == ChunkRange(0, 9)
    assert parse_content_range("bytes=10-19") == ChunkRange(10, 19)
    assert parse_content_range("bytes 10-19/*").length == 10
    for bad in ("", "5", "a-b", "9-1", "-1-3", "1-" + "9" * 30):
        with pytest.raises(RegistryError) as caught:
            parse_content_range(bad)
        assert caught.value.code == "BLOB_UPLOAD_INVALID" and caught.value.status == 400


def test_upload_store_chunks_and_digest(tmp_path: Path) -> None:
    async def scenario() -> None:
        store = UploadStore(tmp_path)
        session = store.create("alice.test/app")
        await store.append(session, chunks(b"hello ", b"wor"), content_range=ChunkRange(0, 8))
        assert session.offset == 9 and session.range_header == "0-8"
        with pytest.raises(RegistryError) as caught:  # out of order
            await store.append(session, chunks(b"x"), content_range=ChunkRange(3, 3))
        assert caught.value.status == 416 and caught.value.headers["Range"] == "0-8"
        with pytest.raises(RegistryError) as caught:  # longer than declared: rolled back
            await store.append(session, chunks(b"ld!!"), content_range=ChunkRange(9, 11))
        assert caught.value.code == "BLOB_UPLOAD_INVALID" and session.offset == 9
        with pytest.raises(RegistryError):  # shorter than declared: rolled back
            await store.append(session, chunks(b"l"), content_length=3)
        assert session.path.read_bytes() == b"hello wor"
        await store.append(session, chunks(b"ld"))  # streamed, no range
        data = b"hello world"
        assert await store.verify(
            session, parse_reference("sha256:" + hashlib.sha256(data).hexdigest()).digest
        )  # type: ignore[arg-type]
        sha512 = parse_reference("sha512:" + hashlib.sha512(data).hexdigest()).digest
        assert sha512 is not None and await store.verify(session, sha512)
        assert not await store.verify(session, parse_reference(D1).digest)  # type: ignore[arg-type]
        # The spool survives a new store (a restart): offset from the file, hash recomputed.
        again = UploadStore(tmp_path).get(session.uuid, "alice.test/app")
        assert again.offset == 11 and again.hasher is None
        assert await UploadStore(tmp_path).verify(again, sha512)
        with pytest.raises(RegistryError) as caught:
            store.get(session.uuid, "bob.test/app")  # another repository's session
        assert caught.value.code == "BLOB_UPLOAD_UNKNOWN"
        store.discard(session)
        assert list(tmp_path.iterdir()) == []
        for bad in (session.uuid, "../../etc/passwd", "x"):
            with pytest.raises(RegistryError):
                store.get(bad, "alice.test/app")

    asyncio.run(scenario())


# --- errors -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("exc", "status", "code"),
    [
        (NameUnknown("x"), 404, "NAME_UNKNOWN"),
        (BadCredentials("x"), 401, "UNAUTHORIZED"),
        (NoOAuthSession(ALICE_DID, "http://a/login?handle=alice.test"), 401, "UNAUTHORIZED"),
        (HoldDenied("x"), 403, "DENIED"),
        (Unavailable("x"), 503, "UNAVAILABLE"),
        (BlobDigestMismatch("x"), 400, "DIGEST_INVALID"),
        (RegistryError("BLOB_UPLOAD_INVALID", "m", status=416), 416, "BLOB_UPLOAD_INVALID"),
        (RuntimeError("secret internals"), 500, "UNKNOWN"),
    ],
)
def test_error_mapping(exc: Exception, status: int, code: str) -> None:
    response = error_response(exc)
    body = json.loads(bytes(response.body))
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    assert body["errors"][0]["code"] == code and set(body["errors"][0]) == {
        "code",
        "message",
        "detail",
    }
    assert "secret internals" not in bytes(response.body).decode()
    if isinstance(exc, NoOAuthSession):
        assert "log in again at http://a/login?handle=alice.test" in body["errors"][0]["message"]
