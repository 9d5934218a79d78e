"""Multipart uploads and blob reads against a filesystem-backed hold, with real service-auth
JWTs from a reference PDS (ATCR-HOLD-03, ATCR-HOLD-05)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from hold_support import NS, HoldClient, Pds, random_bytes, running_hold

from reference_impl.atcr.digests import digest_of, parse_digest
from reference_impl.common.jwt_keys import sign_jwt
from reference_impl.primitives.keys import generate_signing_key


@pytest.fixture
def hold(hold_pds: Pds, tmp_path: Path, http: httpx.Client) -> Iterator[HoldClient]:
    with running_hold(hold_pds, tmp_path / "hold", http) as client:
        yield client


def blob_file(hold: HoldClient, digest: str) -> Path:
    d = parse_digest(digest)
    return hold.hold.config.data_dir / "blobs" / d.algorithm / d.hex[:2] / d.hex


def test_multipart_upload_then_get_blob(hold: HoldClient, hold_pds: Pds) -> None:
    data = random_bytes(300_001, seed=1)
    digest = str(digest_of(data))
    done = hold.upload(hold_pds.crew, data, parts=4)
    assert done.status_code == 200, done.text
    assert done.json() == {"digest": digest, "size": len(data)}

    got = hold.get_blob(digest)
    assert got.status_code == 200
    assert got.content == data
    assert got.headers["docker-content-digest"] == digest
    assert got.headers["content-length"] == str(len(data))
    assert got.headers["accept-ranges"] == "bytes"
    assert got.headers["content-type"] == "application/octet-stream"

    head = hold.get_blob(digest, method="HEAD")
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == str(len(data))
    assert head.headers["docker-content-digest"] == digest
    # Staging is gone once the blob is in place.
    assert not any((hold.hold.config.data_dir / "uploads").iterdir())


def test_sha512_and_ranges(hold: HoldClient, hold_pds: Pds) -> None:
    data = random_bytes(5000, seed=2)
    digest = str(digest_of(data, "sha512"))
    assert hold.upload(hold_pds.crew, data, parts=2, claimed=digest).status_code == 200
    for spec, start, end in (
        ("bytes=10-19", 10, 20),
        ("bytes=4990-", 4990, 5000),
        ("bytes=-7", 4993, 5000),
        ("bytes=4995-9999", 4995, 5000),
    ):
        r = hold.get_blob(digest, headers={"Range": spec})
        assert r.status_code == 206, spec
        assert r.content == data[start:end]
        assert r.headers["content-range"] == f"bytes {start}-{end - 1}/5000"
        assert r.headers["content-length"] == str(end - start)
    r = hold.get_blob(digest, headers={"Range": "bytes=5000-"})
    assert r.status_code == 416
    assert r.headers["content-range"] == "bytes */5000"
    # A malformed Range is ignored: the whole blob.
    assert hold.get_blob(digest, headers={"Range": "pages=1-2"}).status_code == 200


def test_blob_not_found_and_bad_cids(hold: HoldClient) -> None:
    missing = digest_of(b"never uploaded")
    r = hold.get_blob(missing)
    assert r.status_code == 404 and r.json()["error"] == "BlobNotFound"
    assert hold.get_blob(missing, method="HEAD").status_code == 404
    base = f"{hold.url}/xrpc/com.atproto.sync.getBlob"
    r = hold.http.get(base, params={"did": "did:plc:someoneelse", "cid": missing.to_cid()})
    assert r.status_code == 404 and r.json()["error"] == "RepoNotFound"
    # A dag-cbor CID is not a blob address; garbage is not a CID.
    dag = "bafyreiac4iw4h4i7xcdqdt4uxpmwjrzz4wfjjxtbd2mzlvs26jzxe3rq5e"
    for cid in (dag, "not-a-cid", ""):
        r = hold.http.get(base, params={"did": hold.did, "cid": cid})
        assert r.status_code == 400, (cid, r.text)


def test_wrong_digest_stores_nothing(hold: HoldClient, hold_pds: Pds) -> None:
    data = random_bytes(1000, seed=3)
    claimed = str(digest_of(b"something else"))
    r = hold.upload(hold_pds.crew, data, parts=2, claimed=claimed)
    assert r.status_code == 400 and r.json()["error"] == "DigestMismatch"
    assert hold.get_blob(claimed).status_code == 404
    assert hold.get_blob(digest_of(data)).status_code == 404
    assert not blob_file(hold, claimed).exists()


def test_abort_frees_parts_and_forgets_upload(hold: HoldClient, hold_pds: Pds) -> None:
    data = b"abort me" * 100
    upload_id = hold.initiate(hold_pds.crew, str(digest_of(data)))
    assert hold.put_part(hold_pds.crew, upload_id, 1, data).status_code == 200
    staging = hold.hold.config.data_dir / "uploads" / upload_id
    assert staging.exists()
    r = hold.call(hold_pds.crew, "abortUpload", {"uploadId": upload_id})
    assert r.status_code == 200 and r.json() == {}
    assert not staging.exists()
    for method, body in (
        ("abortUpload", {"uploadId": upload_id}),
        ("getPartUploadUrl", {"uploadId": upload_id, "partNumber": 1}),
        (
            "completeUpload",
            {
                "uploadId": upload_id,
                "digest": str(digest_of(data)),
                "parts": [{"partNumber": 1, "etag": "x"}],
            },
        ),
    ):
        r = hold.call(hold_pds.crew, method, body)
        assert r.status_code == 404 and r.json()["error"] == "UploadNotFound", method
    r = hold.http.put(
        f"{hold.url}/xrpc/{NS}uploadPart",
        params={"uploadId": upload_id, "partNumber": 1},
        content=b"x",
        headers=hold.auth(hold_pds.crew, NS + "uploadPart"),
    )
    assert r.status_code == 404 and r.json()["error"] == "UploadNotFound"


def test_invalid_parts(hold: HoldClient, hold_pds: Pds) -> None:
    data = b"0123456789" * 50
    digest = str(digest_of(data))
    upload_id = hold.initiate(hold_pds.crew, digest)
    etag = hold.put_part(hold_pds.crew, upload_id, 1, data).headers["etag"]
    for parts in (
        [{"partNumber": 1, "etag": '"00000000000000000000000000000000"'}],  # wrong etag
        [{"partNumber": 1, "etag": etag}, {"partNumber": 2, "etag": etag}],  # missing part
        [{"partNumber": 1, "etag": etag}, {"partNumber": 1, "etag": etag}],  # repeated
    ):
        r = hold.call(
            hold_pds.crew,
            "completeUpload",
            {"uploadId": upload_id, "digest": digest, "parts": parts},
        )
        assert r.status_code == 400 and r.json()["error"] == "InvalidPart", parts
    # The upload survives a refused completion; unquoted ETags are accepted.
    r = hold.call(
        hold_pds.crew,
        "completeUpload",
        {
            "uploadId": upload_id,
            "digest": digest,
            "parts": [{"partNumber": 1, "etag": etag.strip('"')}],
        },
    )
    assert r.status_code == 200, r.text
    assert hold.get_blob(digest).content == data


def test_bad_inputs_are_clear_4xx(hold: HoldClient, hold_pds: Pds) -> None:
    r = hold.call(hold_pds.crew, "initiateUpload", {"digest": "md5:abc"})
    assert r.status_code == 400 and r.json()["error"] == "InvalidDigest"
    r = hold.call(hold_pds.crew, "initiateUpload", {"digest": "sha256:" + "A" * 64})
    assert r.status_code == 400
    r = hold.call(hold_pds.crew, "initiateUpload", {})
    assert r.status_code == 400 and r.json()["error"] == "InvalidRequest"
    r = hold.http.post(
        f"{hold.url}/xrpc/{NS}initiateUpload",
        content=b"{nope",
        headers={
            "Content-Type": "application/json",
            **hold.auth(hold_pds.crew, NS + "initiateUpload"),
        },
    )
    assert r.status_code == 400
    upload_id = hold.initiate(hold_pds.crew, str(digest_of(b"x")))
    r = hold.http.put(
        f"{hold.url}/xrpc/{NS}uploadPart",
        params={"uploadId": upload_id, "partNumber": "0"},
        content=b"x",
        headers=hold.auth(hold_pds.crew, NS + "uploadPart"),
    )
    assert r.status_code == 400 and r.json()["error"] == "InvalidRequest"
    r = hold.call(hold_pds.crew, "getPartUploadUrl", {"uploadId": upload_id, "partNumber": 10001})
    assert r.status_code == 400


def test_non_crew_is_forbidden(hold: HoldClient, hold_pds: Pds) -> None:
    r = hold.call(hold_pds.outsider, "initiateUpload", {"digest": str(digest_of(b"x"))})
    assert r.status_code == 403 and r.json()["error"] == "Forbidden"
    # Another user's upload does not exist for the crew either... and not for the outsider.
    upload_id = hold.initiate(hold_pds.crew, str(digest_of(b"y")))
    r = hold.http.put(
        f"{hold.url}/xrpc/{NS}uploadPart",
        params={"uploadId": upload_id, "partNumber": 1},
        content=b"y",
        headers=hold.auth(hold_pds.outsider, NS + "uploadPart"),
    )
    assert r.status_code == 403
    # Public hold: anyone reads without credentials.
    assert hold.upload(hold_pds.crew, b"public bytes").status_code == 200
    assert hold.get_blob(digest_of(b"public bytes")).content == b"public bytes"


def test_allow_all_crew_admits_any_user(hold_pds: Pds, tmp_path: Path, http: httpx.Client) -> None:
    with running_hold(hold_pds, tmp_path / "h", http, env={"HOLD_ALLOW_ALL_CREW": "true"}) as hold:
        r = hold.upload(hold_pds.outsider, b"anyone may write")
        assert r.status_code == 200, r.text


def test_token_failures_are_401(hold: HoldClient, hold_pds: Pds) -> None:
    body = {"digest": str(digest_of(b"z"))}
    url = f"{hold.url}/xrpc/{NS}initiateUpload"

    def post(token: str | None, scheme: str = "Bearer") -> httpx.Response:
        headers = {"Authorization": f"{scheme} {token}"} if token is not None else {}
        return hold.http.post(url, json=body, headers=headers)

    r = post(None)
    assert r.status_code == 401 and r.json()["error"] == "AuthRequired"
    good = hold.token(hold_pds.crew, NS + "initiateUpload")
    assert post(good, scheme="Basic").status_code == 401
    cases = {
        "garbage": "not.a.jwt",
        "tampered": good[:-4] + ("AAAA" if not good.endswith("AAAA") else "BBBB"),
        "wrong aud": hold_pds.service_token(
            hold.http, hold_pds.crew, "did:web:other.example", NS + "initiateUpload"
        ),
        "wrong lxm": hold.token(hold_pds.crew, NS + "abortUpload"),
        "foreign key": sign_jwt(
            {
                "iss": hold_pds.crew.did,
                "aud": hold.did,
                "iat": int(time.time()),
                "exp": int(time.time()) + 60,
                "lxm": NS + "initiateUpload",
            },
            generate_signing_key("secp256k1"),
        ),
        "unknown issuer": sign_jwt(
            {
                "iss": "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa",
                "aud": hold.did,
                "iat": int(time.time()),
                "exp": int(time.time()) + 60,
            },
            generate_signing_key("secp256k1"),
        ),
    }
    for name, token in cases.items():
        r = post(token)
        assert r.status_code == 401, (name, r.text)
        assert r.json()["error"] == "InvalidToken", name
        assert token not in r.text
    # Without lxm the token is good for any method.
    assert post(hold_pds.service_token(hold.http, hold_pds.crew, hold.did, None)).status_code == 200
    assert post(good).status_code == 200


@pytest.mark.parametrize("skew", [+120, -120])
def test_expired_and_future_tokens(
    hold_pds: Pds, tmp_path: Path, http: httpx.Client, skew: int
) -> None:
    """+120 s: a fresh 60 s token is expired for the hold; -120 s: its iat is > 60 s ahead."""
    with running_hold(hold_pds, tmp_path / "h", http, clock=lambda: time.time() + skew) as hold:
        r = hold.call(hold_pds.crew, "initiateUpload", {"digest": str(digest_of(b"t"))})
        assert r.status_code == 401 and r.json()["error"] == "InvalidToken", r.text


def test_private_hold_read_rules(hold_pds: Pds, tmp_path: Path, http: httpx.Client) -> None:
    with running_hold(hold_pds, tmp_path / "h", http, env={"HOLD_PUBLIC": "false"}) as hold:
        data = b"private layer"
        assert hold.upload(hold_pds.crew, data).status_code == 200
        digest = digest_of(data)
        r = hold.get_blob(digest)
        assert r.status_code == 401 and r.json()["error"] == "AuthRequired"
        r = hold.get_blob(digest, headers=hold.auth(hold_pds.outsider, "com.atproto.sync.getBlob"))
        assert r.status_code == 403 and r.json()["error"] == "Forbidden"
        r = hold.get_blob(digest, headers=hold.auth(hold_pds.crew, NS + "uploadPart"))
        assert r.status_code == 401  # lxm bound to another method
        ok = hold.get_blob(digest, headers=hold.auth(hold_pds.crew, "com.atproto.sync.getBlob"))
        assert ok.status_code == 200 and ok.content == data
        head = hold.get_blob(digest, "HEAD", hold.auth(hold_pds.crew, "com.atproto.sync.getBlob"))
        assert head.status_code == 200 and head.headers["content-length"] == str(len(data))


def test_fault_no_digest_verify(hold_pds: Pds, tmp_path: Path, http: httpx.Client) -> None:
    with running_hold(hold_pds, tmp_path / "h", http, faults=("no-digest-verify",)) as hold:
        claimed = str(digest_of(b"the claim"))
        assert hold.upload(hold_pds.crew, b"other bytes", claimed=claimed).status_code == 200
        assert hold.get_blob(claimed).content == b"other bytes"


def test_storage_failure_is_503(hold: HoldClient, hold_pds: Pds) -> None:
    data = b"will not fit"
    assert hold.upload(hold_pds.crew, data).status_code == 200
    # Make the blob path unreadable as a file: a directory where the blob should be.
    path = blob_file(hold, str(digest_of(data)))
    path.unlink()
    path.mkdir()
    r = hold.get_blob(digest_of(data))
    assert r.status_code == 503 and r.json()["error"] == "StorageUnavailable"
