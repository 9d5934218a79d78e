"""DpopAuth against a real local server that demands DPoP nonces (RS and AS style)."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import jwt
import pytest

from conformance.clients.dpop import (
    DpopAuth,
    DpopKey,
    NonceStore,
    access_token_hash,
    is_use_dpop_nonce,
    origin_of,
)


def test_origin_of_spells_out_default_ports() -> None:
    assert origin_of("https://pds.example.com/xrpc/x?y=1") == "https://pds.example.com:443"
    assert origin_of("http://127.0.0.1:2583/a") == "http://127.0.0.1:2583"
    assert origin_of(httpx.URL("http://localhost/")) == "http://localhost:80"


def test_is_use_dpop_nonce_recognises_both_forms() -> None:
    request = httpx.Request("GET", "http://127.0.0.1/")
    rs = httpx.Response(
        401, headers={"WWW-Authenticate": 'DPoP error="use_dpop_nonce"'}, request=request
    )
    as_ = httpx.Response(400, json={"error": "use_dpop_nonce"}, request=request)
    other = httpx.Response(
        401, headers={"WWW-Authenticate": 'DPoP error="invalid_dpop_proof"'}, request=request
    )
    bearer = httpx.Response(
        401, headers={"WWW-Authenticate": 'Bearer error="use_dpop_nonce"'}, request=request
    )
    assert is_use_dpop_nonce(rs)
    assert is_use_dpop_nonce(as_)
    assert not is_use_dpop_nonce(other)
    assert not is_use_dpop_nonce(bearer)
    assert not is_use_dpop_nonce(httpx.Response(400, text="nope", request=request))


def test_resource_server_nonce_challenge_gets_exactly_one_retry(nonce_server) -> None:
    url, state = nonce_server
    auth = DpopAuth(DpopKey.generate())
    with httpx.Client() as client:
        response = client.get(f"{url}/rs/resource", auth=auth)
    assert response.status_code == 200
    assert [e["nonce"] for e in state.seen] == [None, state.nonce]
    assert auth.nonce_retries == 1
    assert auth.proofs_made == 2
    # The first (rejected) exchange keeps its own request and proof.
    assert len(response.history) == 1
    first = response.history[0]
    assert first.status_code == 401
    assert first.request.headers["DPoP"] != response.request.headers["DPoP"]


def test_next_request_reuses_the_stored_nonce(nonce_server) -> None:
    url, state = nonce_server
    auth = DpopAuth(DpopKey.generate())
    with httpx.Client() as client:
        client.get(f"{url}/rs/resource", auth=auth)
        second = client.get(f"{url}/rs/resource", auth=auth)
    assert second.status_code == 200
    assert len(state.seen) == 3  # 2 for the first request, 1 for the second
    assert state.seen[-1]["nonce"] == state.nonce
    assert auth.nonce_retries == 1


def test_nonce_from_a_successful_response_is_adopted(nonce_server) -> None:
    url, state = nonce_server
    state.rotate_every = 1  # every accepted request hands out a new nonce
    auth = DpopAuth(DpopKey.generate())
    with httpx.Client() as client:
        for _ in range(4):
            assert client.get(f"{url}/rs/resource", auth=auth).status_code == 200
    assert auth.nonce_retries == 1  # only the very first request paid for a round trip
    assert len(state.seen) == 5


def test_authorization_server_400_nonce_error_is_retried_with_the_body(nonce_server) -> None:
    url, state = nonce_server
    auth = DpopAuth(DpopKey.generate())
    with httpx.Client() as client:
        response = client.post(
            f"{url}/as/token",
            content=b"grant_type=authorization_code&code=abc",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            auth=auth,
        )
    assert response.status_code == 200
    assert [e["nonce"] for e in state.seen] == [None, state.nonce]
    assert [e["body"] for e in state.seen] == ["grant_type=authorization_code&code=abc"] * 2
    assert auth.nonce_retries == 1


def test_streamed_request_body_survives_the_retry(nonce_server) -> None:
    url, state = nonce_server

    def chunks():
        yield b"part-one;"
        yield b"part-two"

    with httpx.Client() as client:
        response = client.post(
            f"{url}/as/token", content=chunks(), auth=DpopAuth(DpopKey.generate())
        )
    assert response.status_code == 200
    assert [e["body"] for e in state.seen] == ["part-one;part-two"] * 2


def test_gives_up_after_one_retry(nonce_server) -> None:
    url, state = nonce_server
    auth = DpopAuth(DpopKey.generate())
    with httpx.Client() as client:
        response = client.get(f"{url}/rs/never", auth=auth)
    assert response.status_code == 401
    assert len(state.seen) == 2
    assert auth.nonce_retries == 1


@pytest.mark.parametrize(("method", "path"), [("GET", "/rs/invalid"), ("POST", "/as/other400")])
def test_other_errors_are_not_retried(nonce_server, method: str, path: str) -> None:
    url, state = nonce_server
    auth = DpopAuth(DpopKey.generate())
    with httpx.Client() as client:
        response = client.request(method, f"{url}{path}", auth=auth)
    assert response.status_code in (400, 401)
    assert len(state.seen) == 1
    assert auth.nonce_retries == 0
    # ...but the nonce they carried is remembered.
    assert auth.nonces.get(origin_of(url)) == state.nonce


def test_retries_can_be_turned_off_for_probes(nonce_server) -> None:
    url, state = nonce_server
    auth = DpopAuth(DpopKey.generate(), max_nonce_retries=0)
    with httpx.Client() as client:
        response = client.get(f"{url}/rs/resource", auth=auth)
    assert response.status_code == 401
    assert response.headers["DPoP-Nonce"] == state.nonce
    assert len(state.seen) == 1


def test_access_token_is_sent_with_dpop_scheme_and_ath(nonce_server) -> None:
    url, state = nonce_server
    auth = DpopAuth(DpopKey.generate(), "the-access-token")
    with httpx.Client() as client:
        response = client.get(f"{url}/rs/resource", auth=auth)
    assert response.status_code == 200  # the server verified ath against the token
    assert state.seen[-1]["auth"] == "DPoP the-access-token"
    claims = jwt.decode(state.seen[-1]["proof"], options={"verify_signature": False})
    assert claims["ath"] == access_token_hash("the-access-token")
    assert "the-access-token" not in repr(auth)


def test_secret_sink_receives_every_proof_and_the_token(nonce_server) -> None:
    url, state = nonce_server
    sunk: list[str] = []
    auth = DpopAuth(DpopKey.generate(), "tok-abcdef", secret_sink=sunk.append)
    with httpx.Client() as client:
        client.get(f"{url}/rs/resource", auth=auth)
        client.get(f"{url}/rs/resource", auth=auth)
    assert sunk[0] == "tok-abcdef"
    assert sunk[1:] == [e["proof"] for e in state.seen]


def test_with_token_shares_key_and_nonces(nonce_server) -> None:
    url, _state = nonce_server
    base = DpopAuth(DpopKey.generate())
    with httpx.Client() as client:
        client.get(f"{url}/rs/resource", auth=base)
        bound = base.with_token("new-token-123")
        assert client.get(f"{url}/rs/resource", auth=bound).status_code == 200
    assert bound.nonce_retries == 0
    assert bound.key is base.key and bound.nonces is base.nonces


def test_concurrent_threads_from_cold_start_each_retry_at_most_once(nonce_server) -> None:
    url, state = nonce_server
    store = NonceStore()
    auths = [DpopAuth(DpopKey.generate(), nonces=store) for _ in range(16)]
    barrier = threading.Barrier(16)

    def call(auth: DpopAuth) -> int:
        with httpx.Client() as client:
            barrier.wait()
            return client.get(f"{url}/rs/resource", auth=auth).status_code

    with ThreadPoolExecutor(max_workers=16) as pool:
        statuses = list(pool.map(call, auths))
    assert statuses == [200] * 16
    assert all(a.nonce_retries <= 1 for a in auths)
    assert len(state.seen) <= 32


def test_concurrent_requests_share_the_latest_nonce(nonce_server) -> None:
    """One client, 32 concurrent requests, a server rotating its nonce (previous one in grace)."""
    url, state = nonce_server
    state.rotate_every = 20
    auth = DpopAuth(DpopKey.generate())
    with httpx.Client() as client:
        assert client.get(f"{url}/rs/resource", auth=auth).status_code == 200  # warm up
        with ThreadPoolExecutor(max_workers=8) as pool:
            statuses = list(
                pool.map(
                    lambda _: client.get(f"{url}/rs/resource", auth=auth).status_code, range(32)
                )
            )
    assert statuses == [200] * 32
    # Requests only fail when the nonce rotated twice under them; each retries at most once.
    assert auth.nonce_retries <= 1 + 32
    assert len(state.seen) == 2 + 32 + (auth.nonce_retries - 1)


def test_async_client_runs_the_same_flow(nonce_server) -> None:
    url, state = nonce_server
    auth = DpopAuth(DpopKey.generate())

    async def main() -> list[int]:
        async with httpx.AsyncClient() as client:
            first = await client.post(f"{url}/as/token", content=b"a=1", auth=auth)
            rest = await asyncio.gather(
                *(client.get(f"{url}/rs/resource", auth=auth) for _ in range(5))
            )
            return [first.status_code, *(r.status_code for r in rest)]

    assert asyncio.run(main()) == [200] * 6
    assert auth.nonce_retries == 1  # same origin: the AS nonce serves the RS requests too
    assert state.seen[0]["nonce"] is None
    assert all(e["nonce"] == state.nonce for e in state.seen[1:])
