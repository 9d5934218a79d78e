"""``ResourceAuthenticator`` + ``RemoteTokenVerifier`` over real HTTP against a real reference
PDS: tokens come from real logins, the verifier walks the real discovery chain.

The resource server is a tiny XRPC app served on loopback, in several variants (normal, the two
faults, a clock far ahead). Proofs are made with the harness's DPoP helpers, not the code under
test.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm
from oauth_client_support import Account, harness_login, new_account, running_pds
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from conformance.clients.dpop import DpopKey, htu_of, jwk_thumbprint, make_dpop_proof
from conformance.clients.oauth import OAuthSession
from conformance.localserver import free_port, serve_in_thread
from lexicons import load_catalog
from reference_impl.common.errors import exception_handlers
from reference_impl.common.resource_auth import (
    Caller,
    RemoteTokenVerifier,
    ResourceAuthenticator,
    resource_dpop_verifier,
)
from reference_impl.common.xrpc import XrpcRequest, XrpcRouter

pytestmark = pytest.mark.slow

WHOAMI = "/xrpc/_whoami"
OPTIONAL = "/xrpc/_optional"


def resource_app(authenticator: ResourceAuthenticator) -> Starlette:
    router = XrpcRouter(load_catalog(), authenticate=authenticator)

    @router.query("_whoami", auth="required")
    def whoami(req: XrpcRequest) -> dict[str, Any]:
        caller: Caller = req.principal
        return {"did": caller.did, "scope": caller.scope, "client_id": caller.client_id}

    @router.query("_optional", auth="optional")
    def optional(req: XrpcRequest) -> dict[str, Any]:
        return {"did": req.principal.did if req.principal else None}

    return Starlette(routes=router.routes(), exception_handlers=exception_handlers())


@dataclass(frozen=True)
class World:
    pds: str
    alice: Account
    bob: Account
    alice_session: OAuthSession
    servers: dict[str, str]  # variant -> base URL
    fake_issuer: str
    fake_key: ec.EllipticCurvePrivateKey


def _serve(stack: ExitStack, variant: str, plc: str, **options: Any) -> str:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    token_clock: Callable[[], float] = options.pop("token_clock", time.time)
    http = httpx.AsyncClient()
    authenticator = ResourceAuthenticator(
        url,
        resource_dpop_verifier(
            secrets.token_bytes(32), time.time, check_replay=options.pop("check_replay", True)
        ),
        RemoteTokenVerifier(http, plc, token_clock, **options),
    )
    return stack.enter_context(serve_in_thread(resource_app(authenticator), port=port))


def _fake_authorization_server(key: ec.EllipticCurvePrivateKey) -> Callable[[str], Starlette]:
    """A well-formed authorization server of its own that is nobody's PDS's."""
    jwk = {**ECAlgorithm.to_jwk(key.public_key(), as_dict=True), "kid": "fake", "use": "sig"}

    def build(url: str) -> Starlette:
        async def metadata(request: Request) -> Response:
            return JSONResponse(
                {
                    "issuer": url,
                    "authorization_endpoint": f"{url}/oauth/authorize",
                    "token_endpoint": f"{url}/oauth/token",
                    "pushed_authorization_request_endpoint": f"{url}/oauth/par",
                    "jwks_uri": f"{url}/oauth/jwks",
                }
            )

        async def resource(request: Request) -> Response:
            return JSONResponse({"resource": url, "authorization_servers": [url]})

        async def jwks(request: Request) -> Response:
            return JSONResponse({"keys": [jwk]})

        return Starlette(
            routes=[
                Route("/.well-known/oauth-authorization-server", metadata),
                Route("/.well-known/oauth-protected-resource", resource),
                Route("/oauth/jwks", jwks),
            ]
        )

    return build


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    base: Path = tmp_path_factory.mktemp("resource-auth")
    with running_pds(base) as pds, httpx.Client(timeout=30) as http, ExitStack() as stack:
        alice, bob = new_account(http, pds), new_account(http, pds)
        session = harness_login(http, pds, alice)
        servers = {
            "normal": _serve(stack, "normal", pds),
            "accept-forged-token": _serve(stack, "forged", pds, verify_signature=False),
            "dpop-no-replay-check": _serve(stack, "replay", pds, check_replay=False),
            "clock-ahead": _serve(
                stack, "clock", pds, token_clock=lambda: time.time() + 3600, cache_ttl_s=0
            ),
        }
        fake_key = ec.generate_private_key(ec.SECP256R1())
        fake_port = free_port()
        fake_url = f"http://127.0.0.1:{fake_port}"
        stack.enter_context(
            serve_in_thread(_fake_authorization_server(fake_key)(fake_url), port=fake_port)
        )
        yield World(pds, alice, bob, session, servers, fake_url, fake_key)


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=30) as client:
        yield client


# --- client side helpers ---------------------------------------------------------------------


def call(
    http: httpx.Client,
    url: str,
    token: str,
    key: DpopKey,
    *,
    scheme: str = "DPoP",
    nonce: str | None = None,
    proof: str | None = None,
) -> httpx.Response:
    headers = {"Authorization": f"{scheme} {token}"}
    headers["DPoP"] = proof or make_dpop_proof(
        key, "GET", htu_of(url), nonce=nonce, access_token=token
    )
    return http.get(url, headers=headers)


def call_with_nonce(http: httpx.Client, url: str, token: str, key: DpopKey) -> httpx.Response:
    """The honest client: try, and on ``use_dpop_nonce`` retry once with the server's nonce."""
    first = call(http, url, token, key)
    if first.status_code == 401 and "use_dpop_nonce" in first.headers.get("www-authenticate", ""):
        return call(http, url, token, key, nonce=first.headers["dpop-nonce"])
    return first


def nonce_of(http: httpx.Client, base: str, session: OAuthSession) -> str:
    response = call(http, base + WHOAMI, session.access_token, session.dpop_key)
    assert response.status_code == 401
    return response.headers["dpop-nonce"]


def b64json(value: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()


def with_claims(token: str, **changes: Any) -> str:
    """The same token with payload claims altered and the original signature kept."""
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims.update(changes)
    claims = {k: v for k, v in claims.items() if v is not None}
    return f"{header}.{b64json(claims)}.{signature}"


def claims_of(token: str) -> dict[str, Any]:
    return dict(jwt.decode(token, options={"verify_signature": False}))


def assert_refused(response: httpx.Response, error: str, oauth_error: str) -> None:
    assert response.status_code == 401, response.text
    assert response.json()["error"] == error, response.text
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith("DPoP "), challenge
    assert f'error="{oauth_error}"' in challenge, challenge
    assert 'algs="' in challenge and "ES256" in challenge
    assert response.headers.get("dpop-nonce")


# --- the accepted path ----------------------------------------------------------------------


def test_good_token_and_proof_are_accepted_after_one_nonce_round(
    world: World, http: httpx.Client
) -> None:
    base, session = world.servers["normal"], world.alice_session
    first = call(http, base + WHOAMI, session.access_token, session.dpop_key)
    assert_refused(first, "AuthRequired", "use_dpop_nonce")

    ok = call(
        http,
        base + WHOAMI,
        session.access_token,
        session.dpop_key,
        nonce=first.headers["dpop-nonce"],
    )
    assert ok.status_code == 200, ok.text
    assert ok.json()["did"] == world.alice.did
    assert "atproto" in ok.json()["scope"].split(" ")
    assert ok.json()["client_id"] == session.client_id
    # DPOP-11: successful responses carry the nonce to use next.
    assert ok.headers["dpop-nonce"] == first.headers["dpop-nonce"]


def test_no_authorization_header_means_anonymous(world: World, http: httpx.Client) -> None:
    base = world.servers["normal"]
    assert http.get(base + OPTIONAL).json() == {"did": None}
    required = http.get(base + WHOAMI)
    assert required.status_code == 401
    assert required.json()["error"] == "AuthRequired"


def test_invalid_credentials_are_refused_even_where_auth_is_optional(
    world: World, http: httpx.Client
) -> None:
    base, session = world.servers["normal"], world.alice_session
    nonce = nonce_of(http, base, session)
    forged = with_claims(session.access_token, sub=world.bob.did)
    response = call(http, base + OPTIONAL, forged, session.dpop_key, nonce=nonce)
    assert_refused(response, "InvalidToken", "invalid_token")


def test_proof_made_for_another_origin_is_refused(world: World, http: httpx.Client) -> None:
    """The "requests go to the PDS" pitfall: a proof whose htu is the PDS, sent here."""
    base, session = world.servers["normal"], world.alice_session
    nonce = nonce_of(http, base, session)
    proof = make_dpop_proof(
        session.dpop_key,
        "GET",
        world.pds + WHOAMI,
        nonce=nonce,
        access_token=session.access_token,
    )
    response = call(
        http, base + WHOAMI, session.access_token, session.dpop_key, proof=proof, nonce=nonce
    )
    assert_refused(response, "AuthRequired", "invalid_dpop_proof")


# --- DPOP-09: the token itself -------------------------------------------------------------------


def test_token_with_altered_sub_is_refused(world: World, http: httpx.Client) -> None:
    base, session = world.servers["normal"], world.alice_session
    nonce = nonce_of(http, base, session)
    forged = with_claims(session.access_token, sub=world.bob.did)
    response = call(http, base + WHOAMI, forged, session.dpop_key, nonce=nonce)
    assert_refused(response, "InvalidToken", "invalid_token")
    assert "signature" in response.json()["message"]


def _foreign_token(world: World, key: DpopKey, *, iss: str, kid: str) -> str:
    now = int(time.time())
    claims = {
        "iss": iss,
        "sub": world.alice.did,
        "aud": world.pds,
        "iat": now,
        "exp": now + 300,
        "jti": secrets.token_urlsafe(8),
        "scope": "atproto transition:generic",
        "client_id": "http://localhost",
        "cnf": {"jkt": key.thumbprint},
    }
    return jwt.encode(
        claims, world.fake_key, algorithm="ES256", headers={"typ": "at+jwt", "kid": kid}
    )


def test_token_from_a_foreign_issuer_is_refused(world: World, http: httpx.Client) -> None:
    """Validly signed by a working authorization server — just not the user's PDS's."""
    key = DpopKey.generate()
    token = _foreign_token(world, key, iss=world.fake_issuer, kid="fake")
    for variant in ("normal", "accept-forged-token"):
        response = call_with_nonce(http, world.servers[variant] + WHOAMI, token, key)
        assert_refused(response, "InvalidToken", "invalid_token")
        assert "iss" in response.json()["message"]


def test_self_signed_token_claiming_the_real_issuer_is_refused(
    world: World, http: httpx.Client
) -> None:
    key = DpopKey.generate()
    token = _foreign_token(world, key, iss=world.pds, kid="fake")
    response = call_with_nonce(http, world.servers["normal"] + WHOAMI, token, key)
    assert_refused(response, "InvalidToken", "invalid_token")


def test_unsigned_and_hmac_tokens_are_refused(world: World, http: httpx.Client) -> None:
    session = world.alice_session
    claims = claims_of(session.access_token)
    header = {"alg": "none", "typ": "at+jwt"}
    unsigned = f"{b64json(header)}.{b64json(claims)}."
    hmac_token = jwt.encode(claims, "shared-secret-" * 3, algorithm="HS256")
    for token in (unsigned, hmac_token):
        for variant in ("normal", "accept-forged-token"):
            response = call_with_nonce(
                http, world.servers[variant] + WHOAMI, token, session.dpop_key
            )
            assert_refused(response, "InvalidToken", "invalid_token")


def test_expired_token_is_refused_as_expired(world: World, http: httpx.Client) -> None:
    session = world.alice_session
    response = call_with_nonce(
        http, world.servers["clock-ahead"] + WHOAMI, session.access_token, session.dpop_key
    )
    assert_refused(response, "ExpiredToken", "invalid_token")


def test_token_used_with_another_dpop_key_is_refused(world: World, http: httpx.Client) -> None:
    """DPOP-07: a stolen token with the thief's own key."""
    session = world.alice_session
    thief = DpopKey.generate()
    assert thief.thumbprint != claims_of(session.access_token)["cnf"]["jkt"]
    response = call_with_nonce(http, world.servers["normal"] + WHOAMI, session.access_token, thief)
    assert_refused(response, "InvalidToken", "invalid_token")
    assert "cnf.jkt" in response.json()["message"]


def test_token_sent_as_bearer_is_refused(world: World, http: httpx.Client) -> None:
    session = world.alice_session
    response = http.get(
        world.servers["normal"] + WHOAMI,
        headers={"Authorization": f"Bearer {session.access_token}"},
    )
    assert_refused(response, "InvalidToken", "invalid_token")


def test_missing_or_duplicate_proof_is_refused(world: World, http: httpx.Client) -> None:
    session, url = world.alice_session, world.servers["normal"] + WHOAMI
    missing = http.get(url, headers={"Authorization": f"DPoP {session.access_token}"})
    assert_refused(missing, "AuthRequired", "invalid_dpop_proof")
    proof = make_dpop_proof(session.dpop_key, "GET", url, access_token=session.access_token)
    twice = http.get(
        url,
        headers=[
            ("Authorization", f"DPoP {session.access_token}"),
            ("DPoP", proof),
            ("DPoP", proof),
        ],
    )
    assert_refused(twice, "AuthRequired", "invalid_dpop_proof")


def test_replayed_proof_is_refused(world: World, http: httpx.Client) -> None:
    base, session = world.servers["normal"], world.alice_session
    nonce = nonce_of(http, base, session)
    proof = make_dpop_proof(
        session.dpop_key, "GET", base + WHOAMI, nonce=nonce, access_token=session.access_token
    )
    first = call(http, base + WHOAMI, session.access_token, session.dpop_key, proof=proof)
    assert first.status_code == 200, first.text
    again = call(http, base + WHOAMI, session.access_token, session.dpop_key, proof=proof)
    assert_refused(again, "AuthRequired", "invalid_dpop_proof")
    assert "jti" in again.json()["message"]


# --- the two faults ------------------------------------------------------------------------------


def test_fault_accept_forged_token_skips_only_the_signature(
    world: World, http: httpx.Client
) -> None:
    base, session = world.servers["accept-forged-token"], world.alice_session
    nonce = nonce_of(http, base, session)
    forged = with_claims(session.access_token, sub=world.bob.did)
    response = call(http, base + WHOAMI, forged, session.dpop_key, nonce=nonce)
    assert response.status_code == 200, response.text
    assert response.json()["did"] == world.bob.did  # the fault at work: bob impersonated

    # Claims are still checked under the fault.
    for broken in (
        with_claims(session.access_token, cnf=None),
        with_claims(session.access_token, exp=int(time.time()) - 10),
        with_claims(session.access_token, sub="not-a-did"),
    ):
        refused = call(http, base + WHOAMI, broken, session.dpop_key, nonce=nonce)
        assert refused.status_code == 401, refused.text


def test_fault_dpop_no_replay_check_accepts_a_replayed_proof(
    world: World, http: httpx.Client
) -> None:
    base, session = world.servers["dpop-no-replay-check"], world.alice_session
    nonce = nonce_of(http, base, session)
    proof = make_dpop_proof(
        session.dpop_key, "GET", base + WHOAMI, nonce=nonce, access_token=session.access_token
    )
    for _ in range(3):
        response = call(http, base + WHOAMI, session.access_token, session.dpop_key, proof=proof)
        assert response.status_code == 200, response.text
    # Everything else about the proof is still checked.
    other_key = DpopKey.generate()
    refused = call_with_nonce(http, base + WHOAMI, session.access_token, other_key)
    assert refused.status_code == 401


def test_thumbprint_helpers_agree(world: World) -> None:
    """The harness's and the server's notion of the proof key agree (guards the jkt tests)."""
    session = world.alice_session
    assert (
        jwk_thumbprint(session.dpop_key.public_jwk) == claims_of(session.access_token)["cnf"]["jkt"]
    )
