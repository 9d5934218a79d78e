"""Accounts, sessions and app passwords of the reference PDS over real HTTP."""

from __future__ import annotations

import re

import httpx
from pds_helpers import bearer, new_account


def test_account_gets_a_plc_did_and_directory_document(pds, http: httpx.Client) -> None:
    alice = new_account(http, pds.url)
    assert re.fullmatch(r"did:plc:[a-z2-7]{24}", alice["did"])
    document = http.get(f"{pds.url}/{alice['did']}").json()
    assert document["id"] == alice["did"]
    assert document["alsoKnownAs"] == [f"at://{alice['handle']}"]
    [method] = document["verificationMethod"]
    assert method["type"] == "Multikey" and method["publicKeyMultibase"].startswith("zQ3s")
    assert document["service"][0]["serviceEndpoint"] == pds.url


def test_handles_are_unique_and_checked(pds, http: httpx.Client) -> None:
    alice = new_account(http, pds.url)
    taken = http.post(
        pds.xrpc("com.atproto.server.createAccount"),
        json={"handle": alice["handle"], "password": "whatever-password"},
    )
    assert taken.status_code == 400 and taken.json()["error"] == "HandleNotAvailable"
    foreign = http.post(
        pds.xrpc("com.atproto.server.createAccount"),
        json={"handle": "someone.example.com", "password": "whatever-password"},
    )
    assert foreign.status_code == 400 and foreign.json()["error"] == "UnsupportedDomain"
    bad = http.post(
        pds.xrpc("com.atproto.server.createAccount"),
        json={"handle": "no spaces.test", "password": "x"},
    )
    assert bad.status_code == 400


def test_refresh_tokens_are_single_use(pds, http: httpx.Client) -> None:
    alice = new_account(http, pds.url)
    refresh = {"Authorization": f"Bearer {alice['refreshJwt']}"}
    first = http.post(pds.xrpc("com.atproto.server.refreshSession"), headers=refresh)
    assert first.status_code == 200
    again = http.post(pds.xrpc("com.atproto.server.refreshSession"), headers=refresh)
    assert again.status_code == 400 and again.json()["error"] == "ExpiredToken"
    assert (
        http.get(
            pds.xrpc("com.atproto.server.getSession"), headers=bearer(first.json())
        ).status_code
        == 200
    )


def test_app_passwords_log_in_but_cannot_manage_app_passwords(pds, http: httpx.Client) -> None:
    alice = new_account(http, pds.url)
    created = http.post(
        pds.xrpc("com.atproto.server.createAppPassword"), headers=bearer(alice), json={"name": "ci"}
    )
    assert created.status_code == 200
    app_password = created.json()["password"]
    assert re.fullmatch(r"[a-z2-7]{4}(-[a-z2-7]{4}){3}", app_password)
    login = http.post(
        pds.xrpc("com.atproto.server.createSession"),
        json={"identifier": alice["did"], "password": app_password},
    )
    assert login.status_code == 200
    denied = http.post(
        pds.xrpc("com.atproto.server.createAppPassword"),
        headers=bearer(login.json()),
        json={"name": "escalate"},
    )
    assert denied.status_code == 401
    http.post(
        pds.xrpc("com.atproto.server.revokeAppPassword"), headers=bearer(alice), json={"name": "ci"}
    )
    revoked = http.post(
        pds.xrpc("com.atproto.server.createSession"),
        json={"identifier": alice["did"], "password": app_password},
    )
    assert revoked.status_code == 401 and revoked.json()["error"] == "AuthenticationRequired"
    stale_refresh = http.post(
        pds.xrpc("com.atproto.server.refreshSession"),
        headers={"Authorization": f"Bearer {login.json()['refreshJwt']}"},
    )
    assert stale_refresh.status_code in (400, 401)


def test_malformed_bodies_get_clear_400s(pds, http: httpx.Client) -> None:
    url = pds.xrpc("com.atproto.server.createSession")
    not_json = http.post(url, content=b"{nope", headers={"Content-Type": "application/json"})
    assert not_json.status_code == 400 and not_json.json()["error"] == "InvalidRequest"
    wrong_type = http.post(
        url, content=b"identifier=a", headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert wrong_type.status_code == 400
    missing = http.post(url, json={"identifier": "alice.test"})
    assert missing.status_code == 400 and "password" in missing.json()["message"]
    verb = http.get(url)
    assert verb.status_code == 405 and verb.json()["error"] == "InvalidRequest"


def test_cors_headers_on_every_response(pds, http: httpx.Client) -> None:
    preflight = http.options(
        pds.xrpc("com.atproto.server.getSession"),
        headers={
            "Origin": "http://127.0.0.9:8000",
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization, dpop",
        },
    )
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == "http://127.0.0.9:8000"
    assert "dpop" in preflight.headers["access-control-allow-headers"]
    failed = http.get(
        pds.xrpc("com.atproto.server.getSession"), headers={"Origin": "http://127.0.0.9:8000"}
    )
    assert failed.status_code == 401
    assert "dpop-nonce" in failed.headers["access-control-expose-headers"]
