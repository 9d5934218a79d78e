"""The AppView's ATProto side against a real reference PDS: owners, credentials, the OAuth
client routes, the session gate, records in the owner's PDS, and per-DID serialisation.

The ports run in-process (real OAuthClient, real HTTP); the PDS is a real subprocess and users
sign in on its form like a browser would.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import httpx
import pytest
from atcr_appview_support import (
    OCI_CONFIG,
    OCI_LAYER,
    OCI_MANIFEST,
    PortWorld,
    basic,
    list_records,
    oauth_login,
    port_world,
    sha256,
)
from oauth_client_support import Account

from reference_impl.atcr.appview.atproto import TagCachingManifestStore
from reference_impl.atcr.appview.atproto.record_values import tag_rkey
from reference_impl.atcr.appview.ports import (
    BadCredentials,
    BlobRef,
    NameUnknown,
    NoOAuthSession,
    Owner,
    ParsedManifest,
    Unavailable,
)
from reference_impl.common.oauth_client.store import OAuthClientStore

DEFAULT_HOLD = "did:web:127.0.0.1%3A1"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PortWorld]:
    with port_world(tmp_path_factory.mktemp("atcr-ports"), default_hold_did=DEFAULT_HOLD) as w:
        yield w


@pytest.fixture(scope="module")
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=30, trust_env=False) as client:
        yield client


@pytest.fixture(scope="module")
def logged_in(world: PortWorld, http: httpx.Client) -> Account:
    """The first account, logged in to the AppView over OAuth."""
    account = world.accounts[0]
    response = oauth_login(http, world.url, account)
    assert response.status_code == 200, response.text
    return account


def owner_of(world: PortWorld, account: Account) -> Owner:
    return world.run(world.ports.owners.resolve(account.handle))


def user_bearer(http: httpx.Client, world: PortWorld, account: Account) -> dict[str, str]:
    """The user's *own* legacy session with their PDS (not the AppView's)."""
    response = http.post(
        f"{world.pds}/xrpc/com.atproto.server.createSession",
        json={"identifier": account.handle, "password": account.password},
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['accessJwt']}"}


def parsed(content: bytes) -> ParsedManifest:
    doc = json.loads(content)
    ref = lambda d: BlobRef(d["digest"], d["size"], d["mediaType"])  # noqa: E731
    return ParsedManifest(
        media_type=doc["mediaType"],
        schema_version=doc["schemaVersion"],
        config=ref(doc["config"]),
        layers=tuple(ref(layer) for layer in doc["layers"]),
        subject=ref(doc["subject"]) if "subject" in doc else None,
        annotations=doc.get("annotations"),
    )


def manifest_bytes(seed: str, subject: dict[str, Any] | None = None) -> bytes:
    doc: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": sha256(seed.encode()), "size": len(seed)},
        "layers": [{"mediaType": OCI_LAYER, "digest": sha256(b"l" + seed.encode()), "size": 9}],
        "annotations": {"seed": seed},
    }
    if subject is not None:
        doc["subject"] = subject
    return json.dumps(doc, indent=2).encode()


# -- client documents and OAuth ----------------------------------------------------------------


def test_client_metadata_is_a_confidential_client_at_its_own_url(
    world: PortWorld, http: httpx.Client
) -> None:
    response = http.get(f"{world.url}/client-metadata.json")
    assert response.status_code == 200
    doc = response.json()
    assert doc["client_id"] == f"{world.url}/client-metadata.json"
    assert doc["redirect_uris"] == [f"{world.url}/auth/oauth/callback"]
    assert doc["jwks_uri"] == f"{world.url}/auth/oauth/jwks"
    assert doc["token_endpoint_auth_method"] == "private_key_jwt"
    assert doc["token_endpoint_auth_signing_alg"] == "ES256"
    assert doc["dpop_bound_access_tokens"] is True
    assert "atproto" in doc["scope"].split()
    assert {"authorization_code", "refresh_token"} <= set(doc["grant_types"])
    keys = http.get(doc["jwks_uri"]).json()["keys"]
    assert len(keys) == 1 and keys[0]["crv"] == "P-256" and "d" not in keys[0]


def test_oauth_login_through_the_pds(world: PortWorld, logged_in: Account) -> None:
    session = world.run(world.oauth.session(logged_in.did))
    assert session is not None and session.did == logged_in.did


def test_login_with_unknown_handle_is_a_clear_400(world: PortWorld, http: httpx.Client) -> None:
    response = http.get(f"{world.url}/auth/oauth/login", params={"handle": "nobody.test"})
    assert response.status_code == 400
    assert response.json()["error"] == "InvalidRequest"


# -- owners and credentials --------------------------------------------------------------------


def test_owner_resolves_from_handle_and_from_did(world: PortWorld) -> None:
    account = world.accounts[1]
    by_handle = world.run(world.ports.owners.resolve(account.handle))
    by_did = world.run(world.ports.owners.resolve(account.did))
    assert by_handle == by_did
    assert by_handle.did == account.did and by_handle.handle == account.handle
    assert by_handle.pds_url == world.pds


@pytest.mark.parametrize("name", ["nobody.test", "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa", "x"])
def test_unknown_owner_is_name_unknown(world: PortWorld, name: str) -> None:
    with pytest.raises(NameUnknown):
        world.run(world.ports.owners.resolve(name))


def test_credentials_are_checked_by_the_users_pds(world: PortWorld, http: httpx.Client) -> None:
    account = world.accounts[1]
    check = world.ports.credentials.check
    assert world.run(check(account.handle, account.password)) == account.did
    assert world.run(check(account.did, account.password)) == account.did
    created = http.post(
        f"{world.pds}/xrpc/com.atproto.server.createAppPassword",
        headers=user_bearer(http, world, account),
        json={"name": "docker"},
    )
    assert created.status_code == 200, created.text
    assert world.run(check(account.handle, created.json()["password"])) == account.did
    for identifier, password in [
        (account.handle, "wrong password"),
        ("nobody.test", account.password),
        (account.handle, ""),
    ]:
        with pytest.raises(BadCredentials):
            world.run(check(identifier, password))


# -- the session gate --------------------------------------------------------------------------


def test_no_session_means_log_in_again_with_the_login_url(world: PortWorld) -> None:
    account = world.accounts[2]
    with pytest.raises(NoOAuthSession) as caught:
        world.run(world.ports.sessions.require_session(owner_of(world, account)))
    expected = f"{world.url}/auth/oauth/login?handle={account.handle}"
    assert caught.value.login_url == expected
    assert caught.value.message == (
        f"no ATProto OAuth session for {account.did}: log in again at {expected}"
    )


def test_a_logged_in_owner_passes_the_gate(world: PortWorld, logged_in: Account) -> None:
    world.run(world.ports.sessions.require_session(owner_of(world, logged_in)))


def test_writes_without_session_raise_no_oauth_session(world: PortWorld) -> None:
    owner = owner_of(world, world.accounts[2])
    content = manifest_bytes("nosession")
    with pytest.raises(NoOAuthSession):
        world.run(
            world.ports.manifests.put(
                owner, "app", sha256(content), content, parsed(content), ["v1"], DEFAULT_HOLD
            )
        )
    with pytest.raises(NoOAuthSession):
        world.run(world.ports.manifests.hold_for(owner, for_push=True))


# -- records -----------------------------------------------------------------------------------


def test_push_records_then_read_them_back_from_the_pds(
    world: PortWorld, logged_in: Account, http: httpx.Client
) -> None:
    store = world.ports.manifests
    owner = owner_of(world, logged_in)
    assert world.run(store.hold_for(owner, for_push=False)) == DEFAULT_HOLD
    assert list_records(http, world.pds, owner.did, "io.atcr.sailor.profile") == []
    assert world.run(store.hold_for(owner, for_push=True)) == DEFAULT_HOLD
    [profile] = list_records(http, world.pds, owner.did, "io.atcr.sailor.profile")
    assert profile["uri"].endswith("/io.atcr.sailor.profile/self")
    assert profile["value"]["defaultHold"] == DEFAULT_HOLD

    content = manifest_bytes("records")
    digest = sha256(content)
    uri = world.run(
        store.put(
            owner, "team/app", digest, content, parsed(content), ["v1", "latest"], DEFAULT_HOLD
        )
    )
    # Re-pushing the same digest reuses the record.
    again = world.run(
        store.put(owner, "team/app", digest, content, parsed(content), ["v2"], DEFAULT_HOLD)
    )
    assert again == uri

    [manifest] = list_records(http, world.pds, owner.did, "io.atcr.manifest")
    value = manifest["value"]
    assert manifest["uri"] == uri
    assert value["repository"] == "team/app" and value["digest"] == digest
    assert value["mediaType"] == OCI_MANIFEST and value["schemaVersion"] == 2
    assert value["holdDid"] == DEFAULT_HOLD
    assert value["config"]["digest"] == json.loads(content)["config"]["digest"]
    assert [layer["digest"] for layer in value["layers"]] == [
        layer["digest"] for layer in json.loads(content)["layers"]
    ]
    assert value["manifestBlob"]["size"] == len(content)
    tags = {r["value"]["tag"]: r for r in list_records(http, world.pds, owner.did, "io.atcr.tag")}
    assert set(tags) == {"v1", "latest", "v2"}
    assert tags["v1"]["uri"].endswith("/io.atcr.tag/team~app:v1")
    assert tags["v1"]["value"]["manifest"] == uri
    assert tags["v1"]["value"]["manifestDigest"] == digest

    by_tag = world.run(store.get_by_tag(owner, "team/app", "latest"))
    by_digest = world.run(store.get_by_digest(owner, "team/app", digest))
    assert by_tag is not None and by_digest is not None
    assert by_tag.content == content == by_digest.content  # byte for byte
    assert by_tag.record_uri == uri and by_tag.hold_did == DEFAULT_HOLD
    assert world.run(store.list_tags(owner, "team/app")) == ["latest", "v1", "v2"]
    assert world.run(store.repository_exists(owner, "team/app"))
    assert not world.run(store.repository_exists(owner, "team/other"))
    assert world.run(store.get_by_tag(owner, "team/other", "v1")) is None

    # The PDS is the truth: deleting a tag record there (as the user) removes the tag.
    deleted = http.post(
        f"{world.pds}/xrpc/com.atproto.repo.deleteRecord",
        headers=user_bearer(http, world, logged_in),
        json={"repo": owner.did, "collection": "io.atcr.tag", "rkey": tag_rkey("team/app", "v1")},
    )
    assert deleted.status_code == 200, deleted.text
    assert world.run(store.get_by_tag(owner, "team/app", "v1")) is None
    assert world.run(store.list_tags(owner, "team/app")) == ["latest", "v2"]

    assert world.run(store.delete_tag(owner, "team/app", "v2"))
    assert not world.run(store.delete_tag(owner, "team/app", "v2"))
    assert world.run(store.delete_manifest(owner, "team/app", digest))
    assert world.run(store.get_by_digest(owner, "team/app", digest)) is None
    assert world.run(store.list_tags(owner, "team/app")) == []
    assert list_records(http, world.pds, owner.did, "io.atcr.manifest") == []


def test_referrers_are_manifests_whose_subject_is_the_digest(
    world: PortWorld, logged_in: Account
) -> None:
    store = world.ports.manifests
    owner = owner_of(world, logged_in)
    base = manifest_bytes("subject-base")
    world.run(store.put(owner, "refs", sha256(base), base, parsed(base), ["base"], DEFAULT_HOLD))
    subject = {"mediaType": OCI_MANIFEST, "digest": sha256(base), "size": len(base)}
    signature = manifest_bytes("signature", subject=subject)
    world.run(
        store.put(owner, "refs", sha256(signature), signature, parsed(signature), [], DEFAULT_HOLD)
    )
    [found] = world.run(store.referrers(owner, "refs", sha256(base)))
    assert found.digest == sha256(signature) and found.size == len(signature)
    assert found.artifact_type == OCI_CONFIG  # no artifactType: the config's media type
    assert world.run(store.referrers(owner, "refs", sha256(signature))) == []


def test_fault_tag_cached_not_from_pds_serves_deleted_tags(
    world: PortWorld, logged_in: Account, http: httpx.Client
) -> None:
    store = TagCachingManifestStore(world.ports.manifests)
    owner = owner_of(world, logged_in)
    content = manifest_bytes("cached")
    world.run(
        store.put(owner, "cached", sha256(content), content, parsed(content), ["t"], DEFAULT_HOLD)
    )
    http.post(
        f"{world.pds}/xrpc/com.atproto.repo.deleteRecord",
        headers=user_bearer(http, world, logged_in),
        json={"repo": owner.did, "collection": "io.atcr.tag", "rkey": tag_rkey("cached", "t")},
    ).raise_for_status()
    # The honest store sees the deletion; the faulty one still serves its memory.
    assert world.run(world.ports.manifests.get_by_tag(owner, "cached", "t")) is None
    stale = world.run(store.get_by_tag(owner, "cached", "t"))
    assert stale is not None and stale.content == content
    assert world.run(store.list_tags(owner, "cached")) == ["t"]


# -- concurrency -------------------------------------------------------------------------------


def test_parallel_writes_of_one_user_never_leak_use_dpop_nonce(
    world: PortWorld, logged_in: Account
) -> None:
    owner = owner_of(world, logged_in)
    store = world.ports.manifests

    async def many() -> list[Any]:
        async def one(i: int) -> str:
            content = manifest_bytes(f"parallel-{i}")
            return await store.put(
                owner, "par", sha256(content), content, parsed(content), [f"t{i}"], DEFAULT_HOLD
            )

        return await asyncio.gather(*(one(i) for i in range(8)), return_exceptions=True)

    results = world.run(many(), timeout=120)
    assert all(isinstance(r, str) for r in results), results
    assert world.run(store.list_tags(owner, "par")) == sorted(f"t{i}" for i in range(8))


# -- logout ------------------------------------------------------------------------------------


def test_logout_needs_the_password_then_revokes_and_forgets(
    world: PortWorld, http: httpx.Client
) -> None:
    account = world.accounts[1]
    assert oauth_login(http, world.url, account).status_code == 200
    owner = owner_of(world, account)
    world.run(world.ports.sessions.require_session(owner))

    refused = http.post(
        f"{world.url}/auth/oauth/logout", headers={"Authorization": basic(account, "nope")}
    )
    assert refused.status_code == 401
    assert refused.json()["errors"][0]["code"] == "UNAUTHORIZED"
    assert world.run(world.oauth.session(account.did)) is not None

    done = http.post(f"{world.url}/auth/oauth/logout", headers={"Authorization": basic(account)})
    assert done.status_code == 200, done.text
    assert done.json()["loggedIn"] is False
    assert world.run(world.oauth.session(account.did)) is None
    with pytest.raises(NoOAuthSession):
        world.run(world.ports.sessions.require_session(owner))


def test_unreachable_pds_is_unavailable(world: PortWorld) -> None:
    dead = Owner(did=world.accounts[0].did, handle=None, pds_url="http://127.0.0.1:1")
    with pytest.raises(Unavailable):
        world.run(world.ports.manifests.list_tags(dead, "app"))


def test_an_unrefreshable_session_means_log_in_again(world: PortWorld, http: httpx.Client) -> None:
    account = world.accounts[2]
    assert oauth_login(http, world.url, account).status_code == 200
    owner = owner_of(world, account)
    world.run(world.ports.sessions.require_session(owner))
    store = OAuthClientStore(world.db)
    session = store.load_session(account.did)
    assert session is not None
    # Expired, with a refresh token the authorization server does not know: only a new login
    # can help, and the gate must say so (ATCR-OAUTH-03) instead of failing later.
    broken = replace(session, access_token="expired", refresh_token="spent", expires_at=1.0)
    assert store.replace_tokens(session, broken, time.time())
    with pytest.raises(NoOAuthSession):
        world.run(world.ports.sessions.require_session(owner))
    assert world.run(world.oauth.session(account.did)) is None
