"""Redactor: each structural rule, the registry of known values, and the secret ledger."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from urllib.parse import quote, quote_plus

from conformance.redact import REDACTED, Redactor

JWT = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJkaWQ6cGxjOmFiYyJ9.c2lnbmF0dXJl"


def test_secret_headers_are_redacted_whatever_their_case() -> None:
    r = Redactor()
    headers = [
        ("Authorization", "DPoP abc"),
        ("dpop", "proof"),
        ("Cookie", "a=b"),
        ("set-cookie", "sid=1"),
        ("Proxy-Authorization", "Basic x"),
        ("X-API-Key", "k"),
        ("Content-Type", "application/json"),
        ("DPoP-Nonce", "nonce-value"),
    ]
    out = r.headers(headers)
    assert out[:6] == [(name, REDACTED) for name, _ in headers[:6]]
    assert out[6:] == headers[6:]  # dpop-nonce is not a secret
    assert headers[0] == ("Authorization", "DPoP abc")  # input untouched


def test_other_headers_lose_registered_values_and_jwts() -> None:
    r = Redactor()
    r.add("super-secret-value")
    out = r.headers([("X-Echo", "got super-secret-value"), ("X-Token", f"t={JWT}")])
    assert out == [("X-Echo", f"got {REDACTED}"), ("X-Token", f"t={REDACTED}")]


def test_location_header_is_redacted_as_a_url() -> None:
    r = Redactor()
    out = r.headers([("Location", "http://127.0.0.1/callback?code=abcdef123&state=xyz&iss=i")])
    assert "abcdef123" not in out[0][1]
    assert "state=xyz" in out[0][1]


def test_json_keys_are_redacted_recursively() -> None:
    r = Redactor()
    value = {
        "did": "did:plc:abc",
        "accessJwt": "a1",
        "refreshJwt": "r1",
        "nested": [{"password": "pw", "name": "n"}, {"access_token": "x", "Token": "y"}],
        "code": "BLOB_UNKNOWN",
        "code_verifier": "v",
        "client_assertion": "ca",
        "client_secret": "cs",
        "appPassword": "ap",
        "privateKey": "pk",
        "refresh_token": "rt",
        "id_token": "it",
        "count": 3,
        "flag": None,
    }
    out = r.json_value(value)
    for key in (
        "accessJwt",
        "refreshJwt",
        "code_verifier",
        "client_assertion",
        "client_secret",
        "appPassword",
        "privateKey",
        "refresh_token",
        "id_token",
    ):
        assert out[key] == REDACTED, key
    assert out["nested"][0] == {"password": REDACTED, "name": "n"}
    assert out["nested"][1] == {"access_token": REDACTED, "Token": REDACTED}
    assert out["did"] == "did:plc:abc" and out["count"] == 3 and out["flag"] is None
    # In JSON, "code" is an error code (OCI error bodies); authorization codes are caught by value.
    assert out["code"] == "BLOB_UNKNOWN"
    assert value["accessJwt"] == "a1"  # a copy, not in place


def test_registered_authorization_code_in_json_is_redacted_by_value() -> None:
    r = Redactor()
    r.add("authz-code-123456")
    assert r.json_value({"code": "authz-code-123456"}) == {"code": REDACTED}


def test_jwk_private_members_are_redacted_only_inside_jwks() -> None:
    r = Redactor()
    jwk = {"kty": "EC", "crv": "P-256", "x": "X", "y": "Y", "d": "PRIVATE"}
    rsa = {
        "kty": "RSA",
        "n": "N",
        "e": "AQAB",
        "d": "D",
        "p": "P",
        "q": "Q",
        "dp": "DP",
        "dq": "DQ",
        "qi": "QI",
    }
    oct_ = {"kty": "oct", "k": "KEY"}
    record = {"d": "a record field", "k": "also fine"}
    out = r.json_value({"keys": [jwk, rsa, oct_], "record": record})
    assert out["keys"][0] == {**jwk, "d": REDACTED}
    assert all(out["keys"][1][m] == REDACTED for m in ("d", "p", "q", "dp", "dq", "qi"))
    assert out["keys"][1]["n"] == "N"
    assert out["keys"][2]["k"] == REDACTED
    assert out["record"] == record


def test_json_strings_lose_jwts_and_registered_values() -> None:
    r = Redactor()
    r.add("my-app-password")
    out = r.json_value({"message": f"token {JWT} rejected", "note": "pw my-app-password"})
    assert out == {"message": f"token {REDACTED} rejected", "note": f"pw {REDACTED}"}


def test_form_fields() -> None:
    r = Redactor()
    body = (
        "grant_type=authorization_code&code=the-code&code_verifier=ver"
        "&client_id=http%3A%2F%2Flocalhost&password=p%40ss"
    )
    out = r.form(body)
    assert "the-code" not in out and "ver&" not in out and "p%40ss" not in out
    assert "grant_type=authorization_code" in out
    assert "client_id=http%3A%2F%2Flocalhost" in out
    assert out.count(REDACTED) == 3


def test_url_query_fragment_and_userinfo() -> None:
    r = Redactor()
    out = r.url(
        "https://user:hunter2@example.com/cb?code=abc123&state=s1&token=t#access_token=at1&x=1"
    )
    assert "hunter2" not in out and "abc123" not in out and "t#" not in out and "at1" not in out
    assert "state=s1" in out and "x=1" in out and "user:" in out
    assert r.url("http://127.0.0.1:2583/xrpc/com.atproto.sync.getRepo?did=did:plc:abc") == (
        "http://127.0.0.1:2583/xrpc/com.atproto.sync.getRepo?did=did:plc:abc"
    )


def test_text_replaces_registered_values_and_jwt_shapes() -> None:
    r = Redactor()
    r.add("p@ss word/+=")
    text = (
        f"a {JWT} b p@ss word/+= c {quote('p@ss word/+=', safe='')} d {quote_plus('p@ss word/+=')}"
    )
    out = r.text(text)
    assert out == f"a {REDACTED} b {REDACTED} c {REDACTED} d {REDACTED}"


def test_json_escaped_form_is_registered() -> None:
    r = Redactor()
    r.add('quote"back\\slash')
    dumped = json.dumps({"x": 'quote"back\\slash'})
    assert "quote" not in r.text(dumped)


def test_short_and_empty_values_are_ignored() -> None:
    r = Redactor()
    for value in ("", "abc", "12345", None):
        r.add(value)
    assert r.known_values() == ()
    assert r.text("abc 12345") == "abc 12345"
    r.add("123456")
    assert "123456" in r


def test_ledger_gets_each_new_secret_once(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.txt"
    r = Redactor(ledger)
    r.add("first-secret")
    r.add("first-secret")
    r.add("tiny")
    r.add("second secret/with+chars")
    assert ledger.read_text().splitlines() == ["first-secret", "second secret/with+chars"]
    assert Redactor(None).known_values() == ()


def test_registry_is_thread_safe(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.txt"
    r = Redactor(str(ledger))

    def add_many(n: int) -> None:
        for i in range(100):
            r.add(f"secret-{n}-{i:04d}")

    threads = [threading.Thread(target=add_many, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    lines = ledger.read_text().splitlines()
    assert len(lines) == 800 == len(set(lines))
    assert all(f"secret-{n}-0099" in r for n in range(8))
