"""Enrollment over OAuth (STR-ENR-*): Stratos's OAuth routes with the real core
(``EnrollmentService``), the real OAuth client and a real reference PDS."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from stratos_oauth_support import (
    DESIGN,
    ENGINEERING,
    ENROLLMENT,
    SERVICE_DID,
    StratosWorld,
    enroll,
    pds_record,
    sign_in,
    stratos_world,
)

from reference_impl.stratos.enrollment import verify_attestation

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StratosWorld]:
    with stratos_world(tmp_path_factory.mktemp("stratos-oauth")) as running:
        yield running


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=30) as client:
        yield client


def test_client_metadata_and_jwks(world: StratosWorld, http: httpx.Client) -> None:
    response = http.get(f"{world.url}/client-metadata.json")
    assert response.status_code == 200
    doc = response.json()
    assert doc["client_id"] == f"{world.url}/client-metadata.json"
    assert doc["redirect_uris"] == [f"{world.url}/oauth/callback"]
    assert doc["grant_types"] == ["authorization_code", "refresh_token"]
    assert doc["response_types"] == ["code"]
    assert doc["scope"] == "atproto transition:generic"
    assert doc["token_endpoint_auth_method"] == "private_key_jwt"
    assert doc["token_endpoint_auth_signing_alg"] == "ES256"
    assert doc["jwks_uri"] == f"{world.url}/oauth/jwks"
    assert doc["dpop_bound_access_tokens"] is True
    assert doc["application_type"] == "web"

    keys = http.get(doc["jwks_uri"]).json()["keys"]
    assert len(keys) == 1 and keys[0]["kty"] == "EC" and keys[0]["crv"] == "P-256"
    assert "d" not in keys[0]


def test_authorize_redirects_to_the_users_pds(world: StratosWorld, http: httpx.Client) -> None:
    response = http.get(
        f"{world.url}/oauth/authorize",
        params={"handle": world.alice.handle, "boundaries": "engineering"},
    )
    assert response.status_code == 303
    location = response.headers["location"]
    assert location.startswith(f"{world.pds}/oauth/authorize?")
    query = dict(parse_qsl(urlsplit(location).query))
    assert query["client_id"] == world.identity.client_id
    assert query["request_uri"].startswith("urn:ietf:params:oauth:request_uri:")


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({}, "handle"),
        ({"handle": "nobody-at-all.test"}, "resolve"),
        ({"handle": "not a handle"}, "resolve"),
        ({"handle": "{alice}", "boundaries": "engineering,marketing"}, "marketing"),
        ({"handle": "{alice}", "boundaries": "did:web:other.example/engineering"}, "other"),
    ],
)
def test_authorize_refuses_bad_input_with_400(
    world: StratosWorld, http: httpx.Client, params: dict[str, str], fragment: str
) -> None:
    params = {k: v.replace("{alice}", world.alice.handle) for k, v in params.items()}
    response = http.get(f"{world.url}/oauth/authorize", params=params)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["error"] == "InvalidRequest"
    assert fragment in response.json()["message"]


def test_enrolling_writes_an_attested_record_to_the_pds(
    world: StratosWorld, http: httpx.Client
) -> None:
    alice = world.alice
    response = enroll(world, http, alice, "engineering")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["did"] == alice.did
    assert body["handle"] == alice.handle
    assert body["enrolled"] is True
    assert body["boundaries"] == [ENGINEERING]
    assert body["enrolledAt"].endswith("Z")

    # Written before the callback answered: no waiting here.
    stored = pds_record(http, world, alice.did, ENROLLMENT, SERVICE_DID)
    assert stored is not None
    record = stored["value"]
    assert record["$type"] == ENROLLMENT
    assert record["service"] == world.url
    assert record["boundaries"] == [{"value": ENGINEERING}]
    assert record["createdAt"] == body["enrolledAt"]
    enrollment = world.stratos.enrollments.get(alice.did)
    assert enrollment is not None and record["signingKey"] == enrollment.signing_did_key
    sig = base64.b64decode(record["attestation"]["sig"]["$bytes"] + "==")
    assert record["attestation"]["signingKey"] == world.stratos.service_key.did_key
    assert verify_attestation(
        alice.did, [ENGINEERING], record["signingKey"], sig, world.stratos.service_key.did_key
    )
    assert world.sync.pending(alice.did) == []
    assert world.session(alice.did) is not None


def test_enrolling_again_updates_boundaries_and_default_is_auto_enroll(
    world: StratosWorld, http: httpx.Client
) -> None:
    bob = world.bob
    first = enroll(world, http, bob)  # no boundaries asked: STRATOS_AUTO_ENROLL_DOMAINS
    assert first.status_code == 200, first.text
    assert first.json()["boundaries"] == [ENGINEERING]

    second = enroll(world, http, bob, f"design,{ENGINEERING}")
    assert second.status_code == 200, second.text
    assert second.json()["boundaries"] == sorted([DESIGN, ENGINEERING])
    assert second.json()["enrolledAt"] == first.json()["enrolledAt"]
    stored = pds_record(http, world, bob.did, ENROLLMENT, SERVICE_DID)
    assert stored is not None
    assert stored["value"]["boundaries"] == [{"value": d} for d in sorted([DESIGN, ENGINEERING])]


def test_did_not_on_the_allowlist_is_denied_and_nothing_is_kept(
    world: StratosWorld, http: httpx.Client
) -> None:
    dave = world.dave
    response = enroll(world, http, dave, "engineering")
    assert response.status_code == 403, response.text
    body = response.json()
    assert body["error"] == "EnrollmentDenied"
    assert body["reason"] == "NotInAllowlist"
    assert body["message"]
    assert world.stratos.enrollments.get(dave.did) is None
    assert world.session(dave.did) is None  # we may not act for dave: session dropped
    assert pds_record(http, world, dave.did, ENROLLMENT, SERVICE_DID) is None


def test_callback_state_is_single_use(world: StratosWorld, http: httpx.Client) -> None:
    alice = world.alice
    started = http.get(f"{world.url}/oauth/authorize", params={"handle": alice.handle})
    callback = sign_in(
        http,
        started.headers["location"],
        client_id=world.identity.client_id,
        redirect_uri=world.identity.redirect_uri,
        account=alice,
    )
    assert http.get(callback.location).status_code == 200
    replay = http.get(callback.location)
    assert replay.status_code == 400
    assert replay.json()["error"] == "InvalidRequest"
    assert "state" in replay.json()["message"]


@pytest.mark.parametrize(
    "query",
    [
        "code=abc&state=never-issued&iss=http%3A%2F%2F127.0.0.1%3A1",
        "code=abc",
        "error=access_denied&state=whatever",
        "",
    ],
)
def test_bad_callbacks_answer_400(world: StratosWorld, http: httpx.Client, query: str) -> None:
    response = http.get(f"{world.url}/oauth/callback?{query}")
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "InvalidRequest"


def test_denied_consent_reaches_the_callback_as_400(
    world: StratosWorld, http: httpx.Client
) -> None:
    started = http.get(f"{world.url}/oauth/authorize", params={"handle": world.alice.handle})
    callback = sign_in(
        http,
        started.headers["location"],
        client_id=world.identity.client_id,
        redirect_uri=world.identity.redirect_uri,
        account=world.alice,
        consent="deny",
    )
    response = http.get(callback.location)
    assert response.status_code == 400
    assert "access_denied" in response.json()["message"]
