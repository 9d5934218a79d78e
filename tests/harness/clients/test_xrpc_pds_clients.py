"""XrpcClient (raw responses, parameter encoding, expect_ok) and PdsClient plumbing.

The PDS behaviour itself is checked against the reference PDS in test_reference_pds_clients.py;
here an echo server shows what the clients put on the wire.
"""

from __future__ import annotations

import json

import httpx
import pytest

from conformance.clients.pds import BearerAuth, PdsClient, Session, write_create, write_delete
from conformance.clients.xrpc import (
    XrpcCallFailed,
    XrpcClient,
    XrpcError,
    encode_params,
    expect_ok,
)
from conformance.provision import AccountCredentials, provision_accounts, random_handles
from conformance.redact import Redactor


def test_encode_params() -> None:
    assert encode_params(
        {"a": "x", "n": 5, "t": True, "f": False, "none": None, "l": ["p", "q"], "e": []}
    ) == (("a", "x"), ("n", "5"), ("t", "true"), ("f", "false"), ("l", "p"), ("l", "q"))
    assert encode_params(None) == ()


def test_query_sends_get_with_repeated_params(echo_server: str) -> None:
    with httpx.Client() as http:
        xrpc = XrpcClient(f"{echo_server}/", http)
        response = xrpc.query(
            "com.example.q", {"uris": ["at://a", "at://b"], "reverse": True, "limit": 10}
        )
    body = response.json()
    assert body["method"] == "GET" and body["path"] == "/xrpc/com.example.q"
    assert body["query"] == [
        ["uris", "at://a"],
        ["uris", "at://b"],
        ["reverse", "true"],
        ["limit", "10"],
    ]


def test_procedure_bodies(echo_server: str) -> None:
    with httpx.Client() as http:
        xrpc = XrpcClient(echo_server, http)
        as_json = xrpc.procedure("com.example.p", {"a": 1}).json()
        raw = xrpc.procedure("com.example.p", data=b"\x00\x01", content_type="image/png").json()
        empty = xrpc.procedure("com.example.p", headers={"X-Test": "1"}).json()
        own_type = xrpc.procedure(
            "com.example.p", {"a": 1}, headers={"content-type": "application/json; charset=utf-8"}
        ).json()
    assert as_json["body"] == '{"a":1}'
    assert as_json["headers"]["content-type"] == "application/json"
    assert raw["headers"]["content-type"] == "image/png"
    assert empty["body"] == "" and "content-type" not in empty["headers"]
    assert empty["headers"]["x-test"] == "1"
    assert own_type["headers"]["content-type"] == "application/json; charset=utf-8"
    with pytest.raises(ValueError):
        XrpcClient(echo_server, httpx.Client()).procedure("x.y.z", {"a": 1}, data=b"x")


def test_auth_is_applied_per_call(echo_server: str) -> None:
    with httpx.Client() as http:
        xrpc = XrpcClient(echo_server, http)
        body = xrpc.query("com.example.q", auth=BearerAuth("tok-123456")).json()
        none = xrpc.query("com.example.q").json()
    assert body["headers"]["authorization"] == "Bearer tok-123456"
    assert "authorization" not in none["headers"]


def test_expect_ok_and_typed_failure(echo_server: str) -> None:
    with httpx.Client() as http:
        ok = http.get(f"{echo_server}/xrpc/x.y.z")
        error = http.get(f"{echo_server}/canned/error")
        html = http.get(f"{echo_server}/canned/notjson")
    assert expect_ok(ok)["method"] == "GET"
    with pytest.raises(XrpcCallFailed) as caught:
        expect_ok(error)
    assert (caught.value.status, caught.value.error, caught.value.message) == (
        400,
        "InvalidRequest",
        "bad param",
    )
    assert not isinstance(caught.value, AssertionError)  # an error, never a fail
    assert XrpcError.from_response(html) == XrpcError(500, "", "")
    with pytest.raises(XrpcCallFailed, match="HTTP 500"):
        expect_ok(html)


def test_session_repr_hides_tokens() -> None:
    session = Session("did:plc:abc", "a.test", "access-secret", "refresh-secret")
    text = repr(session) + str(session)
    assert "access-secret" not in text and "refresh-secret" not in text
    assert "did:plc:abc" in text
    assert "tok" not in repr(BearerAuth("tok-abc"))


def test_pds_client_registers_session_secrets() -> None:
    redactor = Redactor()
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(
            200,
            json={
                "did": "did:plc:abc",
                "handle": "alice.test",
                "accessJwt": "access-jwt-value",
                "refreshJwt": "refresh-jwt-value",
            },
        )

    with httpx.Client(transport=httpx.MockTransport(handler)) as http:
        pds = PdsClient(XrpcClient("http://127.0.0.1:9", http), redactor)
        session = pds.login("alice.test", "the-password")
    assert seen[0].url.path == "/xrpc/com.atproto.server.createSession"
    assert session == Session("did:plc:abc", "alice.test", "access-jwt-value", "refresh-jwt-value")
    for secret in ("the-password", "access-jwt-value", "refresh-jwt-value"):
        assert secret in redactor


def test_pds_client_wire_shapes(echo_server: str) -> None:
    redactor = Redactor()
    session = Session("did:plc:abc", "a.test", "access-jwt-1", "refresh-jwt-1")
    with httpx.Client() as http:
        pds = PdsClient(XrpcClient(echo_server, http), redactor)
        refresh = pds.refresh_session(session).json()
        record = pds.create_record(session, "did:plc:abc", "app.x.y", {"text": "hi"}).json()
        writes = pds.apply_writes(
            session,
            "did:plc:abc",
            [write_create("app.x.y", {"a": 1}), write_delete("app.x.y", "r")],
        ).json()
        blob = pds.upload_blob(session, b"\x89PNG", "image/png").json()
        listing = pds.list_records("did:plc:abc", "app.x.y", limit=5, reverse=True).json()
        did_doc = pds.resolve_did(f"{echo_server}/plc/", "did:plc:abc").json()
        well_known = pds.well_known_atproto_did(echo_server, "alice.test").json()
        service = pds.get_service_auth(session, "did:web:svc", lxm="com.x.y").json()
    assert refresh["headers"]["authorization"] == "Bearer refresh-jwt-1"
    assert refresh["path"] == "/xrpc/com.atproto.server.refreshSession"
    assert record["headers"]["authorization"] == "Bearer access-jwt-1"
    assert '"collection":"app.x.y"' in record["body"] and "rkey" not in record["body"]
    assert "com.atproto.repo.applyWrites#create" in writes["body"]
    assert "com.atproto.repo.applyWrites#delete" in writes["body"]
    assert blob["headers"]["content-type"] == "image/png"
    assert listing["query"] == [
        ["repo", "did:plc:abc"],
        ["collection", "app.x.y"],
        ["limit", "5"],
        ["reverse", "true"],
    ]
    assert did_doc["path"] == "/plc/did:plc:abc"
    assert well_known["path"] == "/.well-known/atproto-did"
    assert well_known["headers"]["host"] == "alice.test"
    assert service["query"] == [["aud", "did:web:svc"], ["lxm", "com.x.y"]]
    assert "refresh-jwt-1" in redactor


def test_random_handles_are_valid_and_distinct() -> None:
    handles = random_handles(30, ".Example.TEST.")
    assert len(set(handles)) == 30
    assert handles[0].endswith("-a.example.test") and handles[26].endswith("-aa.example.test")
    run = handles[0].split("-")[1]
    assert all(h.startswith(f"conform-{run}-") for h in handles)
    assert all(len(h.split(".")[0]) <= 63 for h in handles)


def test_provision_accounts_against_a_fake_pds() -> None:
    redactor = Redactor()
    created: list[dict[str, str]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        created.append(body)
        return httpx.Response(
            200,
            json={
                "did": f"did:plc:{len(created):024d}",
                "handle": body["handle"],
                "accessJwt": f"access-{len(created)}-xxxxxx",
                "refreshJwt": f"refresh-{len(created)}-xxxxxx",
            },
        )

    with httpx.Client(transport=httpx.MockTransport(handler)) as http:
        pds = PdsClient(XrpcClient("http://127.0.0.1:9", http), redactor)
        accounts = provision_accounts(
            pds, 3, "test", "invite-code-1", redactor, email_domain="example.com"
        )
    assert [a.handle for a in accounts] == [c["handle"] for c in created]
    assert all(c["inviteCode"] == "invite-code-1" for c in created)
    assert all(c["email"].endswith("@example.com") for c in created)
    assert len({a.password for a in accounts}) == 3
    assert all(len(a.password) >= 24 and a.password in redactor for a in accounts)
    assert "access-1-xxxxxx" in redactor and "invite-code-1" in redactor
    assert isinstance(accounts[0], AccountCredentials)
    assert accounts[0].password not in repr(accounts[0])


def test_provision_failure_is_a_setup_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(400, json={"error": "InvalidInviteCode", "message": "no"})

    with httpx.Client(transport=httpx.MockTransport(handler)) as http:
        pds = PdsClient(XrpcClient("http://127.0.0.1:9", http), Redactor())
        with pytest.raises(XrpcCallFailed) as caught:
            provision_accounts(pds, 1, "test", None, Redactor())
    assert caught.value.error == "InvalidInviteCode"
    assert caught.value.nsid == "com.atproto.server.createAccount"
