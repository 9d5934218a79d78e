"""The OAuth client against a small fake authorization server (see conftest.fake_as).

The fake has the ATProto shape (PAR with DPoP nonces, S256 only, an HTML form with a CSRF cookie
and differently named credential fields, 303 with code/state/iss, DPoP-bound single-use refresh
tokens); the real thing is exercised in test_reference_pds_clients.py.
"""

from __future__ import annotations

import json
import time
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from conformance.clients.dpop import DpopKey, NonceStore
from conformance.clients.oauth import (
    AuthServerInfo,
    OAuthClient,
    OAuthFlowError,
    Pkce,
    fill_authorization_form,
    loopback_client_id,
    parse_forms,
    s256_challenge,
)
from conformance.evidence import ExchangeRecorder
from conformance.redact import Redactor

PASSWORD = "correct horse battery"


def _client(redactor: Redactor, recorder: ExchangeRecorder | None = None, **kwargs) -> OAuthClient:
    hooks = recorder.event_hooks() if recorder else {}
    return OAuthClient(httpx.Client(event_hooks=hooks), redactor, **kwargs)


def test_loopback_client_id() -> None:
    client_id = loopback_client_id("http://127.0.0.1/callback", "atproto transition:generic")
    parts = urlsplit(client_id)
    assert (parts.scheme, parts.netloc, parts.path) == ("http", "localhost", "")
    assert parse_qs(parts.query) == {
        "redirect_uri": ["http://127.0.0.1/callback"],
        "scope": ["atproto transition:generic"],
    }
    assert OAuthClient(httpx.Client(), Redactor()).client_id == client_id


def test_pkce() -> None:
    pkce = Pkce.generate()
    assert pkce.method == "S256" and 43 <= len(pkce.verifier) <= 128
    assert pkce.challenge == s256_challenge(pkce.verifier) != pkce.verifier
    # RFC 7636 Appendix B
    assert s256_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk") == (
        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    )
    plain = Pkce.plain()
    assert plain.method == "plain" and plain.challenge == plain.verifier
    assert pkce.verifier not in repr(pkce)


def test_form_parsing_and_filling() -> None:
    html = """<form action="/search"><input name="q"></form>
    <FORM method=post action="/signin">
      <input type=hidden name=request_uri value="urn:x">
      <input type=hidden name=csrf value="c&amp;1">
      <input name=identifier value="prefilled.test">
      <input type=password name=pw>
      <input type=checkbox name=remember value=1>
      <input type=checkbox name=tos value=yes checked>
      <textarea name=comment>hello</textarea>
      <button name=consent value=allow>ok</button><button name=consent value=deny>no</button>
    </FORM>"""
    forms = parse_forms(html)
    assert [f.method for f in forms] == ["get", "post"]
    form = forms[1]
    assert form.action == "/signin" and form.has_password()
    fields = fill_authorization_form(
        form, request_uri="urn:x", client_id="cid", identifier="alice.test", password="pw1"
    )
    assert fields == [
        ("request_uri", "urn:x"),
        ("csrf", "c&1"),
        ("tos", "yes"),
        ("comment", "hello"),
        ("identifier", "alice.test"),
        ("pw", "pw1"),
        ("client_id", "cid"),
        ("consent", "allow"),
    ]
    with pytest.raises(ValueError, match="consent"):
        fill_authorization_form(
            form, request_uri="u", client_id="c", identifier=None, password=None, consent="maybe"
        )


def test_discovery(fake_as) -> None:
    client = _client(Redactor())
    info = client.discover(fake_as.base + "/")
    assert info.issuer == fake_as.base
    assert info.pushed_authorization_request_endpoint == f"{fake_as.base}/oauth/par"
    assert info.revocation_endpoint == f"{fake_as.base}/oauth/revoke"
    assert info.iss_parameter_required
    assert info.resource == fake_as.base


def test_discovery_errors_are_clear() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/.well-known/oauth-protected-resource":
            return httpx.Response(200, json={"authorization_servers": ["http://127.0.0.1:9"]})
        return httpx.Response(200, json={"issuer": "http://127.0.0.1:9", "token_endpoint": "t"})

    client = OAuthClient(httpx.Client(transport=httpx.MockTransport(handler)), Redactor())
    with pytest.raises(OAuthFlowError, match="authorization_endpoint, pushed_authorization"):
        client.discover("http://127.0.0.1:9")

    def no_servers(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"resource": "x"})

    client = OAuthClient(httpx.Client(transport=httpx.MockTransport(no_servers)), Redactor())
    with pytest.raises(OAuthFlowError, match="authorization_servers"):
        client.discover("http://127.0.0.1:9")


def test_login_refresh_revoke(fake_as, tmp_path) -> None:
    redactor = Redactor(tmp_path / "ledger")
    recorder = ExchangeRecorder(redactor)
    client = _client(redactor, recorder)
    session = client.login(fake_as.base, "alice.test", PASSWORD)
    assert session.did == "did:plc:alicealicealicealice0000"
    assert session.scope == "atproto transition:generic"
    assert session.issuer == fake_as.base and session.client_id == client.client_id
    assert session.expires_at is not None and session.expires_at > time.time()
    assert session.access_token not in repr(session)
    # The form was parsed: the fake names its fields username/secret_word and wants the CSRF
    # cookie back, and the unchecked checkbox was not sent.
    post = fake_as.form_posts[-1]
    assert post["username"] == "alice.test" and post["secret_word"] == PASSWORD
    assert post["consent"] == "allow" and "remember" not in post

    new = client.refresh(session)
    assert new.did == session.did and new.access_token != session.access_token
    assert new.dpop_key is session.dpop_key
    reused = client.refresh_request(session)
    assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"

    assert client.revoke(new).status_code == 200
    assert new.refresh_token in fake_as.revoked
    with pytest.raises(OAuthFlowError, match="invalid_grant"):
        client.refresh(new)

    # Every secret is registered, in the ledger, and absent from the recorded evidence.
    secrets_used = [
        PASSWORD,
        session.access_token,
        session.refresh_token,
        new.access_token,
        new.refresh_token,
    ]
    ledger = (tmp_path / "ledger").read_text().splitlines()
    evidence = tmp_path / "exchanges.jsonl"
    recorder.write_jsonl(evidence)
    dumped = evidence.read_text()
    for secret in secrets_used:
        assert secret in redactor and secret in ledger
        assert secret not in dumped
    assert "csrf-cookie" not in dumped  # Cookie / Set-Cookie headers are redacted
    # Proofs, codes and verifiers were registered too.
    assert len(ledger) > len(secrets_used) + 4


def test_login_two_step_consent(fake_as) -> None:
    fake_as.two_step_consent = True
    session = _client(Redactor()).login(fake_as.base, "alice.test", PASSWORD)
    assert session.did.startswith("did:plc:")
    assert fake_as.form_posts[-1] == {
        "request_uri": fake_as.form_posts[0]["request_uri"],
        "client_id": fake_as.form_posts[0]["client_id"],
        "consent": "allow",
    }


def test_wrong_password_is_a_flow_error(fake_as) -> None:
    with pytest.raises(OAuthFlowError) as caught:
        _client(Redactor()).login(fake_as.base, "alice.test", "wrong password")
    assert caught.value.step == "authorize" and caught.value.response is not None
    assert "HTTP 401: wrong password" in str(caught.value)


def test_consent_denied_is_reported(fake_as) -> None:
    client = _client(Redactor())
    server = client.discover(fake_as.base)
    dpop = client.new_dpop_auth()
    pkce = Pkce.generate()
    par = client.pushed_authorization_request(
        server, client.authorization_params(pkce, "st-1"), dpop=dpop
    )
    request_uri = par.json()["request_uri"]
    redirect = client.authorize(server, request_uri, "alice.test", PASSWORD, consent="deny")
    with pytest.raises(OAuthFlowError, match="access_denied"):
        client.parse_authorization_redirect(redirect, state="st-1", issuer=server.issuer)


def test_step_methods_allow_deliberately_wrong_requests(fake_as) -> None:
    client = _client(Redactor())
    server = client.discover(fake_as.base)
    nonces = NonceStore()
    dpop = client.new_dpop_auth(nonces=nonces)

    # no DPoP at all
    no_dpop = client.pushed_authorization_request(
        server, client.authorization_params(Pkce.generate(), "s"), dpop=None
    )
    assert no_dpop.status_code == 400
    # first DPoP request without a nonce, retry disabled: the AS's nonce challenge is visible
    first = client.pushed_authorization_request(
        server,
        client.authorization_params(Pkce.generate(), "s"),
        dpop=client.new_dpop_auth(max_nonce_retries=0),
    )
    assert first.status_code == 400 and first.json()["error"] == "use_dpop_nonce"
    assert first.headers["DPoP-Nonce"] == fake_as.nonce
    # plain PKCE
    plain = client.pushed_authorization_request(
        server, client.authorization_params(Pkce.plain(), "s"), dpop=dpop
    )
    assert plain.status_code == 400 and plain.json()["error"] == "invalid_request"
    # a good PAR, then a wrong verifier at the token endpoint
    pkce = Pkce.generate()
    par = client.pushed_authorization_request(
        server, client.authorization_params(pkce, "s2"), dpop=dpop
    )
    redirect = client.authorize(server, par.json()["request_uri"], "alice.test", PASSWORD)
    code = client.parse_authorization_redirect(redirect, state="s2", issuer=server.issuer).code
    wrong = client.token_request(
        server, client.code_grant_params(code, Pkce.generate().verifier), dpop=dpop
    )
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"


def test_redirect_checks_state_and_issuer() -> None:
    client = OAuthClient(httpx.Client(), Redactor())

    def redirect(query: str) -> httpx.Response:
        return httpx.Response(
            303,
            headers={"Location": f"http://127.0.0.1/callback?{query}"},
            request=httpx.Request("POST", "http://127.0.0.1:1/x"),
        )

    ok = client.parse_authorization_redirect(
        redirect("code=c0de-123&state=s&iss=http%3A%2F%2Fas"), state="s", issuer="http://as"
    )
    assert ok.code == "c0de-123" and "c0de-123" in client.redactor
    with pytest.raises(OAuthFlowError, match="state"):
        client.parse_authorization_redirect(
            redirect("code=c&state=other&iss=http%3A%2F%2Fas"), state="s", issuer="http://as"
        )
    with pytest.raises(OAuthFlowError, match="iss"):
        client.parse_authorization_redirect(
            redirect("code=c&state=s&iss=http%3A%2F%2Fevil"), state="s", issuer="http://as"
        )
    with pytest.raises(OAuthFlowError, match="iss"):
        client.parse_authorization_redirect(redirect("code=c&state=s"), state="s", issuer="x")
    assert (
        client.parse_authorization_redirect(
            redirect("code=c&state=s"), state="s", issuer="x", require_iss=False
        ).iss
        is None
    )


def test_confidential_client_assertions(fake_as) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    client = _client(
        Redactor(),
        client_id="http://127.0.0.1:1/client-metadata.json",
        redirect_uri="http://127.0.0.1:1/callback",
        client_assertion_key=key,
    )
    assert client.is_confidential
    doc = client.metadata_document()
    assert doc["token_endpoint_auth_method"] == "private_key_jwt"
    assert doc["jwks"]["keys"][0]["kid"] == client.client_assertion_kid
    assert "d" not in doc["jwks"]["keys"][0]

    session = client.login(fake_as.base, "alice.test", PASSWORD)
    assert session.did.startswith("did:plc:")
    assert len(fake_as.assertions) == 2  # PAR and token
    claims = [
        jwt.decode(a, key.public_key(), algorithms=["ES256"], audience=fake_as.base)
        for a in fake_as.assertions
    ]
    for c in claims:
        assert c["iss"] == c["sub"] == client.client_id
        assert abs(c["iat"] - time.time()) < 10
    assert claims[0]["jti"] != claims[1]["jti"]
    assert all(a in client.redactor for a in fake_as.assertions)
    header = jwt.get_unverified_header(fake_as.assertions[0])
    assert header["alg"] == "ES256" and header["kid"] == client.client_assertion_kid

    future = client.client_auth_params(fake_as.base, iat_offset_s=300)
    iat = jwt.decode(future["client_assertion"], options={"verify_signature": False})["iat"]
    assert iat - time.time() > 290
    assert OAuthClient(httpx.Client(), Redactor()).client_auth_params("x") == {}


def test_session_auth_signs_resource_requests(fake_as, nonce_server) -> None:
    url, state = nonce_server
    session = _client(Redactor()).login(fake_as.base, "alice.test", PASSWORD)
    with httpx.Client() as http:
        response = http.get(f"{url}/rs/resource", auth=session.auth())
    assert response.status_code == 200
    assert state.seen[-1]["auth"] == f"DPoP {session.access_token}"
    proof_jwk = jwt.get_unverified_header(state.seen[-1]["proof"])["jwk"]
    assert proof_jwk == session.dpop_key.public_jwk


def test_server_info_is_plain_data() -> None:
    info = AuthServerInfo("i", "a", "t", "p", metadata={"x": 1})
    assert "metadata" not in repr(info)
    assert json.dumps(dict(info.metadata)) == '{"x": 1}'
    assert isinstance(DpopKey.generate().thumbprint, str)
