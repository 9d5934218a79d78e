"""The registry served for real on loopback, endpoint by endpoint (OCI end-1 … end-14) and every
error code it produces, over in-memory ports."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import httpx
import pytest
from registry_support import (
    CAROL_DID,
    HOLD,
    RunningRegistry,
    errors_of,
    oci_manifest,
    push_blob,
    push_image,
    sha256,
)

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
MISSING = "sha256:" + "0" * 64


def check_api_header(response: httpx.Response) -> None:
    assert response.headers["docker-distribution-api-version"] == "registry/2.0"


def spool_files(reg: RunningRegistry) -> set[Path]:
    return set(reg.spool.iterdir())


# --- end-1 ---------------------------------------------------------------------------------------


def test_end1_api_base(reg: RunningRegistry) -> None:
    anonymous = reg.http.get("/v2/")
    assert anonymous.status_code == 401 and errors_of(anonymous) == ["UNAUTHORIZED"]
    assert anonymous.headers["www-authenticate"] == (
        f'Bearer realm="{reg.url}/auth/token",service="atcr.test"'
    )
    check_api_header(anonymous)
    ok = reg.http.get("/v2/", headers=reg.auth())
    assert ok.status_code == 200 and ok.json() == {}
    check_api_header(ok)
    assert reg.http.get("/v2", headers=reg.auth(), follow_redirects=True).status_code == 200


def test_health(reg: RunningRegistry) -> None:
    response = reg.http.get("/xrpc/_health")
    assert response.status_code == 200 and "version" in response.json()


# --- end-4a/b/c, 5, 6, 13, 14: uploads -----------------------------------------------------------


def test_end4a_open_session_and_end13_status(reg: RunningRegistry) -> None:
    h = reg.push_auth("alice.test/up-a")
    response = reg.http.post("/v2/alice.test/up-a/blobs/uploads/", headers=h)
    assert response.status_code == 202
    uuid = response.headers["docker-upload-uuid"]
    assert response.headers["location"] == f"{reg.url}/v2/alice.test/up-a/blobs/uploads/{uuid}"
    assert response.headers["range"] == "0-0"
    check_api_header(response)
    status = reg.http.get(response.headers["location"], headers=h)
    assert status.status_code == 204
    assert status.headers["range"] == "0-0" and status.headers["docker-upload-uuid"] == uuid
    reg.http.patch(response.headers["location"], content=b"abc", headers=h)
    status = reg.http.get(response.headers["location"], headers=h)
    assert status.headers["range"] == "0-2"


def test_end4b_post_then_put_whole_body(reg: RunningRegistry) -> None:
    h = reg.push_auth("alice.test/up-b")
    location = reg.http.post("/v2/alice.test/up-b/blobs/uploads/", headers=h).headers["location"]
    data = b"whole blob in the PUT"
    done = reg.http.put(location, params={"digest": sha256(data)}, content=data, headers=h)
    assert done.status_code == 201
    assert done.headers["docker-content-digest"] == sha256(data)
    assert done.headers["location"] == f"{reg.url}/v2/alice.test/up-b/blobs/{sha256(data)}"
    assert reg.blobs.uploads[-1] == (
        HOLD,
        reg.owners.by_key["alice.test"].did,
        sha256(data),
        len(data),
    )
    assert reg.http.get(location, headers=h).status_code == 404  # finished sessions are gone


def test_end4c_monolithic_post(reg: RunningRegistry) -> None:
    spool_before = spool_files(reg)
    h = reg.push_auth("alice.test/up-c")
    data = b"monolithic"
    response = reg.http.post(
        "/v2/alice.test/up-c/blobs/uploads/",
        params={"digest": sha256(data)},
        content=data,
        headers=h,
    )
    assert response.status_code == 201
    assert response.headers["docker-content-digest"] == sha256(data)
    before = len(reg.blobs.uploads)
    wrong = reg.http.post(
        "/v2/alice.test/up-c/blobs/uploads/", params={"digest": MISSING}, content=data, headers=h
    )
    assert wrong.status_code == 400 and errors_of(wrong) == ["DIGEST_INVALID"]
    assert len(reg.blobs.uploads) == before and spool_files(reg) <= spool_before


def test_end5_chunks_end6_finish(reg: RunningRegistry) -> None:
    spool_before = spool_files(reg)
    h = reg.push_auth("alice.test/up-d")
    location = reg.http.post("/v2/alice.test/up-d/blobs/uploads/", headers=h).headers["location"]
    data = bytes(range(256)) * 40
    parts = [data[:1000], data[1000:5000], data[5000:]]
    offset = 0
    for part in parts[:2]:
        end = offset + len(part) - 1
        response = reg.http.patch(
            location,
            content=part,
            headers={
                **h,
                "Content-Range": f"{offset}-{end}",
                "Content-Type": "application/octet-stream",
            },
        )
        assert response.status_code == 202, response.text
        assert response.headers["range"] == f"0-{end}"
        assert response.headers["location"] == location
        offset = end + 1
    # out of order: starts before the current offset → 416 with the current Range
    replay = reg.http.patch(location, content=parts[0], headers={**h, "Content-Range": "0-999"})
    assert replay.status_code == 416 and errors_of(replay) == ["BLOB_UPLOAD_INVALID"]
    assert replay.headers["range"] == f"0-{offset - 1}"
    gap = reg.http.patch(location, content=b"x", headers={**h, "Content-Range": "9999-9999"})
    assert gap.status_code == 416
    for bad in ("garbage", "10-5"):
        malformed = reg.http.patch(location, content=b"x", headers={**h, "Content-Range": bad})
        assert malformed.status_code == 400 and errors_of(malformed) == ["BLOB_UPLOAD_INVALID"]
    # a streamed chunk (no Content-Range) is appended at the offset
    streamed = reg.http.patch(location, content=iter([parts[2][:10], parts[2][10:]]), headers=h)
    assert streamed.status_code == 202 and streamed.headers["range"] == f"0-{len(data) - 1}"
    rest = b"final bytes"
    done = reg.http.put(location, params={"digest": sha256(data + rest)}, content=rest, headers=h)
    assert done.status_code == 201, done.text
    assert reg.blobs.path(HOLD, sha256(data + rest)).read_bytes() == data + rest
    assert spool_files(reg) <= spool_before


def test_end6_digest_mismatch_and_missing_digest(reg: RunningRegistry) -> None:
    spool_before = spool_files(reg)
    h = reg.push_auth("alice.test/up-e")
    location = reg.http.post("/v2/alice.test/up-e/blobs/uploads/", headers=h).headers["location"]
    reg.http.patch(location, content=b"some bytes", headers=h)
    for params in ({}, {"digest": "sha256:nothex"}):
        response = reg.http.put(location, params=params, headers=h)
        assert response.status_code == 400 and errors_of(response) == ["DIGEST_INVALID"]
    before = len(reg.blobs.uploads)
    wrong = reg.http.put(location, params={"digest": MISSING}, headers=h)
    assert wrong.status_code == 400 and errors_of(wrong) == ["DIGEST_INVALID"]
    assert len(reg.blobs.uploads) == before  # nothing sent to the hold
    gone = reg.http.get(location, headers=h)
    assert gone.status_code == 404 and errors_of(gone) == ["BLOB_UPLOAD_UNKNOWN"]
    assert spool_files(reg) <= spool_before


def test_sha512_digests_accepted(reg: RunningRegistry) -> None:
    h = reg.push_auth("alice.test/up-512")
    data = b"sha512 content"
    digest = "sha512:" + hashlib.sha512(data).hexdigest()
    response = reg.http.post(
        "/v2/alice.test/up-512/blobs/uploads/", params={"digest": digest}, content=data, headers=h
    )
    assert response.status_code == 201 and response.headers["docker-content-digest"] == digest
    head = reg.http.head(f"/v2/alice.test/up-512/blobs/{digest}", headers=h)
    assert head.status_code == 200 and head.headers["content-length"] == str(len(data))


def test_end14_cancel(reg: RunningRegistry) -> None:
    spool_before = spool_files(reg)
    h = reg.push_auth("alice.test/up-f")
    location = reg.http.post("/v2/alice.test/up-f/blobs/uploads/", headers=h).headers["location"]
    reg.http.patch(location, content=b"abc", headers=h)
    assert reg.http.delete(location, headers=h).status_code == 204
    for method in ("GET", "PATCH", "PUT", "DELETE"):
        response = reg.http.request(method, location, params={"digest": MISSING}, headers=h)
        assert response.status_code == 404 and errors_of(response) == ["BLOB_UPLOAD_UNKNOWN"]
    assert spool_files(reg) <= spool_before


def test_upload_session_ids_are_checked(reg: RunningRegistry) -> None:
    h = reg.push_auth("alice.test/up-g")
    other = reg.push_auth("alice.test/up-h")
    location = reg.http.post("/v2/alice.test/up-g/blobs/uploads/", headers=h).headers["location"]
    uuid = location.rsplit("/", 1)[1]
    # another repository's session, a made-up id, a path-traversal attempt
    for path in (
        f"alice.test/up-h/blobs/uploads/{uuid}",
        "alice.test/up-h/blobs/uploads/nope",
        "alice.test/up-h/blobs/uploads/..%2F..%2Fx",
    ):
        response = reg.http.get(f"/v2/{path}", headers=other)
        assert response.status_code == 404 and errors_of(response) == ["BLOB_UPLOAD_UNKNOWN"]
    reg.http.delete(location, headers=h)


def test_end11_mount(reg: RunningRegistry) -> None:
    h = reg.auth(
        "repository:alice.test/mount-to:pull,push", "repository:alice.test/mount-from:pull"
    )
    digest = reg.blobs.put(b"already in the hold")
    mounted = reg.http.post(
        "/v2/alice.test/mount-to/blobs/uploads/",
        params={"mount": digest, "from": "alice.test/mount-from"},
        headers=h,
    )
    assert mounted.status_code == 201
    assert mounted.headers["docker-content-digest"] == digest
    assert mounted.headers["location"] == f"{reg.url}/v2/alice.test/mount-to/blobs/{digest}"
    for mount in (MISSING, "not-a-digest"):
        fallback = reg.http.post(
            "/v2/alice.test/mount-to/blobs/uploads/",
            params={"mount": mount, "from": "bob.test/x"},
            headers=h,
        )
        assert fallback.status_code == 202 and fallback.headers["docker-upload-uuid"]
        reg.http.delete(fallback.headers["location"], headers=h)


# --- end-2, end-10: blobs ------------------------------------------------------------------------


def test_end2_blob_get_head(reg: RunningRegistry) -> None:
    h = reg.push_auth("alice.test/blobs-a")
    data = b"blob bytes " * 100
    digest = push_blob(reg, "alice.test/blobs-a", data, h)
    pull = reg.auth("repository:alice.test/blobs-a:pull", user="bob.test")  # anyone may pull
    head = reg.http.head(f"/v2/alice.test/blobs-a/blobs/{digest}", headers=pull)
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == str(len(data))
    assert head.headers["docker-content-digest"] == digest
    assert head.headers["content-type"] == "application/octet-stream"
    check_api_header(head)
    get = reg.http.get(f"/v2/alice.test/blobs-a/blobs/{digest}", headers=pull)
    assert get.status_code == 307 and get.headers["location"].startswith(reg.blobs.blob_server)
    assert get.headers["docker-content-digest"] == digest
    assert httpx.get(get.headers["location"]).content == data
    unknown = reg.http.get(f"/v2/alice.test/blobs-a/blobs/{MISSING}", headers=pull)
    assert unknown.status_code == 404 and errors_of(unknown) == ["BLOB_UNKNOWN"]
    assert reg.http.head(f"/v2/alice.test/blobs-a/blobs/{MISSING}", headers=pull).status_code == 404
    bad = reg.http.get("/v2/alice.test/blobs-a/blobs/sha256:123", headers=pull)
    assert bad.status_code == 400 and errors_of(bad) == ["DIGEST_INVALID"]


def test_end10_blob_delete_unlinks(reg: RunningRegistry) -> None:
    # The details (other repositories, re-upload, auth, restarts): test_registry_blob_delete.py.
    h = reg.push_auth("alice.test/blobs-b")
    digest = push_blob(reg, "alice.test/blobs-b", b"keep me", h)
    response = reg.http.delete(f"/v2/alice.test/blobs-b/blobs/{digest}", headers=h)
    assert response.status_code == 202, response.text
    check_api_header(response)
    gone = reg.http.head(f"/v2/alice.test/blobs-b/blobs/{digest}", headers=h)
    assert gone.status_code == 404
    assert reg.blobs.path(HOLD, digest).exists()  # the shared hold keeps the bytes


# --- end-3, end-7, end-9: manifests --------------------------------------------------------------


def test_end7_put_end3_get_by_tag_and_digest(reg: RunningRegistry) -> None:
    h = reg.push_auth("alice.test/man-a")
    digest, content = push_image(reg, "alice.test/man-a", "v1", h, b"a")
    assert reg.manifests.writes[-1] == (
        "put",
        reg.owners.by_key["alice.test"].did,
        "man-a",
        digest,
        ("v1",),
    )
    for ref in ("v1", digest):
        get = reg.http.get(f"/v2/alice.test/man-a/manifests/{ref}", headers=h)
        assert get.status_code == 200 and get.content == content  # byte-identical
        assert get.headers["content-type"] == OCI_MANIFEST
        assert get.headers["docker-content-digest"] == digest
        assert get.headers["content-length"] == str(len(content))
        head = reg.http.head(f"/v2/alice.test/man-a/manifests/{ref}", headers=h)
        assert head.status_code == 200 and head.content == b""
        assert head.headers["content-length"] == str(len(content))
        assert head.headers["docker-content-digest"] == digest
    # untagged manifest, pushed by digest, pulled by digest
    untagged, _ = push_image(reg, "alice.test/man-a", None, h, b"untagged")
    assert reg.http.get(f"/v2/alice.test/man-a/manifests/{untagged}", headers=h).status_code == 200


def test_end7_response_headers_and_tag_params(reg: RunningRegistry) -> None:
    h = reg.push_auth("alice.test/man-b")
    config = push_blob(reg, "alice.test/man-b", b"{}", h)
    content = oci_manifest((config, 2), [])
    digest = sha256(content)
    response = reg.http.put(
        f"/v2/alice.test/man-b/manifests/{digest}",
        params=[("tag", "t1"), ("tag", "t2")],
        content=content,
        headers={**h, "Content-Type": OCI_MANIFEST},
    )
    assert response.status_code == 201, response.text
    assert response.headers["location"] == f"{reg.url}/v2/alice.test/man-b/manifests/{digest}"
    assert response.headers["docker-content-digest"] == digest
    assert "oci-subject" not in response.headers
    tags = reg.http.get("/v2/alice.test/man-b/tags/list", headers=h).json()["tags"]
    assert tags == ["t1", "t2"]
    bad_tag = reg.http.put(
        f"/v2/alice.test/man-b/manifests/{digest}",
        params={"tag": "-bad"},
        content=content,
        headers={**h, "Content-Type": OCI_MANIFEST},
    )
    assert bad_tag.status_code == 400 and errors_of(bad_tag) == ["MANIFEST_INVALID"]


def test_end7_manifest_errors(reg: RunningRegistry) -> None:
    name = "alice.test/man-c"
    h = reg.push_auth(name)
    config = push_blob(reg, name, b"{}", h)
    url = f"/v2/{name}/manifests/v1"
    ct = {**h, "Content-Type": OCI_MANIFEST}
    missing = reg.http.put(url, content=oci_manifest((config, 2), [(MISSING, 5)]), headers=ct)
    assert missing.status_code == 400 and errors_of(missing) == ["MANIFEST_BLOB_UNKNOWN"]
    assert missing.json()["errors"][0]["detail"] == {"digests": [MISSING]}
    invalid = reg.http.put(url, content=b"{nope", headers=ct)
    assert invalid.status_code == 400 and errors_of(invalid) == ["MANIFEST_INVALID"]
    unknown_type = reg.http.put(
        url, content=b'{"schemaVersion": 2}', headers={**h, "Content-Type": "text/plain"}
    )
    assert unknown_type.status_code == 400 and errors_of(unknown_type) == ["MANIFEST_INVALID"]
    content = oci_manifest((config, 2), [])
    wrong_digest = reg.http.put(f"/v2/{name}/manifests/{MISSING}", content=content, headers=ct)
    assert wrong_digest.status_code == 400 and errors_of(wrong_digest) == ["DIGEST_INVALID"]
    huge = reg.http.put(url, content=b" " * (4 * 1024 * 1024 + 1), headers=ct)
    assert huge.status_code == 400 and errors_of(huge) == ["SIZE_INVALID"]
    bad_ref = reg.http.put(f"/v2/{name}/manifests/-nope", content=content, headers=ct)
    assert bad_ref.status_code == 400 and errors_of(bad_ref) == ["MANIFEST_INVALID"]
    assert not [w for w in reg.manifests.writes if w[2] == "man-c"]  # nothing was stored


def test_index_children_must_exist(reg: RunningRegistry) -> None:
    name = "alice.test/man-idx"
    h = reg.push_auth(name)
    child, child_content = push_image(reg, name, None, h, b"child")
    index = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [{"mediaType": OCI_MANIFEST, "digest": child, "size": len(child_content)}],
    }
    ok = reg.http.put(
        f"/v2/{name}/manifests/multi",
        content=json.dumps(index).encode(),
        headers={**h, "Content-Type": OCI_INDEX},
    )
    assert ok.status_code == 201
    got = reg.http.get(f"/v2/{name}/manifests/multi", headers=h)
    assert got.headers["content-type"] == OCI_INDEX
    index["manifests"].append({"mediaType": OCI_MANIFEST, "digest": MISSING, "size": 1})
    bad = reg.http.put(
        f"/v2/{name}/manifests/multi2",
        content=json.dumps(index).encode(),
        headers={**h, "Content-Type": OCI_INDEX},
    )
    assert bad.status_code == 400 and errors_of(bad) == ["MANIFEST_BLOB_UNKNOWN"]


def test_end3_unknowns(reg: RunningRegistry) -> None:
    h = reg.push_auth("alice.test/man-d")
    push_image(reg, "alice.test/man-d", "v1", h, b"d")
    for ref, code in (("nope", "MANIFEST_UNKNOWN"), (MISSING, "MANIFEST_UNKNOWN")):
        response = reg.http.get(f"/v2/alice.test/man-d/manifests/{ref}", headers=h)
        assert response.status_code == 404 and errors_of(response) == [code]
    bad_digest = reg.http.get("/v2/alice.test/man-d/manifests/sha256:zz", headers=h)
    assert bad_digest.status_code == 400 and errors_of(bad_digest) == ["DIGEST_INVALID"]
    pull = reg.auth("repository:alice.test/never-pushed:pull", "repository:nobody.test/x:pull")
    for name in ("alice.test/never-pushed", "nobody.test/x"):
        response = reg.http.get(f"/v2/{name}/manifests/latest", headers=pull)
        assert response.status_code == 404 and errors_of(response) == ["NAME_UNKNOWN"]


def test_end9_delete_by_tag_and_digest(reg: RunningRegistry) -> None:
    name = "alice.test/man-e"
    h = reg.push_auth(name)
    digest, _ = push_image(reg, name, "v1", h, b"e")
    push_image(reg, name, "v2", h, b"e")  # same bytes, second tag
    assert reg.http.delete(f"/v2/{name}/manifests/v2", headers=h).status_code == 202
    assert reg.http.get(f"/v2/{name}/manifests/v2", headers=h).status_code == 404
    assert reg.http.get(f"/v2/{name}/manifests/v1", headers=h).status_code == 200
    assert reg.http.delete(f"/v2/{name}/manifests/{digest}", headers=h).status_code == 202
    for ref in ("v1", digest):
        assert reg.http.get(f"/v2/{name}/manifests/{ref}", headers=h).status_code == 404
    again = reg.http.delete(f"/v2/{name}/manifests/{digest}", headers=h)
    assert again.status_code == 404 and errors_of(again) == ["MANIFEST_UNKNOWN"]


# --- end-8: tags ---------------------------------------------------------------------------------


def test_end8_tags_list_and_pagination(reg: RunningRegistry) -> None:
    name = "alice.test/tags-a"
    h = reg.push_auth(name)
    _, content = push_image(reg, name, "b", h, b"t")
    for tag in ("a", "c", "d", "e"):
        reg.http.put(
            f"/v2/{name}/manifests/{tag}",
            content=content,
            headers={**h, "Content-Type": OCI_MANIFEST},
        )
    full = reg.http.get(f"/v2/{name}/tags/list", headers=h)
    assert full.json() == {"name": name, "tags": ["a", "b", "c", "d", "e"]}
    assert "link" not in full.headers
    page = reg.http.get(f"/v2/{name}/tags/list", params={"n": 2}, headers=h)
    assert page.json()["tags"] == ["a", "b"]
    assert page.headers["link"] == f'</v2/{name}/tags/list?n=2&last=b>; rel="next"'
    nxt = reg.http.get(f"/v2/{name}/tags/list", params={"n": 2, "last": "b"}, headers=h)
    assert nxt.json()["tags"] == ["c", "d"] and "last=d" in nxt.headers["link"]
    tail = reg.http.get(f"/v2/{name}/tags/list", params={"n": 2, "last": "d"}, headers=h)
    assert tail.json()["tags"] == ["e"] and "link" not in tail.headers
    assert reg.http.get(f"/v2/{name}/tags/list", params={"n": 0}, headers=h).json()["tags"] == []
    bad = reg.http.get(f"/v2/{name}/tags/list", params={"n": "-1"}, headers=h)
    assert bad.status_code == 400 and errors_of(bad) == ["UNSUPPORTED"]
    pull = reg.auth("repository:alice.test/no-tags-here:pull")
    unknown = reg.http.get("/v2/alice.test/no-tags-here/tags/list", headers=pull)
    assert unknown.status_code == 404 and errors_of(unknown) == ["NAME_UNKNOWN"]


# --- end-12: referrers ---------------------------------------------------------------------------


def test_end12_referrers(reg: RunningRegistry) -> None:
    name = "alice.test/refs"
    h = reg.push_auth(name)
    subject, subject_content = push_image(reg, name, "v1", h, b"subject")
    config = push_blob(reg, name, b"{}", h)
    digests = {}
    for kind in ("application/vnd.example.sig", "application/vnd.example.sbom"):
        content = oci_manifest((config, 2), [], (subject, len(subject_content), OCI_MANIFEST), kind)
        response = reg.http.put(
            f"/v2/{name}/manifests/{sha256(content)}",
            content=content,
            headers={**h, "Content-Type": OCI_MANIFEST},
        )
        assert response.status_code == 201 and response.headers["oci-subject"] == subject
        digests[kind] = (sha256(content), len(content))
    response = reg.http.get(f"/v2/{name}/referrers/{subject}", headers=h)
    assert response.status_code == 200
    assert response.headers["content-type"] == OCI_INDEX
    index = response.json()
    assert index["schemaVersion"] == 2 and index["mediaType"] == OCI_INDEX
    assert {(m["digest"], m["size"], m["artifactType"]) for m in index["manifests"]} == {
        (d, s, k) for k, (d, s) in digests.items()
    }
    assert "oci-filters-applied" not in response.headers
    filtered = reg.http.get(
        f"/v2/{name}/referrers/{subject}",
        params={"artifactType": "application/vnd.example.sig"},
        headers=h,
    )
    assert filtered.headers["oci-filters-applied"] == "artifactType"
    assert [m["digest"] for m in filtered.json()["manifests"]] == [
        digests["application/vnd.example.sig"][0]
    ]
    none = reg.http.get(f"/v2/{name}/referrers/{MISSING}", headers=h)
    assert none.status_code == 200 and none.json()["manifests"] == []
    bad = reg.http.get(f"/v2/{name}/referrers/sha256:1", headers=h)
    assert bad.status_code == 400 and errors_of(bad) == ["DIGEST_INVALID"]
    pull = reg.auth("repository:alice.test/no-refs:pull")
    unknown = reg.http.get(f"/v2/alice.test/no-refs/referrers/{MISSING}", headers=pull)
    assert unknown.status_code == 404 and errors_of(unknown) == ["NAME_UNKNOWN"]


# --- routing and bad input -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/v2/Alice/App/tags/list",
        "/v2/alice.test/a%2Fb/tags/list",
        "/v2/alice.test//x/tags/list",
        "/v2/" + "a" * 300 + ".test/x/tags/list",
        "/v2/alice.test/" + "x" * 300 + "/tags/list",
        "/v2/no-owner/tags/list",
    ],
)
def test_name_invalid(reg: RunningRegistry, path: str) -> None:
    response = reg.http.get(path, headers=reg.auth())
    assert response.status_code == 400 and errors_of(response) == ["NAME_INVALID"]
    check_api_header(response)


def test_unknown_endpoint_and_method(reg: RunningRegistry) -> None:
    h = reg.auth()
    unknown = reg.http.get("/v2/alice.test/x/whatever", headers=h)
    assert unknown.status_code == 404 and errors_of(unknown) == ["UNSUPPORTED"]
    wrong = reg.http.post("/v2/alice.test/x/tags/list", headers=h)
    assert wrong.status_code == 405 and errors_of(wrong) == ["UNSUPPORTED"]
    assert wrong.headers["allow"] == "GET"


# --- port failures -------------------------------------------------------------------------------


def test_no_oauth_session_is_401_and_writes_nothing(reg: RunningRegistry) -> None:
    spool_before = spool_files(reg)
    name = "carol.test/app"
    h = reg.push_auth(name, user="carol.test")
    writes, uploads = len(reg.manifests.writes), len(reg.blobs.uploads)
    for method, path in (
        ("POST", f"/v2/{name}/blobs/uploads/"),
        ("PUT", f"/v2/{name}/manifests/v1"),
        ("DELETE", f"/v2/{name}/manifests/v1"),
    ):
        response = reg.http.request(method, path, headers=h, content=b"{}")
        assert response.status_code == 401 and errors_of(response) == ["UNAUTHORIZED"]
        message = response.json()["errors"][0]["message"]
        assert message.startswith(f"no ATProto OAuth session for {CAROL_DID}: log in again at ")
        assert "login?handle=carol.test" in message
    assert (len(reg.manifests.writes), len(reg.blobs.uploads)) == (writes, uploads)
    assert spool_files(reg) <= spool_before


def test_hold_failures(reg: RunningRegistry) -> None:
    spool_before = spool_files(reg)
    name = "bob.test/holds"
    h = reg.push_auth(name, user="bob.test")
    data = b"for the hold"
    params = {"digest": sha256(data)}
    url = f"/v2/{name}/blobs/uploads/"
    reg.blobs.deny.add(reg.owners.by_key["bob.test"].did)
    try:
        denied = reg.http.post(url, params=params, content=data, headers=h)
        assert denied.status_code == 403 and errors_of(denied) == ["DENIED"]
    finally:
        reg.blobs.deny.clear()
    reg.blobs.mismatch = True
    try:
        mismatch = reg.http.post(url, params=params, content=data, headers=h)
        assert mismatch.status_code == 400 and errors_of(mismatch) == ["DIGEST_INVALID"]
    finally:
        reg.blobs.mismatch = False
    reg.blobs.unavailable = True
    try:
        down = reg.http.post(url, params=params, content=data, headers=h)
        assert down.status_code == 503 and errors_of(down) == ["UNAVAILABLE"]
        head = reg.http.get(f"/v2/{name}/blobs/{sha256(data)}", headers=h)
        assert head.status_code == 503 and errors_of(head) == ["UNAVAILABLE"]
    finally:
        reg.blobs.unavailable = False
    assert spool_files(reg) <= spool_before
    # once the hold is back the same push succeeds
    assert reg.http.post(url, params=params, content=data, headers=h).status_code == 201


def test_did_owner_names_use_the_raw_path(reg: RunningRegistry) -> None:
    # ``%3A`` in a did:web owner must reach the resolver as written, not decoded to ``:``.
    name = "did:web:hold.example%3A8080/app"
    response = reg.http.get(f"/v2/{name}/tags/list", headers=reg.auth(f"repository:{name}:pull"))
    assert response.status_code == 404 and errors_of(response) == ["NAME_UNKNOWN"]
    assert reg.owners.calls[-1] == "did:web:hold.example%3A8080"
