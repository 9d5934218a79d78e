"""The S3 storage driver against a real ``moto_server`` subprocess: presigned part URLs, parts
through the hold, digest checks, abort, and an outage answered with 503 (ATCR-HOLD-04/05)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hold_support import NS, HoldClient, Pds, moto_server, random_bytes, running_hold

from reference_impl.atcr.digests import digest_of
from reference_impl.atcr.hold.config import S3Settings
from reference_impl.atcr.hold.storage.s3 import make_client

BUCKET = "hold-test"
CREDS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_REGION": "us-east-1",
}


def s3_env(endpoint: str) -> dict[str, str]:
    return {"HOLD_STORAGE": "s3", "S3_BUCKET": BUCKET, "S3_ENDPOINT": endpoint, **CREDS}


def s3_client(endpoint: str) -> Any:
    return make_client(S3Settings(BUCKET, endpoint, "us-east-1", "testing", "testing"))


@pytest.fixture(scope="module")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with moto_server(tmp_path_factory.mktemp("moto") / "moto.log") as (url, _):
        s3_client(url).create_bucket(Bucket=BUCKET)
        yield url


@pytest.fixture
def hold(hold_pds: Pds, moto: str, tmp_path: Path, http: httpx.Client) -> Iterator[HoldClient]:
    with running_hold(hold_pds, tmp_path / "hold", http, env=s3_env(moto)) as client:
        yield client


def keys(endpoint: str, prefix: str) -> list[str]:
    listed = s3_client(endpoint).list_objects_v2(Bucket=BUCKET, Prefix=prefix)
    return [o["Key"] for o in listed.get("Contents", [])]


def test_presigned_parts_then_read(hold: HoldClient, hold_pds: Pds, moto: str) -> None:
    data = random_bytes(70_000, seed=7)
    digest = digest_of(data)
    upload_id = hold.initiate(hold_pds.crew, str(digest))
    target = hold.call(hold_pds.crew, "getPartUploadUrl", {"uploadId": upload_id, "partNumber": 1})
    assert target.status_code == 200
    assert target.json()["url"].startswith(moto + "/")  # straight to storage, presigned
    assert target.json()["method"] == "PUT"
    refs = []
    for n, chunk in enumerate((data[:30_000], data[30_000:60_000], data[60_000:]), start=1):
        r = hold.put_part(hold_pds.crew, upload_id, n, chunk)
        assert r.status_code == 200, r.text
        refs.append({"partNumber": n, "etag": r.headers["etag"]})
    done = hold.call(
        hold_pds.crew,
        "completeUpload",
        {"uploadId": upload_id, "digest": str(digest), "parts": refs},
    )
    assert done.status_code == 200, done.text
    assert done.json() == {"digest": str(digest), "size": len(data)}
    got = hold.get_blob(digest)
    assert got.status_code == 200 and got.content == data
    assert got.headers["docker-content-digest"] == str(digest)
    r = hold.get_blob(digest, headers={"Range": "bytes=100-199"})
    assert r.status_code == 206 and r.content == data[100:200]
    head = hold.get_blob(digest, "HEAD")
    assert head.status_code == 200 and head.headers["content-length"] == str(len(data))
    assert keys(moto, "uploads/") == []
    assert keys(moto, "blobs/") == [f"blobs/sha256/{digest.hex[:2]}/{digest.hex}"]


def test_parts_through_the_hold_and_bad_etag(hold: HoldClient, hold_pds: Pds, moto: str) -> None:
    data = random_bytes(10_000, seed=8)
    digest = str(digest_of(data))
    upload_id = hold.initiate(hold_pds.crew, digest)
    refs = []
    for n, chunk in enumerate((data[:6000], data[6000:]), start=1):
        r = hold.http.put(
            f"{hold.url}/xrpc/{NS}uploadPart",
            params={"uploadId": upload_id, "partNumber": n},
            content=chunk,
            headers=hold.auth(hold_pds.crew, NS + "uploadPart"),
        )
        assert r.status_code == 200, r.text
        assert r.json()["size"] == len(chunk)
        refs.append({"partNumber": n, "etag": r.json()["etag"]})
    bad = [refs[0], {"partNumber": 2, "etag": '"' + "0" * 32 + '"'}]
    r = hold.call(
        hold_pds.crew, "completeUpload", {"uploadId": upload_id, "digest": digest, "parts": bad}
    )
    assert r.status_code == 400 and r.json()["error"] == "InvalidPart"
    r = hold.call(
        hold_pds.crew, "completeUpload", {"uploadId": upload_id, "digest": digest, "parts": refs}
    )
    assert r.status_code == 200, r.text
    assert hold.get_blob(digest_of(data)).content == data


def test_digest_mismatch_and_abort(hold: HoldClient, hold_pds: Pds, moto: str) -> None:
    claimed = str(digest_of(b"claimed"))
    r = hold.upload(hold_pds.crew, b"actual bytes" * 100, parts=2, claimed=claimed)
    assert r.status_code == 400 and r.json()["error"] == "DigestMismatch"
    assert hold.get_blob(claimed).status_code == 404
    assert keys(moto, "uploads/") == []

    upload_id = hold.initiate(hold_pds.crew, claimed)
    assert hold.put_part(hold_pds.crew, upload_id, 1, b"part").status_code == 200
    assert hold.call(hold_pds.crew, "abortUpload", {"uploadId": upload_id}).status_code == 200
    uploads = s3_client(moto).list_multipart_uploads(Bucket=BUCKET).get("Uploads", [])
    assert all(u["Key"] != f"uploads/{upload_id}" for u in uploads)


def test_storage_outage_is_503_fast(hold_pds: Pds, tmp_path: Path, http: httpx.Client) -> None:
    with moto_server(tmp_path / "moto.log") as (url, proc):
        s3_client(url).create_bucket(Bucket=BUCKET)
        with running_hold(hold_pds, tmp_path / "hold", http, env=s3_env(url)) as hold:
            data = b"stored before the outage"
            assert hold.upload(hold_pds.crew, data, parts=1).status_code == 200
            proc.kill()
            proc.wait(timeout=10)
            for call in (
                lambda: hold.get_blob(digest_of(data)),
                lambda: hold.get_blob(digest_of(data), "HEAD"),
                lambda: hold.call(
                    hold_pds.crew, "initiateUpload", {"digest": str(digest_of(b"n"))}
                ),
            ):
                started = time.monotonic()
                r = call()
                elapsed = time.monotonic() - started
                assert r.status_code == 503, r.text
                if r.request.method != "HEAD":
                    assert r.json()["error"] == "StorageUnavailable"
                assert elapsed < 8, elapsed
