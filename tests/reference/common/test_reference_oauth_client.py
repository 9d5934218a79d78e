"""``OAuthClient`` as a confidential client of a real reference PDS, over real HTTP.

The client's metadata document and JWKS are served on loopback (the PDS fetches them from the
``client_id`` URL); the user's part — the PDS sign-in form — is driven like a browser.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from oauth_client_support import Account, new_account, running_pds, sign_in
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from conformance.clients.dpop import DpopKey, make_dpop_proof
from conformance.localserver import free_port, serve_in_thread
from reference_impl.common.oauth_client import (
    ClientIdentity,
    IdentityResolver,
    LoginFailed,
    NoSession,
    OAuthClient,
    Session,
    UnknownHandle,
    load_or_create_key,
)
from reference_impl.common.sqlite import Database
from reference_impl.primitives.keys import generate_signing_key

pytestmark = pytest.mark.slow

T = TypeVar("T")
POST = "zone.stratos.feed.post"


def client_host_app(identity: ClientIdentity) -> Starlette:
    async def metadata(request: Request) -> Response:
        return JSONResponse(identity.metadata_document())

    async def jwks(request: Request) -> Response:
        return JSONResponse(identity.jwks())

    return Starlette(
        routes=[
            Route(urlsplit(identity.client_id).path, metadata),
            Route(urlsplit(identity.jwks_uri or "/jwks").path, jwks),
        ]
    )


@dataclass(frozen=True)
class Env:
    pds: str
    short_pds: str  # access tokens live 5 s
    identity: ClientIdentity


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    base: Path = tmp_path_factory.mktemp("oauth-client")
    port = free_port()
    identity = ClientIdentity.at(
        f"http://127.0.0.1:{port}", generate_signing_key("p256"), client_name="test client"
    )
    with ExitStack() as stack:
        stack.enter_context(serve_in_thread(client_host_app(identity), port=port))
        pds = stack.enter_context(running_pds(base / "a"))
        short = stack.enter_context(running_pds(base / "b", {"PDS_OAUTH_ACCESS_TTL_S": "5"}))
        yield Env(pds, short, identity)


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=30) as client:
        yield client


@dataclass
class Traffic:
    """Every response the OAuth client received: (method, path, status)."""

    seen: list[tuple[str, str, int]]

    async def hook(self, response: httpx.Response) -> None:
        self.seen.append((response.request.method, response.request.url.path, response.status_code))

    def count(self, path: str, status: int | None = None) -> int:
        return sum(1 for _, p, s in self.seen if p == path and (status is None or s == status))


def run(
    env: Env,
    db_path: Path,
    body: Callable[[OAuthClient, Traffic], Awaitable[T]],
    *,
    pds: str | None = None,
    clock: Callable[[], float] = time.time,
    refresh_margin_s: float = 0,
) -> T:
    """Run ``body`` with a fresh OAuthClient (new event loop, new HTTP client) on ``db_path``."""

    async def main() -> T:
        traffic = Traffic([])
        async with httpx.AsyncClient(event_hooks={"response": [traffic.hook]}) as http:
            resolver = IdentityResolver(http, pds or env.pds, handle_resolver_url=pds or env.pds)
            client = OAuthClient(
                http,
                Database(db_path),
                env.identity,
                clock,
                resolver,
                refresh_margin_s=refresh_margin_s,
            )
            return await body(client, traffic)

    return asyncio.run(main())


async def login(
    client: OAuthClient, http: httpx.Client, account: Account, extra: dict[str, Any] | None = None
) -> Session:
    url, state = await client.begin(account.handle, extra)
    callback = await asyncio.to_thread(
        sign_in,
        http,
        url,
        client_id=client.identity.client_id,
        redirect_uri=client.identity.redirect_uri,
        account=account,
    )
    assert callback.params["state"] == state
    return await client.complete(
        callback.params.get("code"), callback.params.get("state"), callback.params.get("iss")
    )


def post(text: str) -> dict[str, Any]:
    return {"$type": POST, "text": text, "createdAt": "2026-11-20T12:00:00.000Z"}


async def create_record(client: OAuthClient, did: str, text: str) -> httpx.Response:
    return await client.procedure(
        did,
        "com.atproto.repo.createRecord",
        {"repo": did, "collection": POST, "record": post(text)},
    )


# --- identity ------------------------------------------------------------------------------------


def test_metadata_document_and_jwks_describe_a_confidential_client() -> None:
    key = generate_signing_key("p256")
    identity = ClientIdentity.at("http://127.0.0.1:3100/", key)
    doc = identity.metadata_document()
    assert doc == {
        "client_id": "http://127.0.0.1:3100/client-metadata.json",
        "application_type": "web",
        "redirect_uris": ["http://127.0.0.1:3100/oauth/callback"],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "scope": "atproto transition:generic",
        "token_endpoint_auth_method": "private_key_jwt",
        "token_endpoint_auth_signing_alg": "ES256",
        "jwks_uri": "http://127.0.0.1:3100/oauth/jwks",
        "dpop_bound_access_tokens": True,
    }
    (jwk,) = identity.jwks()["keys"]
    assert jwk["kid"] == identity.kid and jwk["alg"] == "ES256" and jwk["use"] == "sig"
    assert "d" not in jwk
    assert "key" not in repr(identity).replace("did_key", "")
    with pytest.raises(ValueError, match="P-256"):
        ClientIdentity.at("http://x", generate_signing_key("secp256k1"))


def test_client_key_is_persisted(tmp_path: Path) -> None:
    db = Database(tmp_path / "s.sqlite")
    first = load_or_create_key(db, "oauth-client")
    again = load_or_create_key(Database(tmp_path / "s.sqlite"), "oauth-client")
    assert first.private_bytes() == again.private_bytes()
    assert load_or_create_key(db, "other").private_bytes() != first.private_bytes()


# --- login ---------------------------------------------------------------------------------------


def test_full_login_then_a_dpop_call_to_the_pds(
    env: Env, http: httpx.Client, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="reference_impl")
    alice = new_account(http, env.pds)
    codes: list[str] = []

    async def body(client: OAuthClient, traffic: Traffic) -> tuple[str, Session, httpx.Response]:
        url, state = await client.begin(alice.handle, {"boundaries": ["x/engineering"]})
        callback = await asyncio.to_thread(
            sign_in,
            http,
            url,
            client_id=env.identity.client_id,
            redirect_uri=env.identity.redirect_uri,
            account=alice,
        )
        assert callback.location.startswith(env.identity.redirect_uri + "?")
        assert callback.params["state"] == state
        p = callback.params
        codes.append(p["code"])
        session = await client.complete(p["code"], p["state"], p["iss"])
        created = await create_record(client, alice.did, "hello from a confidential client")
        # Only the very first request (PAR) paid a use_dpop_nonce round: the nonce is kept per
        # origin, and the reference PDS's AS and resource server share one origin and nonce.
        assert traffic.count("/oauth/par", 400) == 1
        assert traffic.count("/oauth/par", 201) == 1
        assert traffic.count("/oauth/token", 400) == 0
        assert traffic.count("/xrpc/com.atproto.repo.createRecord", 401) == 0
        return url, session, created

    url, session, created = run(env, tmp_path / "db.sqlite", body)
    assert url.startswith(f"{env.pds}/oauth/authorize?")
    query = dict(parse_qsl(urlsplit(url).query))
    assert query["client_id"] == env.identity.client_id
    assert query["request_uri"].startswith("urn:ietf:params:oauth:request_uri:")

    assert session.did == alice.did and session.handle == alice.handle
    assert session.pds_url == env.pds and session.issuer == env.pds
    assert "atproto" in session.scope.split(" ")
    assert session.refresh_token and session.expires_at
    assert session.extra_state == {"boundaries": ["x/engineering"]}
    assert session.access_token not in repr(session)

    assert created.status_code == 200, created.text
    uri = created.json()["uri"]
    assert uri.startswith(f"at://{alice.did}/{POST}/")
    stored = http.get(
        f"{env.pds}/xrpc/com.atproto.repo.getRecord",
        params={"repo": alice.did, "collection": POST, "rkey": uri.rsplit("/", 1)[1]},
    )
    assert stored.json()["value"]["text"] == "hello from a confidential client"

    # Our own log lines name the DID, never a secret.
    ours = [r.getMessage() for r in caplog.records if r.name.startswith("reference_impl")]
    assert any(alice.did in line for line in ours)
    for secret in (session.access_token, session.refresh_token, *codes):
        assert secret and not any(secret in line for line in ours)


def test_state_is_single_use_and_iss_must_match(
    env: Env, http: httpx.Client, tmp_path: Path
) -> None:
    alice = new_account(http, env.pds)

    async def body(client: OAuthClient, traffic: Traffic) -> None:
        with pytest.raises(LoginFailed, match="state"):
            await client.complete("code", "never-issued", env.pds)

        url, _ = await client.begin(alice.handle)
        cb = await asyncio.to_thread(
            sign_in,
            http,
            url,
            client_id=env.identity.client_id,
            redirect_uri=env.identity.redirect_uri,
            account=alice,
        )
        with pytest.raises(LoginFailed, match="iss"):
            await client.complete(cb.params["code"], cb.params["state"], "http://127.0.0.1:1")
        # The state was spent by that attempt: a replay with the right iss fails too.
        with pytest.raises(LoginFailed, match="state"):
            await client.complete(cb.params["code"], cb.params["state"], cb.params["iss"])
        assert await client.session(alice.did) is None

    run(env, tmp_path / "db.sqlite", body)


def test_unknown_handle_is_reported(env: Env, tmp_path: Path) -> None:
    async def body(client: OAuthClient, traffic: Traffic) -> None:
        with pytest.raises(UnknownHandle):
            await client.begin("nobody-here.test")
        with pytest.raises(UnknownHandle):
            await client.begin("not a handle")

    run(env, tmp_path / "db.sqlite", body)


def test_denied_consent_gives_no_session(env: Env, http: httpx.Client, tmp_path: Path) -> None:
    alice = new_account(http, env.pds)

    async def body(client: OAuthClient, traffic: Traffic) -> None:
        url, _ = await client.begin(alice.handle)
        cb = await asyncio.to_thread(
            sign_in,
            http,
            url,
            client_id=env.identity.client_id,
            redirect_uri=env.identity.redirect_uri,
            account=alice,
            consent="deny",
        )
        assert cb.params["error"] == "access_denied"
        with pytest.raises(LoginFailed, match="code"):
            await client.complete(cb.params.get("code"), cb.params["state"], cb.params["iss"])

    run(env, tmp_path / "db.sqlite", body)


# --- calls ---------------------------------------------------------------------------------------


def test_concurrent_calls_for_one_did_never_leak_use_dpop_nonce(
    env: Env, http: httpx.Client, tmp_path: Path
) -> None:
    alice = new_account(http, env.pds)
    db_path = tmp_path / "db.sqlite"

    async def log_in(client: OAuthClient, traffic: Traffic) -> None:
        await login(client, http, alice)

    run(env, db_path, log_in)

    async def burst(client: OAuthClient, traffic: Traffic) -> list[httpx.Response]:
        # A fresh client: it knows no nonce yet, the worst case for a burst.
        results = await asyncio.gather(
            *(create_record(client, alice.did, f"post {i}") for i in range(10))
        )
        assert traffic.count("/xrpc/com.atproto.repo.createRecord", 401) == 1
        return list(results)

    results = run(env, db_path, burst)
    assert [r.status_code for r in results] == [200] * 10, [r.text for r in results]
    assert all("use_dpop_nonce" not in r.text for r in results)
    revs = [r.json()["commit"]["rev"] for r in results]
    assert len(set(revs)) == 10


def test_sessions_survive_a_restart_and_calls_stay_on_the_users_pds(
    env: Env, http: httpx.Client, tmp_path: Path
) -> None:
    alice = new_account(http, env.pds)
    db_path = tmp_path / "db.sqlite"

    async def log_in(client: OAuthClient, traffic: Traffic) -> None:
        await login(client, http, alice)

    run(env, db_path, log_in)

    async def after_restart(client: OAuthClient, traffic: Traffic) -> None:
        response = await create_record(client, alice.did, "after restart")
        assert response.status_code == 200, response.text
        with pytest.raises(ValueError, match="own PDS"):
            await client.request(alice.did, "GET", "http://127.0.0.1:9/xrpc/anything")
        with pytest.raises(NoSession):
            await client.query("did:plc:" + "z" * 24, "com.atproto.repo.describeRepo")

    run(env, db_path, after_restart)


def test_forget_drops_and_revokes_the_session(env: Env, http: httpx.Client, tmp_path: Path) -> None:
    alice = new_account(http, env.pds)

    async def body(client: OAuthClient, traffic: Traffic) -> None:
        session = await login(client, http, alice)
        assert await client.forget(alice.did) is True
        assert await client.forget(alice.did) is False
        with pytest.raises(NoSession):
            await create_record(client, alice.did, "gone")
        # Revoked at the authorization server: the old refresh token is refused there.
        token = await asyncio.to_thread(
            http.post,
            f"{env.pds}/oauth/revoke",
            data={"token": session.refresh_token or ""},
        )
        assert token.status_code == 200
        assert traffic.count("/oauth/revoke", 200) == 1

    run(env, tmp_path / "db.sqlite", body)


def test_revoked_session_turns_into_no_session(
    env: Env, http: httpx.Client, tmp_path: Path
) -> None:
    """ATCR-OAUTH-03's precondition: a session revoked at the PDS surfaces as NoSession."""
    alice = new_account(http, env.pds)

    async def body(client: OAuthClient, traffic: Traffic) -> None:
        session = await login(client, http, alice)
        revoked = await asyncio.to_thread(
            http.post, f"{env.pds}/oauth/revoke", data={"token": session.refresh_token or ""}
        )
        assert revoked.status_code == 200
        with pytest.raises(NoSession):
            await create_record(client, alice.did, "after revocation")
        assert await client.session(alice.did) is None

    run(env, tmp_path / "db.sqlite", body)


# --- refresh (access tokens of the short PDS live 5 s) -------------------------------------------


def test_expired_tokens_are_refreshed_once_for_a_burst_and_when_the_pds_refuses_them(
    env: Env, http: httpx.Client, tmp_path: Path
) -> None:
    alice, bob = new_account(http, env.short_pds), new_account(http, env.short_pds)
    # A clock that jumps 30 s back after the login: the client's own expiry estimate then says
    # "still valid" while the PDS says expired (a constant offset would cancel out).
    behind = lambda: time.time() - 30  # noqa: E731
    proactive_db, reactive_db = tmp_path / "a.sqlite", tmp_path / "b.sqlite"

    async def log_in_alice(client: OAuthClient, traffic: Traffic) -> Session:
        return await login(client, http, alice)

    async def log_in_bob(client: OAuthClient, traffic: Traffic) -> Session:
        return await login(client, http, bob)

    alice_before = run(env, proactive_db, log_in_alice, pds=env.short_pds)
    bob_before = run(env, reactive_db, log_in_bob, pds=env.short_pds)
    time.sleep(6)  # both access tokens are now expired at the PDS

    async def burst(client: OAuthClient, traffic: Traffic) -> tuple[list[int], Session | None]:
        results = await asyncio.gather(
            *(create_record(client, alice.did, f"after expiry {i}") for i in range(10))
        )
        # One refresh for the whole burst: the lock makes the other nine use its result.
        assert traffic.count("/oauth/token", 200) == 1
        assert traffic.count("/xrpc/com.atproto.repo.createRecord", 401) == 0
        return [r.status_code for r in results], await client.session(alice.did)

    statuses, alice_after = run(env, proactive_db, burst, pds=env.short_pds)
    assert statuses == [200] * 10
    assert alice_after is not None
    assert alice_after.refresh_token != alice_before.refresh_token  # rotated and stored
    assert alice_after.access_token != alice_before.access_token

    async def reactive(client: OAuthClient, traffic: Traffic) -> tuple[int, Session | None]:
        # This client believes the token is still valid; the PDS says ExpiredToken.
        response = await create_record(client, bob.did, "refreshed on refusal")
        assert traffic.count("/xrpc/com.atproto.repo.createRecord", 401) >= 1
        assert traffic.count("/oauth/token", 200) == 1
        return response.status_code, await client.session(bob.did)

    status, bob_after = run(env, reactive_db, reactive, pds=env.short_pds, clock=behind)
    assert status == 200
    assert bob_after is not None and bob_after.refresh_token != bob_before.refresh_token


def test_a_new_login_replaces_and_revokes_the_previous_session(
    env: Env, http: httpx.Client, tmp_path: Path
) -> None:
    alice = new_account(http, env.pds)

    async def body(client: OAuthClient, traffic: Traffic) -> tuple[Session, Session]:
        first = await login(client, http, alice)
        second = await login(client, http, alice)
        assert traffic.count("/oauth/revoke", 200) == 1
        response = await create_record(client, alice.did, "with the second session")
        assert response.status_code == 200, response.text
        return first, second

    first, second = run(env, tmp_path / "db.sqlite", body)
    assert first.access_token != second.access_token
    # The first session is dead at the PDS: its access token is refused there.
    key = DpopKey(first.dpop_key.cryptography_private_key)
    url = f"{env.pds}/xrpc/com.atproto.repo.createRecord"
    payload = {"repo": alice.did, "collection": POST, "record": post("old session")}
    nonce = None
    for _ in range(2):
        proof = make_dpop_proof(key, "POST", url, nonce=nonce, access_token=first.access_token)
        refused = http.post(
            url,
            json=payload,
            headers={"Authorization": f"DPoP {first.access_token}", "DPoP": proof},
        )
        nonce = refused.headers.get("dpop-nonce")
    assert refused.status_code == 401, refused.text
    assert "revoked" in refused.json()["message"]
