"""Token auth over HTTP (ATCR-AUTH-*): the token endpoint, the challenge, 401 vs 403, and
tokens that are expired, tampered with or meant for another service."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import jwt
import pytest
from registry_support import (
    ALICE_DID,
    PASSWORD,
    RunningRegistry,
    errors_of,
    push_image,
    running_registry,
)

from reference_impl.atcr.appview.registry.tokens import TokenIssuer


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def clocked(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningRegistry, Clock]]:
    clock = Clock()
    with running_registry(tmp_path_factory.mktemp("clocked"), clock=clock) as running:
        yield running, clock


def basic(user: str, password: str = PASSWORD) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def test_token_response_shape(reg: RunningRegistry) -> None:
    response = reg.http.get(
        "/auth/token",
        params={
            "service": "atcr.test",
            "scope": "repository:alice.test/app:pull,push",
            "account": "alice.test",
        },
        headers=basic("alice.test"),
    )
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"token", "access_token", "expires_in", "issued_at"}
    assert body["token"] == body["access_token"] and body["expires_in"] == 300
    claims = jwt.decode(body["token"], options={"verify_signature": False})
    assert claims["sub"] == ALICE_DID and claims["iss"] == reg.url and claims["aud"] == "atcr.test"
    assert claims["access"] == [
        {"type": "repository", "name": "alice.test/app", "actions": ["pull", "push"]}
    ]
    # the JWKS verifies it
    jwks = reg.http.get("/auth/jwks").json()
    key = jwt.PyJWK(jwks["keys"][0]).key
    assert jwks["keys"][0]["kid"] == jwt.get_unverified_header(body["token"])["kid"]
    jwt.decode(
        body["token"],
        key,
        algorithms=["ES256"],
        audience="atcr.test",
        options={"verify_exp": False},
    )


def test_grants(reg: RunningRegistry) -> None:
    def actions(user: str | None, *scopes: str) -> list[dict]:
        token = reg.token(*scopes, user=user)
        return jwt.decode(token, options={"verify_signature": False})["access"]

    scopes = ("repository:alice.test/app:pull,push", "repository:bob.test/app:pull,push")
    assert actions("alice.test", *scopes) == [
        {"type": "repository", "name": "alice.test/app", "actions": ["pull", "push"]},
        {"type": "repository", "name": "bob.test/app", "actions": ["pull"]},
    ]
    # a DID as the Basic identifier and as the owner segment
    assert actions(ALICE_DID, f"repository:{ALICE_DID}/app:push") == [
        {"type": "repository", "name": f"{ALICE_DID}/app", "actions": ["push"]}
    ]
    anonymous = actions(None, *scopes)
    assert all(entry["actions"] == ["pull"] for entry in anonymous)
    assert jwt.decode(reg.token(user=None), options={"verify_signature": False})["sub"] == ""


def test_form_post_password_grant(reg: RunningRegistry) -> None:
    response = reg.http.post(
        "/auth/token",
        data={
            "grant_type": "password",
            "username": "alice.test",
            "password": PASSWORD,
            "service": "atcr.test",
            "scope": "repository:alice.test/app:push",
        },
    )
    assert response.status_code == 200 and response.json()["access_token"]
    bad = reg.http.post("/auth/token", data={"grant_type": "refresh_token", "refresh_token": "x"})
    assert bad.status_code == 400 and errors_of(bad) == ["UNSUPPORTED"]
    wrong = reg.http.post(
        "/auth/token", data={"grant_type": "password", "username": "alice.test", "password": "nope"}
    )
    assert wrong.status_code == 401 and errors_of(wrong) == ["UNAUTHORIZED"]


@pytest.mark.parametrize(
    "header",
    [
        basic("alice.test", "wrong-password"),
        basic("nobody.test"),
        {"Authorization": "Basic !!!not-base64!!!"},
        {"Authorization": "Basic " + base64.b64encode(b"no-colon").decode()},
        {"Authorization": "Basic " + base64.b64encode(b"\xff\xfe:x").decode()},
        {"Authorization": "Basic " + "A" * 10000},
        {"Authorization": "Bearer something"},
    ],
)
def test_token_refusals(reg: RunningRegistry, header: dict[str, str]) -> None:
    response = reg.http.get(
        "/auth/token", params={"scope": "repository:alice.test/app:pull"}, headers=header
    )
    assert response.status_code == 401 and errors_of(response) == ["UNAUTHORIZED"]


def test_challenge_scopes(reg: RunningRegistry) -> None:
    def challenge(method: str, path: str) -> str:
        response = reg.http.request(method, path)
        assert response.status_code == 401 and errors_of(response) == ["UNAUTHORIZED"]
        return response.headers["www-authenticate"]

    prefix = f'Bearer realm="{reg.url}/auth/token",service="atcr.test"'
    assert challenge("GET", "/v2/alice.test/app/tags/list") == (
        prefix + ',scope="repository:alice.test/app:pull"'
    )
    assert challenge("POST", "/v2/alice.test/app/blobs/uploads/") == (
        prefix + ',scope="repository:alice.test/app:pull,push"'
    )
    assert challenge("DELETE", "/v2/alice.test/app/manifests/v1") == (
        prefix + ',scope="repository:alice.test/app:delete"'
    )
    assert challenge("GET", "/v2/") == prefix


def test_401_for_anonymous_403_for_users(reg: RunningRegistry) -> None:
    name = "alice.test/guarded"
    push_image(reg, name, "v1", reg.push_auth(name), b"g")
    writes = len(reg.manifests.writes)
    anonymous = reg.auth(f"repository:{name}:pull,push", user=None)
    assert reg.http.get(f"/v2/{name}/manifests/v1", headers=anonymous).status_code == 200
    refused = reg.http.post(f"/v2/{name}/blobs/uploads/", headers=anonymous)
    assert refused.status_code == 401 and errors_of(refused) == ["UNAUTHORIZED"]
    assert 'scope="repository:alice.test/guarded:pull,push"' in refused.headers["www-authenticate"]
    bob = reg.auth(f"repository:{name}:pull,push,delete", user="bob.test")
    assert reg.http.get(f"/v2/{name}/manifests/v1", headers=bob).status_code == 200
    for method, path in (
        ("POST", f"/v2/{name}/blobs/uploads/"),
        ("PUT", f"/v2/{name}/manifests/v2"),
        ("DELETE", f"/v2/{name}/manifests/v1"),
    ):
        response = reg.http.request(method, path, headers=bob, content=b"{}")
        assert response.status_code == 403 and errors_of(response) == ["DENIED"]
    # a token for another repository does not open this one
    other = reg.auth("repository:alice.test/elsewhere:pull")
    response = reg.http.get(f"/v2/{name}/tags/list", headers=other)
    assert response.status_code == 403 and errors_of(response) == ["DENIED"]
    assert len(reg.manifests.writes) == writes  # nothing written for a denied request


def test_expired_tampered_and_foreign_tokens(clocked: tuple[RunningRegistry, Clock]) -> None:
    reg, clock = clocked
    token = reg.token("repository:alice.test/app:pull")
    headers = {"Authorization": f"Bearer {token}"}
    assert reg.http.get("/v2/", headers=headers).status_code == 200
    head, body, sig = token.split(".")
    forged_body = (
        base64.urlsafe_b64encode(base64.urlsafe_b64decode(body + "==").replace(b"pull", b"push"))
        .rstrip(b"=")
        .decode()
    )
    other_aud = TokenIssuer(reg.settings.signing_key, reg.url, "other.service", clock=clock)
    other_iss = TokenIssuer(reg.settings.signing_key, "http://elsewhere", "atcr.test", clock=clock)
    for bad in (
        f"{head}.{forged_body}.{sig}",
        f"{head}.{body}.{sig[:-6]}AAAAAA",
        other_aud.issue(ALICE_DID, {}).token,
        other_iss.issue(ALICE_DID, {}).token,
        "garbage",
    ):
        response = reg.http.get("/v2/", headers={"Authorization": f"Bearer {bad}"})
        assert response.status_code == 401 and errors_of(response) == ["UNAUTHORIZED"]
        assert response.headers["www-authenticate"].startswith("Bearer realm=")
    clock.now += 301
    expired = reg.http.get("/v2/", headers=headers)
    assert expired.status_code == 401 and errors_of(expired) == ["UNAUTHORIZED"]
    assert "expired" in expired.json()["errors"][0]["message"]


def test_spool_dir_is_created(tmp_path: Path) -> None:
    with running_registry(tmp_path / "fresh") as running:
        assert running.spool.is_dir()
