"""end-10: ``DELETE /v2/<name>/blobs/<digest>`` unlinks the blob from one repository.

The hold is shared and content-addressed, so the bytes stay: only reads in that repository stop
seeing the digest, until it is pushed there again."""

from __future__ import annotations

from pathlib import Path

import httpx
from registry_support import (
    ALICE_DID,
    HOLD,
    RunningRegistry,
    errors_of,
    oci_manifest,
    push_blob,
    running_registry,
    sha256,
)

MISSING = "sha256:" + "0" * 64
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def blob_url(name: str, digest: str) -> str:
    return f"/v2/{name}/blobs/{digest}"


def delete(reg: RunningRegistry, name: str, digest: str) -> httpx.Response:
    return reg.http.delete(blob_url(name, digest), headers=reg.push_auth(name))


def assert_unknown(reg: RunningRegistry, name: str, digest: str) -> None:
    h = reg.auth(f"repository:{name}:pull")
    head = reg.http.head(blob_url(name, digest), headers=h)
    assert head.status_code == 404
    get = reg.http.get(blob_url(name, digest), headers=h)
    assert get.status_code == 404 and errors_of(get) == ["BLOB_UNKNOWN"]


def assert_served(reg: RunningRegistry, name: str, digest: str, data: bytes) -> None:
    h = reg.auth(f"repository:{name}:pull")
    head = reg.http.head(blob_url(name, digest), headers=h)
    assert head.status_code == 200 and head.headers["content-length"] == str(len(data))
    get = reg.http.get(blob_url(name, digest), headers=h)
    assert get.status_code == 307
    assert httpx.get(get.headers["location"]).content == data


def test_delete_unlinks_from_that_repository_only(reg: RunningRegistry) -> None:
    name, other = "alice.test/del-a", "alice.test/del-a-other"
    data = b"shared layer"
    digest = push_blob(reg, name, data, reg.push_auth(name))
    push_blob(reg, other, data, reg.push_auth(other))
    response = delete(reg, name, digest)
    assert response.status_code == 202 and response.content == b""
    assert_unknown(reg, name, digest)
    assert_served(reg, other, digest, data)  # same owner, same hold, still linked
    assert reg.blobs.path(HOLD, digest).exists()
    # The owner's DID spells the same repository: the unlink is keyed by DID, not handle.
    assert_unknown(reg, f"{ALICE_DID}/del-a", digest)


def test_delete_by_did_name_applies_to_handle_name(reg: RunningRegistry) -> None:
    name, did_name = "alice.test/del-did", f"{ALICE_DID}/del-did"
    data = b"named by did"
    digest = push_blob(reg, name, data, reg.push_auth(name))
    assert delete(reg, did_name, digest).status_code == 202
    assert_unknown(reg, name, digest)


def test_delete_unknown_or_already_deleted_is_blob_unknown(reg: RunningRegistry) -> None:
    name = "alice.test/del-b"
    digest = push_blob(reg, name, b"once", reg.push_auth(name))
    assert delete(reg, name, digest).status_code == 202
    again = delete(reg, name, digest)
    assert again.status_code == 404 and errors_of(again) == ["BLOB_UNKNOWN"]
    missing = delete(reg, name, MISSING)
    assert missing.status_code == 404 and errors_of(missing) == ["BLOB_UNKNOWN"]
    bad = delete(reg, name, "sha256:123")
    assert bad.status_code == 400 and errors_of(bad) == ["DIGEST_INVALID"]


def test_reupload_links_again(reg: RunningRegistry) -> None:
    name = "alice.test/del-c"
    h = reg.push_auth(name)
    data = b"comes back"
    digest = push_blob(reg, name, data, h)
    # monolithic POST
    assert delete(reg, name, digest).status_code == 202
    assert_unknown(reg, name, digest)
    push_blob(reg, name, data, h)
    assert_served(reg, name, digest, data)
    # POST then PUT <location>?digest= (upload finish)
    assert delete(reg, name, digest).status_code == 202
    opened = reg.http.post(f"/v2/{name}/blobs/uploads/", headers=h)
    assert opened.status_code == 202
    finished = reg.http.put(
        opened.headers["location"], params={"digest": digest}, content=data, headers=h
    )
    assert finished.status_code == 201, finished.text
    assert_served(reg, name, digest, data)


def test_mount_links_again_but_not_from_where_it_was_deleted(reg: RunningRegistry) -> None:
    name, source = "alice.test/del-m", "alice.test/del-m-source"
    data = b"mountable"
    digest = push_blob(reg, name, data, reg.push_auth(name))
    push_blob(reg, source, data, reg.push_auth(source))
    assert delete(reg, name, digest).status_code == 202
    h = reg.auth(f"repository:{name}:pull,push", f"repository:{source}:pull")
    url = f"/v2/{name}/blobs/uploads/"
    # From the repository it was deleted from: no mount, a normal session instead (end-11).
    itself = reg.http.post(url, params={"mount": digest, "from": name}, headers=h)
    assert itself.status_code == 202
    reg.http.delete(itself.headers["location"], headers=h)
    assert_unknown(reg, name, digest)
    mounted = reg.http.post(url, params={"mount": digest, "from": source}, headers=h)
    assert mounted.status_code == 201 and mounted.headers["docker-content-digest"] == digest
    assert_served(reg, name, digest, data)


def test_manifest_put_refuses_an_unlinked_blob(reg: RunningRegistry) -> None:
    name, other = "alice.test/del-p", "alice.test/del-p-other"
    config_data, layer_data = b'{"del": "p"}', b"layer del-p"
    h, other_h = reg.push_auth(name), reg.push_auth(other)
    config = push_blob(reg, name, config_data, h)
    layer = push_blob(reg, name, layer_data, h)
    push_blob(reg, other, layer_data, other_h)
    push_blob(reg, other, config_data, other_h)
    assert delete(reg, name, layer).status_code == 202
    content = oci_manifest((config, len(config_data)), [(layer, len(layer_data))])
    headers = {"Content-Type": OCI_MANIFEST}
    refused = reg.http.put(f"/v2/{name}/manifests/v1", content=content, headers={**h, **headers})
    assert refused.status_code == 400 and errors_of(refused) == ["MANIFEST_BLOB_UNKNOWN"]
    assert refused.json()["errors"][0]["detail"] == {"digests": [layer]}
    accepted = reg.http.put(
        f"/v2/{other}/manifests/v1", content=content, headers={**other_h, **headers}
    )
    assert accepted.status_code == 201, accepted.text
    push_blob(reg, name, layer_data, h)  # linked again: the same manifest is now accepted
    again = reg.http.put(f"/v2/{name}/manifests/v1", content=content, headers={**h, **headers})
    assert again.status_code == 201, again.text


def test_delete_needs_the_same_rights_as_a_manifest_delete(reg: RunningRegistry) -> None:
    name = "alice.test/del-auth"
    data = b"guarded"
    digest = push_blob(reg, name, data, reg.push_auth(name))
    url = blob_url(name, digest)
    bare = reg.http.delete(url)
    assert bare.status_code == 401 and errors_of(bare) == ["UNAUTHORIZED"]
    assert bare.headers["www-authenticate"].startswith("Bearer realm=")
    anonymous = reg.http.delete(url, headers=reg.push_auth(name, user=None))
    assert anonymous.status_code == 401 and errors_of(anonymous) == ["UNAUTHORIZED"]
    bob = reg.http.delete(url, headers=reg.push_auth(name, user="bob.test"))
    assert bob.status_code == 403 and errors_of(bob) == ["DENIED"]
    pull_only = reg.http.delete(url, headers=reg.auth(f"repository:{name}:pull"))
    assert pull_only.status_code == 403 and errors_of(pull_only) == ["DENIED"]
    assert_served(reg, name, digest, data)  # none of the refusals unlinked anything
    # ``pull,push`` is enough, as for manifests (clients that never ask for ``delete``).
    pushed = reg.http.delete(url, headers=reg.auth(f"repository:{name}:pull,push"))
    assert pushed.status_code == 202


def test_delete_without_oauth_session_is_401(reg: RunningRegistry) -> None:
    name = "carol.test/del"
    digest = reg.blobs.put(b"carol's blob")
    response = reg.http.delete(blob_url(name, digest), headers=reg.push_auth(name, "carol.test"))
    assert response.status_code == 401 and errors_of(response) == ["UNAUTHORIZED"]
    assert "log in again at " in response.json()["errors"][0]["message"]
    head = reg.http.head(blob_url(name, digest), headers=reg.auth(f"repository:{name}:pull"))
    assert head.status_code == 200


def test_unlink_survives_a_restart(tmp_path: Path) -> None:
    name, other = "alice.test/del-r", "alice.test/del-r-other"
    data = b"durable delete"
    with running_registry(tmp_path) as first:
        digest = push_blob(first, name, data, first.push_auth(name))
        assert delete(first, name, digest).status_code == 202
    assert digest == sha256(data)
    with running_registry(tmp_path) as second:
        assert_unknown(second, name, digest)
        assert_served(second, other, digest, data)  # the hold survived too
