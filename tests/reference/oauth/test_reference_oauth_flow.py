"""The reference OAuth server over real HTTP (uvicorn on loopback), driven with httpx.

One PDS-like app mounts ``OAuthServer.routes`` plus a tiny protected XRPC route that calls
``verify_access``; a second loopback server hosts client metadata documents and a JWKS.
"""

from __future__ import annotations

import json
import os
import secrets
import sqlite3
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from reference_oauth_support import (
    ALICE,
    ALICE_PASSWORD,
    BOB,
    BOB_PASSWORD,
    DpopKey,
    FlowClient,
    OffsetClock,
    StaticAccounts,
    b64u,
    client_assertion,
    pkce_pair,
    query_of,
)
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from conformance.localserver import free_port, serve_in_thread
from reference_impl.common.sqlite import Database
from reference_impl.pds.oauth import OAuthConfig, OAuthServer, ResourceAuthError, build_oauth_server

PROTECTED = "/xrpc/test.protected"
LOOPBACK_REDIRECT = "http://127.0.0.1:7777/callback"
LOOPBACK_CLIENT_ID = (
    "http://localhost?redirect_uri=http%3A%2F%2F127.0.0.1%3A7777%2Fcallback"
    "&scope=atproto%20transition%3Ageneric"
)


@dataclass
class Pds:
    issuer: str
    server: OAuthServer
    clock: OffsetClock
    db_path: Path

    @property
    def protected_url(self) -> str:
        return self.issuer + PROTECTED


def make_app(server: OAuthServer, issuer: str) -> Starlette:
    async def protected(request: Request) -> Response:
        try:
            principal = await run_in_threadpool(
                server.verify_access, request.headers, request.method, issuer + request.url.path
            )
        except ResourceAuthError as exc:
            return JSONResponse(
                {"error": exc.xrpc_error, "message": exc.description},
                status_code=exc.status,
                headers=dict(exc.headers),
            )
        return JSONResponse(
            {"did": principal.did, "scope": principal.scope, "client_id": principal.client_id},
            headers={"DPoP-Nonce": server.current_nonce()},
        )

    return Starlette(routes=[*server.routes, Route(PROTECTED, protected)])


@dataclass(frozen=True)
class Secrets:
    signing_key: ec.EllipticCurvePrivateKey
    nonce_secret: bytes


@contextmanager
def running_pds(db_path: Path, port: int, keys: Secrets, clock: OffsetClock) -> Iterator[Pds]:
    issuer = f"http://127.0.0.1:{port}"
    db = Database(db_path)
    config = OAuthConfig(
        issuer=issuer, signing_key=keys.signing_key, nonce_secret=keys.nonce_secret
    )
    # No keep-alive: the client lives on the server thread's event loop and is never reused
    # across loops.
    http = httpx.AsyncClient(limits=httpx.Limits(max_keepalive_connections=0))
    accounts = StaticAccounts(((ALICE, ALICE_PASSWORD), (BOB, BOB_PASSWORD)))
    server = build_oauth_server(config, db, accounts, http, clock)
    try:
        with serve_in_thread(make_app(server, issuer), port=port):
            yield Pds(issuer, server, clock, db_path)
    finally:
        db.close()


@pytest.fixture(scope="module")
def keys() -> Secrets:
    return Secrets(ec.generate_private_key(ec.SECP256R1()), os.urandom(32))


@pytest.fixture(scope="module")
def pds(tmp_path_factory: pytest.TempPathFactory, keys: Secrets) -> Iterator[Pds]:
    db_path = tmp_path_factory.mktemp("pds") / "pds.sqlite"
    with running_pds(db_path, free_port(), keys, OffsetClock()) as running:
        yield running


@pytest.fixture(autouse=True)
def _reset_clock(pds: Pds) -> Iterator[None]:
    yield
    pds.clock.offset = 0


@dataclass(frozen=True)
class ClientHost:
    base: str
    confidential_key: DpopKey

    @property
    def public_id(self) -> str:
        return self.base + "/public/client-metadata.json"

    @property
    def confidential_id(self) -> str:
        return self.base + "/confidential/client-metadata.json"

    @property
    def redirect_uri(self) -> str:
        return self.base + "/callback"


@pytest.fixture(scope="module")
def client_host() -> Iterator[ClientHost]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    key = DpopKey()
    common = {
        "client_name": "Flow test app",
        "redirect_uris": [base + "/callback"],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "scope": "atproto transition:generic",
        "dpop_bound_access_tokens": True,
        "application_type": "web",
    }
    documents: dict[str, Any] = {
        "/public/client-metadata.json": {
            **common,
            "client_id": base + "/public/client-metadata.json",
            "token_endpoint_auth_method": "none",
        },
        "/confidential/client-metadata.json": {
            **common,
            "client_id": base + "/confidential/client-metadata.json",
            "token_endpoint_auth_method": "private_key_jwt",
            "token_endpoint_auth_signing_alg": "ES256",
            "jwks_uri": base + "/confidential/jwks.json",
        },
        "/confidential/jwks.json": {"keys": [{**key.public_jwk, "kid": "conf-1", "use": "sig"}]},
    }

    async def serve(request: Request) -> Response:
        doc = documents.get(request.url.path)
        return (
            JSONResponse(doc)
            if doc is not None
            else JSONResponse({"error": "nope"}, status_code=404)
        )

    app = Starlette(routes=[Route("/{path:path}", serve)])
    with serve_in_thread(app, port=port):
        yield ClientHost(base, key)


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=15) as client:
        yield client


def loopback_client(http: httpx.Client, pds: Pds, key: DpopKey | None = None) -> FlowClient:
    return FlowClient(
        http, pds.issuer, LOOPBACK_CLIENT_ID, LOOPBACK_REDIRECT, key or DpopKey(), pds.clock
    )


def error_of(response: httpx.Response) -> str:
    body = response.json()
    assert set(body) == {"error", "error_description"}, body
    return str(body["error"])


def challenge_error(response: httpx.Response) -> str | None:
    header = response.headers.get("www-authenticate", "")
    assert header.startswith("DPoP"), header
    for part in header[len("DPoP") :].split(","):
        name, _, value = part.strip().partition("=")
        if name == "error":
            return value.strip('"')
    return None


# -- discovery (PDS-06) ---------------------------------------------------------------------------


def test_discovery_documents(http: httpx.Client, pds: Pds) -> None:
    meta = http.get(pds.issuer + "/.well-known/oauth-authorization-server").json()
    assert meta["issuer"] == pds.issuer
    assert meta["require_pushed_authorization_requests"] is True
    assert meta["pushed_authorization_request_endpoint"] == pds.issuer + "/oauth/par"
    assert meta["token_endpoint"] == pds.issuer + "/oauth/token"
    resource = http.get(pds.issuer + "/.well-known/oauth-protected-resource").json()
    assert resource["authorization_servers"] == [pds.issuer]
    jwks = http.get(meta["jwks_uri"]).json()
    assert len(jwks["keys"]) == 1
    assert not {"d", "p", "q"} & set(jwks["keys"][0])


# -- the full flow --------------------------------------------------------------------------------


def test_full_flow_loopback_client(http: httpx.Client, pds: Pds) -> None:
    client = loopback_client(http, pds)

    # PAR: the first request has no nonce and is told to use one.
    first, _, _ = client.par()
    assert first.status_code == 201
    assert client.nonce_retries == 1

    bare = client.key.proof("POST", pds.issuer + "/oauth/par", iat=pds.clock())
    refused = http.post(
        pds.issuer + "/oauth/par", data={"client_id": LOOPBACK_CLIENT_ID}, headers={"DPoP": bare}
    )
    assert refused.status_code == 400 and error_of(refused) == "use_dpop_nonce"
    assert refused.headers["DPoP-Nonce"]

    pushed, verifier, state = client.par()
    assert pushed.status_code == 201
    body = pushed.json()
    assert body["request_uri"].startswith("urn:ietf:params:oauth:request_uri:")
    assert 0 < body["expires_in"] <= 600
    request_uri = body["request_uri"]

    # The sign-in page is HTML with a plain form.
    page = client.authorize_get(request_uri)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    for field in ('name="handle"', 'name="password"', 'name="consent"', 'name="request_uri"'):
        assert field in page.text
    # Self-contained: no scripts, no external stylesheets or images.
    assert "<script" not in page.text and "<link" not in page.text and "src=" not in page.text

    # Wrong password: the page again with an error, no redirect.
    wrong = client.authorize_post(request_uri, ALICE.handle, "not-the-password")
    assert wrong.status_code == 401 and "location" not in wrong.headers
    assert "Wrong handle or password" in wrong.text

    decision = client.authorize_post(request_uri, ALICE.handle, ALICE_PASSWORD)
    assert decision.status_code == 303
    location = decision.headers["location"]
    assert location.startswith(LOOPBACK_REDIRECT + "?")
    params = query_of(location)
    assert params["state"] == state and params["iss"] == pds.issuer and params["code"]

    # The request_uri is spent.
    assert client.authorize_get(request_uri).status_code == 400

    tokens_response = client.token(params["code"], verifier)
    assert tokens_response.status_code == 200, tokens_response.text
    assert tokens_response.headers["DPoP-Nonce"]
    assert tokens_response.headers["cache-control"] == "no-store"
    tokens = tokens_response.json()
    assert tokens["token_type"] == "DPoP"
    assert tokens["sub"] == ALICE.did
    assert tokens["scope"] == "atproto transition:generic"
    assert 0 < tokens["expires_in"] <= 900

    # PDS-10: an ES256 JWT verifiable with the published JWKS.
    jwks = http.get(pds.issuer + "/oauth/jwks").json()
    header = jwt.get_unverified_header(tokens["access_token"])
    (jwk,) = [k for k in jwks["keys"] if k["kid"] == header["kid"]]
    claims = jwt.decode(
        tokens["access_token"],
        jwt.PyJWK(jwk).key,
        algorithms=["ES256"],
        audience=pds.issuer,
        issuer=pds.issuer,
    )
    assert header["alg"] == "ES256"
    assert claims["sub"] == ALICE.did
    assert claims["cnf"] == {"jkt": client.key.jkt}
    assert claims["client_id"] == LOOPBACK_CLIENT_ID
    assert claims["exp"] - claims["iat"] <= 900
    assert claims["jti"] and claims["scope"] == tokens["scope"]

    # The code is single use.
    again = client.token(params["code"], verifier)
    assert again.status_code == 400 and error_of(again) == "invalid_grant"

    # Replaying the code revoked what it was exchanged for.
    revoked = client.resource(pds.protected_url, tokens["access_token"], nonce=client.nonce)
    assert revoked.status_code == 401 and challenge_error(revoked) == "invalid_token"


def test_resource_access_refresh_and_reuse(http: httpx.Client, pds: Pds) -> None:
    client = loopback_client(http, pds)
    tokens = client.login(ALICE.handle, ALICE_PASSWORD)

    # DPOP-02: no nonce → use_dpop_nonce + fresh nonce; retry with it succeeds.
    first = client.resource(pds.protected_url, tokens["access_token"])
    assert first.status_code == 401 and challenge_error(first) == "use_dpop_nonce"
    nonce = first.headers["DPoP-Nonce"]
    ok = client.resource(pds.protected_url, tokens["access_token"], nonce=nonce)
    assert ok.status_code == 200, ok.text
    assert ok.json()["did"] == ALICE.did
    assert ok.headers["DPoP-Nonce"]  # DPOP-11

    # Refresh with the same key: a new pair; the new access token works.
    refreshed = client.refresh(tokens["refresh_token"])
    assert refreshed.status_code == 200, refreshed.text
    new = refreshed.json()
    assert new["refresh_token"] != tokens["refresh_token"]
    assert new["access_token"] != tokens["access_token"]
    assert new["sub"] == ALICE.did
    assert client.resource(pds.protected_url, new["access_token"], nonce=nonce).status_code == 200

    # Reusing the spent refresh token fails and ends the session (token family revoked).
    reused = client.refresh(tokens["refresh_token"])
    assert reused.status_code == 400 and error_of(reused) == "invalid_grant"
    after = client.resource(pds.protected_url, new["access_token"], nonce=nonce)
    assert after.status_code == 401 and challenge_error(after) == "invalid_token"
    family = client.refresh(new["refresh_token"])
    assert family.status_code == 400 and error_of(family) == "invalid_grant"


def test_refresh_requires_the_same_dpop_key(http: httpx.Client, pds: Pds) -> None:
    client = loopback_client(http, pds)
    tokens = client.login(ALICE.handle, ALICE_PASSWORD)
    stolen = client.refresh(tokens["refresh_token"], key=DpopKey())
    assert stolen.status_code == 400 and error_of(stolen) == "invalid_grant"
    # The attempt did not burn the token for its rightful holder.
    assert client.refresh(tokens["refresh_token"]).status_code == 200


def test_revoke_ends_the_session(http: httpx.Client, pds: Pds) -> None:
    client = loopback_client(http, pds)
    tokens = client.login(BOB.handle, BOB_PASSWORD)
    nonce = client.nonce
    assert (
        client.resource(pds.protected_url, tokens["access_token"], nonce=nonce).status_code == 200
    )

    revoked = http.post(pds.issuer + "/oauth/revoke", data={"token": tokens["access_token"]})
    assert revoked.status_code == 200

    denied = client.resource(pds.protected_url, tokens["access_token"], nonce=nonce)
    assert denied.status_code == 401 and challenge_error(denied) == "invalid_token"
    assert denied.json()["error"] == "InvalidToken"
    refresh = client.refresh(tokens["refresh_token"])
    assert refresh.status_code == 400 and error_of(refresh) == "invalid_grant"

    # Revoking by refresh token works too; unknown tokens are not an error (RFC 7009 §2.2).
    other = client.login(BOB.handle, BOB_PASSWORD)
    assert (
        http.post(pds.issuer + "/oauth/revoke", data={"token": other["refresh_token"]}).status_code
        == 200
    )
    gone = client.resource(pds.protected_url, other["access_token"], nonce=client.nonce)
    assert gone.status_code == 401
    assert http.post(pds.issuer + "/oauth/revoke", data={"token": "nonsense"}).status_code == 200
    missing = http.post(pds.issuer + "/oauth/revoke", data={})
    assert missing.status_code == 400 and error_of(missing) == "invalid_request"


def test_deny_redirects_with_access_denied(http: httpx.Client, pds: Pds) -> None:
    client = loopback_client(http, pds)
    pushed, _, state = client.par()
    decision = client.authorize_post(pushed.json()["request_uri"], "", "", consent="deny")
    assert decision.status_code == 303
    params = query_of(decision.headers["location"])
    assert (
        params["error"] == "access_denied"
        and params["state"] == state
        and params["iss"] == pds.issuer
    )
    assert "code" not in params


# -- resource-server refusals (DPOP-*) ------------------------------------------------------------


def test_resource_server_refusals(http: httpx.Client, pds: Pds) -> None:
    client = loopback_client(http, pds)
    tokens = client.login(ALICE.handle, ALICE_PASSWORD)
    token = tokens["access_token"]
    nonce = client.nonce
    url = pds.protected_url

    no_auth = http.get(url)
    assert no_auth.status_code == 401 and challenge_error(no_auth) is None
    assert no_auth.json()["error"] == "AuthRequired"

    bearer = client.resource(url, token, scheme="Bearer", with_proof=False)
    assert bearer.status_code == 401 and challenge_error(bearer) == "invalid_token"

    no_proof = client.resource(url, token, with_proof=False)
    assert no_proof.status_code == 401 and challenge_error(no_proof) == "invalid_dpop_proof"

    other_key = client.resource(url, token, key=DpopKey(), nonce=nonce)
    assert other_key.status_code == 401 and challenge_error(other_key) == "invalid_token"

    # sub altered to another user: the signature no longer verifies.
    header, _, signature = token.split(".")
    claims = jwt.decode(token, options={"verify_signature": False})
    claims["sub"] = BOB.did
    forged_payload = b64u(json.dumps(claims).encode())
    forged = client.resource(url, f"{header}.{forged_payload}.{signature}", nonce=nonce)
    assert forged.status_code == 401 and challenge_error(forged) == "invalid_token"

    # A token from another issuer's key.
    foreign_key = ec.generate_private_key(ec.SECP256R1())
    foreign_token = jwt.encode(
        {**claims, "sub": ALICE.did, "iss": "https://evil.example.com"},
        foreign_key,
        algorithm="ES256",
        headers={"typ": "at+jwt", "kid": jwt.get_unverified_header(token)["kid"]},
    )
    foreign = client.resource(url, foreign_token, nonce=nonce)
    assert foreign.status_code == 401 and challenge_error(foreign) == "invalid_token"

    # Expired: move the server's clock past exp (proofs follow the same clock).
    pds.clock.offset = 16 * 60
    expired = client.resource(url, token)
    fresh_nonce = expired.headers["DPoP-Nonce"]
    expired = client.resource(url, token, nonce=fresh_nonce)
    assert expired.status_code == 401 and challenge_error(expired) == "invalid_token"
    assert expired.json()["error"] == "ExpiredToken"


# -- PAR refusals ---------------------------------------------------------------------------------


def test_par_without_dpop_is_refused(http: httpx.Client, pds: Pds) -> None:
    _, challenge = pkce_pair()
    response = http.post(
        pds.issuer + "/oauth/par",
        data={
            "client_id": LOOPBACK_CLIENT_ID,
            "response_type": "code",
            "redirect_uri": LOOPBACK_REDIRECT,
            "scope": "atproto",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        },
    )
    assert response.status_code == 400 and error_of(response) == "invalid_dpop_proof"


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"code_challenge_method": None}, "invalid_request"),
        ({"code_challenge": None}, "invalid_request"),
        ({"redirect_uri": "http://127.0.0.1:7777/elsewhere"}, "invalid_request"),
        ({"redirect_uri": "https://evil.example.com/callback"}, "invalid_request"),
        ({"scope": "transition:generic"}, "invalid_scope"),
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"client_id": None}, "invalid_request"),
    ],
)
def test_par_parameter_refusals(
    http: httpx.Client, pds: Pds, overrides: dict[str, str | None], error: str
) -> None:
    response, _, _ = loopback_client(http, pds).par(**overrides)
    assert response.status_code == 400 and error_of(response) == error


def test_unreachable_client_metadata(http: httpx.Client, pds: Pds, client_host: ClientHost) -> None:
    nobody = f"http://127.0.0.1:{free_port()}/client-metadata.json"
    client = FlowClient(http, pds.issuer, nobody, "http://127.0.0.1:1/cb", DpopKey(), pds.clock)
    response, _, _ = client.par()
    assert response.status_code == 400 and error_of(response) == "unauthorized_client"
    missing = FlowClient(
        http,
        pds.issuer,
        client_host.base + "/no-such.json",
        client_host.redirect_uri,
        DpopKey(),
        pds.clock,
    )
    response, _, _ = missing.par()
    assert response.status_code == 400 and error_of(response) == "unauthorized_client"


def test_public_client_with_metadata_document(
    http: httpx.Client, pds: Pds, client_host: ClientHost
) -> None:
    client = FlowClient(
        http, pds.issuer, client_host.public_id, client_host.redirect_uri, DpopKey(), pds.clock
    )
    tokens = client.login(ALICE.did, ALICE_PASSWORD)  # a DID works as the identifier too
    assert tokens["sub"] == ALICE.did
    unknown, _, _ = client.par(redirect_uri=client_host.base + "/not-registered")
    assert unknown.status_code == 400 and error_of(unknown) == "invalid_request"
    page = client.authorize_get(client.par()[0].json()["request_uri"])
    assert "Flow test app" in page.text


# -- confidential client (private_key_jwt) --------------------------------------------------------


def test_confidential_client(http: httpx.Client, pds: Pds, client_host: ClientHost) -> None:
    def assertion(offset: float = 0) -> dict[str, str]:
        return {
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": client_assertion(
                client_host.confidential_key,
                client_host.confidential_id,
                pds.issuer,
                iat=pds.clock() + offset,
                kid="conf-1",
            ),
        }

    client = FlowClient(
        http,
        pds.issuer,
        client_host.confidential_id,
        client_host.redirect_uri,
        DpopKey(),
        pds.clock,
    )

    # No assertion at all.
    response, _, _ = client.par()
    assert response.status_code == 400 and error_of(response) == "invalid_client"

    # An assertion from a client whose clock runs a minute ahead (CLOCK / PDS-11).
    client.extra_auth = lambda: assertion(offset=60)
    response, _, _ = client.par()
    assert response.status_code == 400 and error_of(response) == "invalid_client"
    assert "iat claim timestamp check failed" in response.json()["error_description"]

    # A correct assertion: the whole flow, authenticating again at the token endpoint.
    client.extra_auth = assertion
    tokens = client.login(ALICE.handle, ALICE_PASSWORD)
    assert tokens["sub"] == ALICE.did
    refreshed = client.refresh(tokens["refresh_token"])
    assert refreshed.status_code == 200, refreshed.text

    # Without its assertion the confidential client cannot refresh.
    client.extra_auth = None
    denied = client.refresh(refreshed.json()["refresh_token"])
    assert denied.status_code == 400 and error_of(denied) == "invalid_client"


# -- token endpoint refusals ----------------------------------------------------------------------


def test_token_refusals(http: httpx.Client, pds: Pds) -> None:
    client = loopback_client(http, pds)

    code, _ = client.code_for(ALICE.handle, ALICE_PASSWORD)
    wrong_verifier, _ = pkce_pair()
    response = client.token(code, wrong_verifier)
    assert response.status_code == 400 and error_of(response) == "invalid_grant"

    code, verifier = client.code_for(ALICE.handle, ALICE_PASSWORD)
    response = client.token(code, verifier, key=DpopKey())
    assert response.status_code == 400 and error_of(response) == "invalid_grant"

    code, verifier = client.code_for(ALICE.handle, ALICE_PASSWORD)
    pds.clock.offset = 120  # past the code's lifetime
    response = client.token(code, verifier)
    assert response.status_code == 400 and error_of(response) == "invalid_grant"
    pds.clock.offset = 0

    response = client.dpop_post(
        "/oauth/token", {"grant_type": "password", "client_id": LOOPBACK_CLIENT_ID}
    )
    assert response.status_code == 400 and error_of(response) == "unsupported_grant_type"
    response = client.dpop_post("/oauth/token", {"client_id": LOOPBACK_CLIENT_ID})
    assert response.status_code == 400 and error_of(response) == "invalid_request"
    response = client.dpop_post(
        "/oauth/token",
        {
            "grant_type": "authorization_code",
            "client_id": LOOPBACK_CLIENT_ID,
            "code": "cod-nope",
            "redirect_uri": LOOPBACK_REDIRECT,
            "code_verifier": verifier,
        },
    )
    assert response.status_code == 400 and error_of(response) == "invalid_grant"


# -- the authorize endpoint only serves pushed requests -------------------------------------------


@pytest.mark.parametrize(
    "params",
    [
        {
            "response_type": "code",
            "client_id": LOOPBACK_CLIENT_ID,
            "redirect_uri": LOOPBACK_REDIRECT,
            "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
            "code_challenge_method": "S256",
            "scope": "atproto",
            "state": "s",
        },
        {
            "client_id": LOOPBACK_CLIENT_ID,
            "request_uri": "urn:ietf:params:oauth:request_uri:req-unknown",
        },
        {"client_id": LOOPBACK_CLIENT_ID, "request_uri": "https://evil.example.com/request"},
        {},
    ],
)
def test_authorize_refuses_requests_not_pushed(
    http: httpx.Client, pds: Pds, params: dict[str, str]
) -> None:
    page = http.get(pds.issuer + "/oauth/authorize", params=params)
    assert page.status_code == 400 and "location" not in page.headers
    assert "invalid_request" in page.text and page.headers["content-type"].startswith("text/html")
    as_json = http.get(
        pds.issuer + "/oauth/authorize", params=params, headers={"Accept": "application/json"}
    )
    assert as_json.status_code == 400 and error_of(as_json) == "invalid_request"


def test_authorize_checks_client_id_against_pushed_request(http: httpx.Client, pds: Pds) -> None:
    client = loopback_client(http, pds)
    request_uri = client.par()[0].json()["request_uri"]
    page = http.get(
        pds.issuer + "/oauth/authorize",
        params={"client_id": "http://localhost", "request_uri": request_uri},
    )
    assert page.status_code == 400
    posted = client.authorize_post(request_uri, ALICE.handle, ALICE_PASSWORD, consent="maybe")
    assert posted.status_code == 400 and "location" not in posted.headers


def test_pushed_request_expires(http: httpx.Client, pds: Pds) -> None:
    client = loopback_client(http, pds)
    request_uri = client.par()[0].json()["request_uri"]
    pds.clock.offset = 301
    assert client.authorize_get(request_uri).status_code == 400


# -- robustness: garbage in, a 4xx OAuth error out ------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/oauth/par", "/oauth/token", "/oauth/revoke", "/oauth/authorize"]
)
@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (b"", "application/x-www-form-urlencoded"),
        (b"\xff\xfe\x00garbage=%%%", "application/x-www-form-urlencoded"),
        (b'{"client_id": "x"}', "application/json"),
        (b"--b\r\nContent-Disposition: form-data\r\n\r\nbroken", "multipart/form-data; boundary=b"),
        (b"a=1&a=2", "application/x-www-form-urlencoded"),
        (b"x" * 100_000, "application/x-www-form-urlencoded"),
    ],
)
def test_garbage_bodies_get_4xx(
    http: httpx.Client, pds: Pds, path: str, content: bytes, content_type: str
) -> None:
    headers = {"Content-Type": content_type, "DPoP": "garbage.garbage.garbage"}
    response = http.post(pds.issuer + path, content=content, headers=headers)
    assert 400 <= response.status_code < 500, response.text


@pytest.mark.parametrize("path", ["/oauth/par", "/oauth/token"])
def test_garbage_dpop_and_jwts_get_4xx(
    http: httpx.Client, pds: Pds, client_host: ClientHost, path: str
) -> None:
    for proof in ["", "a.b.c", "e30.e30.e30", secrets.token_urlsafe(300)]:
        response = http.post(
            pds.issuer + path, data={"client_id": LOOPBACK_CLIENT_ID}, headers={"DPoP": proof}
        )
        assert response.status_code == 400 and error_of(response) == "invalid_dpop_proof"
    for client_id, assertion in [
        (client_host.confidential_id, "e30.e30.e30"),
        (client_host.confidential_id, "not a jwt"),
        (LOOPBACK_CLIENT_ID, "e30.e30.e30"),  # a public client must not send one
    ]:
        client = FlowClient(
            http, pds.issuer, client_id, client_host.redirect_uri, DpopKey(), pds.clock
        )
        form = {
            "client_id": client_id,
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": assertion,
            "grant_type": "refresh_token",
            "refresh_token": "x",
        }
        response = client.dpop_post(path, form)
        assert response.status_code == 400 and error_of(response) == "invalid_client"


def test_garbage_authorization_headers_get_401(http: httpx.Client, pds: Pds) -> None:
    for value in ["DPoP", "Basic abc", "DPoP a.b.c", "Bearer e30.e30.e30", "DPoP " + "x" * 5000]:
        response = http.get(
            pds.protected_url, headers={"Authorization": value, "DPoP": "e30.e30.e30"}
        )
        assert response.status_code == 401, value


# -- durability -----------------------------------------------------------------------------------


def test_tokens_survive_a_restart(tmp_path: Path, keys: Secrets) -> None:
    db_path = tmp_path / "pds.sqlite"
    port = free_port()
    clock = OffsetClock()
    with httpx.Client(timeout=15) as http:
        with running_pds(db_path, port, keys, clock) as first:
            client = FlowClient(
                http, first.issuer, LOOPBACK_CLIENT_ID, LOOPBACK_REDIRECT, DpopKey(), clock
            )
            tokens = client.login(ALICE.handle, ALICE_PASSWORD)
        with running_pds(db_path, port, keys, clock) as second:
            ok = client.resource(second.protected_url, tokens["access_token"], nonce=client.nonce)
            assert ok.status_code == 200, ok.text
            assert client.refresh(tokens["refresh_token"]).status_code == 200
    # Secrets are stored hashed: the raw refresh token is nowhere in the database.
    with sqlite3.connect(db_path) as conn:
        dump = "\n".join(conn.iterdump())
    assert tokens["refresh_token"] not in dump


# -- concurrency ----------------------------------------------------------------------------------


def test_concurrent_requests_share_one_nonce(http: httpx.Client, pds: Pds) -> None:
    # DPOP-12: nonces are stateless, so parallel requests with the same nonce all pass.
    client = loopback_client(http, pds)
    tokens = client.login(ALICE.handle, ALICE_PASSWORD)
    nonce = client.nonce
    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(
            pool.map(
                lambda _: (
                    client.resource(
                        pds.protected_url, tokens["access_token"], nonce=nonce
                    ).status_code
                ),
                range(24),
            )
        )
    assert statuses == [200] * 24


def test_concurrent_refreshes_of_one_token_succeed_at_most_once(
    http: httpx.Client, pds: Pds
) -> None:
    client = loopback_client(http, pds)
    tokens = client.login(ALICE.handle, ALICE_PASSWORD)
    with ThreadPoolExecutor(max_workers=6) as pool:
        statuses = list(
            pool.map(lambda _: client.refresh(tokens["refresh_token"]).status_code, range(6))
        )
    assert sorted(statuses) == [200, 400, 400, 400, 400, 400]
