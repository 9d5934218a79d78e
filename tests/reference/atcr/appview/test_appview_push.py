"""The AppView as it runs (``python -m reference_impl.atcr.appview``) with a real PDS and a real
hold: docker-style tokens, OAuth login, a full push through the HTTP API with the records it
leaves in the PDS, pulls, the PDS as the source of truth, holds refusing or down, and parallel
uploads of one user."""

from __future__ import annotations

import concurrent.futures
import signal
import time
from collections.abc import Iterator

import httpx
import pytest
from atcr_appview_support import (
    OCI_MANIFEST,
    Stack,
    bearer,
    list_records,
    make_image,
    oauth_login,
    oci_code,
    push_blob,
    push_image,
    registry_token,
    sha256,
    stack,
)
from oauth_client_support import Account

from reference_impl.atcr.appview.atproto.record_values import tag_rkey


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with stack(tmp_path_factory.mktemp("atcr-stack"), crew=2) as running:
        yield running


@pytest.fixture(scope="module")
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=30, trust_env=False) as client:
        yield client


@pytest.fixture(scope="module")
def alice(world: Stack, http: httpx.Client) -> Account:
    """Hold crew, logged in to the AppView over OAuth."""
    account = world.crew[0]
    response = oauth_login(http, world.appview, account)
    assert response.status_code == 200, response.text
    assert response.json() == {"did": account.did, "handle": account.handle, "loggedIn": True}
    return account


def user_bearer(http: httpx.Client, world: Stack, account: Account) -> dict[str, str]:
    response = http.post(
        f"{world.pds}/xrpc/com.atproto.server.createSession",
        json={"identifier": account.handle, "password": account.password},
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['accessJwt']}"}


def test_docker_style_token_flow(world: Stack, http: httpx.Client) -> None:
    account = world.crew[1]
    repo = f"{account.handle}/app"
    granted = registry_token(http, world.appview, account, [f"repository:{repo}:pull,push"])
    assert granted.status_code == 200, granted.text
    body = granted.json()
    assert body["token"] == body["access_token"] and body["expires_in"] == 300

    wrong = registry_token(
        http, world.appview, account, [f"repository:{repo}:pull,push"], password="wrong"
    )
    assert wrong.status_code == 401
    assert oci_code(wrong) == "UNAUTHORIZED"
    # No token at all: the challenge names the realm and service.
    challenged = http.get(f"{world.appview}/v2/")
    assert challenged.status_code == 401
    assert f'realm="{world.appview}/auth/token"' in challenged.headers["www-authenticate"]


def test_push_without_oauth_session_says_log_in_again(world: Stack, http: httpx.Client) -> None:
    account = world.crew[1]  # never logged in to the AppView over OAuth
    repo = f"{account.handle}/app"
    response = http.post(
        f"{world.appview}/v2/{repo}/blobs/uploads/",
        headers=bearer(http, world.appview, account, repo),
    )
    assert response.status_code == 401, response.text
    assert oci_code(response) == "UNAUTHORIZED"
    message = response.json()["errors"][0]["message"]
    assert "log in again" in message
    assert f"{world.appview}/auth/oauth/login?handle={account.handle}" in message
    assert list_records(http, world.pds, account.did, "io.atcr.sailor.profile") == []


def test_full_push_leaves_records_and_pulls_give_identical_bytes(
    world: Stack, alice: Account, http: httpx.Client
) -> None:
    repo = f"{alice.handle}/team/app"
    auth = bearer(http, world.appview, alice, repo)
    image = make_image("full", layers=2, layer_size=6000)
    pushed = push_image(http, world.appview, repo, image, auth, tag="v1")
    assert pushed.status_code == 201, pushed.text
    assert pushed.headers["docker-content-digest"] == image.digest

    [profile] = list_records(http, world.pds, alice.did, "io.atcr.sailor.profile")
    assert profile["value"]["defaultHold"] == world.hold_did
    [manifest] = list_records(http, world.pds, alice.did, "io.atcr.manifest")
    value = manifest["value"]
    assert value["repository"] == "team/app" and value["digest"] == image.digest
    assert value["holdDid"] == world.hold_did and value["mediaType"] == OCI_MANIFEST
    assert value["config"]["digest"] == sha256(image.config)
    assert [layer["digest"] for layer in value["layers"]] == [sha256(b) for b in image.layers]
    [tag] = list_records(http, world.pds, alice.did, "io.atcr.tag")
    assert tag["uri"].endswith(f"/io.atcr.tag/{tag_rkey('team/app', 'v1')}")
    assert tag["value"]["manifest"] == manifest["uri"]
    assert tag["value"]["manifestDigest"] == image.digest

    for ref in ("v1", image.digest):
        pulled = http.get(
            f"{world.appview}/v2/{repo}/manifests/{ref}",
            headers={**auth, "Accept": OCI_MANIFEST},
        )
        assert pulled.status_code == 200, pulled.text
        assert pulled.content == image.manifest
        assert pulled.headers["docker-content-digest"] == image.digest

    layer = image.layers[1]
    redirected = http.get(f"{world.appview}/v2/{repo}/blobs/{sha256(layer)}", headers=auth)
    assert redirected.status_code == 307, redirected.text
    assert redirected.headers["location"].startswith(f"{world.hold}/xrpc/com.atproto.sync.getBlob")
    assert http.get(redirected.headers["location"]).content == layer
    head = http.head(f"{world.appview}/v2/{repo}/blobs/{sha256(layer)}", headers=auth)
    assert head.status_code == 200 and int(head.headers["content-length"]) == len(layer)

    listed = http.get(f"{world.appview}/v2/{repo}/tags/list", headers=auth)
    assert listed.status_code == 200 and listed.json()["tags"] == ["v1"]


def test_deleting_the_tag_record_in_the_pds_removes_the_tag(
    world: Stack, alice: Account, http: httpx.Client
) -> None:
    repo = f"{alice.handle}/gone"
    auth = bearer(http, world.appview, alice, repo)
    image = make_image("gone")
    assert push_image(http, world.appview, repo, image, auth, tag="keep").status_code == 201
    assert push_image(http, world.appview, repo, image, auth, tag="drop").status_code == 201
    assert http.get(f"{world.appview}/v2/{repo}/tags/list", headers=auth).json()["tags"] == [
        "drop",
        "keep",
    ]
    deleted = http.post(
        f"{world.pds}/xrpc/com.atproto.repo.deleteRecord",
        headers=user_bearer(http, world, alice),
        json={"repo": alice.did, "collection": "io.atcr.tag", "rkey": tag_rkey("gone", "drop")},
    )
    assert deleted.status_code == 200, deleted.text
    assert http.get(f"{world.appview}/v2/{repo}/tags/list", headers=auth).json()["tags"] == ["keep"]
    pulled = http.get(
        f"{world.appview}/v2/{repo}/manifests/drop", headers={**auth, "Accept": OCI_MANIFEST}
    )
    assert pulled.status_code == 404 and oci_code(pulled) == "MANIFEST_UNKNOWN"


def test_a_user_who_is_not_crew_is_denied(world: Stack, http: httpx.Client) -> None:
    carol = world.outsider
    assert oauth_login(http, world.appview, carol).status_code == 200
    repo = f"{carol.handle}/app"
    response = push_blob(
        http, world.appview, repo, b"not crew" * 100, bearer(http, world.appview, carol, repo)
    )
    assert response.status_code == 403, response.text
    assert oci_code(response) == "DENIED"


def test_pushing_into_another_users_namespace_is_denied_and_writes_nothing(
    world: Stack, alice: Account, http: httpx.Client
) -> None:
    bob = world.crew[1]
    repo = f"{bob.handle}/stolen"
    auth = bearer(http, world.appview, alice, repo)  # alice asks for push on bob's repo
    image = make_image("stolen")
    started = http.post(f"{world.appview}/v2/{repo}/blobs/uploads/", headers=auth)
    assert started.status_code == 403 and oci_code(started) == "DENIED"
    put = http.put(
        f"{world.appview}/v2/{repo}/manifests/latest",
        content=image.manifest,
        headers={**auth, "Content-Type": OCI_MANIFEST},
    )
    assert put.status_code == 403 and oci_code(put) == "DENIED"
    for collection in ("io.atcr.manifest", "io.atcr.tag", "io.atcr.sailor.profile"):
        assert list_records(http, world.pds, bob.did, collection) == []


def test_parallel_blob_uploads_of_one_user_all_succeed(
    world: Stack, alice: Account, http: httpx.Client
) -> None:
    repo = f"{alice.handle}/parallel"
    auth = bearer(http, world.appview, alice, repo)
    blobs = [f"layer {i} ".encode() * (500 + i) for i in range(8)]

    def upload(data: bytes) -> httpx.Response:
        with httpx.Client(timeout=60, trust_env=False) as own:
            return push_blob(own, world.appview, repo, data, auth)

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        results = list(pool.map(upload, blobs))
    for response in results:
        assert response.status_code == 201, response.text
        assert "use_dpop_nonce" not in response.text
    for data in blobs:
        head = http.head(f"{world.appview}/v2/{repo}/blobs/{sha256(data)}", headers=auth)
        assert head.status_code == 200


def test_hold_down_fails_fast_then_works_after_restart(
    world: Stack, alice: Account, http: httpx.Client
) -> None:
    repo = f"{alice.handle}/outage"
    auth = bearer(http, world.appview, alice, repo)
    data = b"outage layer " * 400
    world.runtime.kill("hold", signal.SIGTERM)
    try:
        started = time.monotonic()
        failed = push_blob(http, world.appview, repo, data, auth)
        elapsed = time.monotonic() - started
        assert failed.status_code == 503, failed.text
        assert oci_code(failed) == "UNAVAILABLE"
        assert elapsed < 10, elapsed
        pulled = http.head(f"{world.appview}/v2/{repo}/blobs/{sha256(data)}", headers=auth)
        assert pulled.status_code == 503
    finally:
        world.runtime.restart("hold")
    assert push_blob(http, world.appview, repo, data, auth).status_code == 201


def test_log_has_the_system_time_and_no_secrets(world: Stack, alice: Account) -> None:
    text = world.runtime.log_paths["atcr"].read_text("utf-8", errors="replace")
    assert any("system time" in line and "(epoch " in line for line in text.splitlines())
    for account in (*world.crew, world.outsider):
        assert account.password not in text
    assert "eyJ" not in text  # no JWT (access, refresh, registry or service-auth token)


def test_multipart_and_empty_blobs_land_in_the_hold_byte_for_byte(
    world: Stack, alice: Account, http: httpx.Client
) -> None:
    repo = f"{alice.handle}/parts"
    auth = bearer(http, world.appview, alice, repo)
    three_parts = bytes(range(256)) * 40  # 10240 bytes: parts of 4096, 4096, 2048
    for data in (three_parts, b""):
        response = push_blob(http, world.appview, repo, data, auth)
        assert response.status_code == 201, response.text
        redirected = http.get(f"{world.appview}/v2/{repo}/blobs/{sha256(data)}", headers=auth)
        assert redirected.status_code == 307
        fetched = http.get(redirected.headers["location"])
        assert fetched.status_code == 200 and fetched.content == data
