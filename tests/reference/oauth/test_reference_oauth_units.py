"""Pure parts of the reference OAuth server: PKCE, forms, client metadata, client assertions,
access tokens, config, metadata documents and the resource-server error shape."""

from __future__ import annotations

import json
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from reference_oauth_support import (
    DpopKey,
    ManualClock,
    b64u,
    client_assertion,
    thumbprint,
    unsigned_jws,
)

from reference_impl.common.dpop import ReplayCache
from reference_impl.pds.oauth import OAuthConfig, OAuthError, ResourceAuthError
from reference_impl.pds.oauth.client_auth import JWT_BEARER_ASSERTION, ClientAuthenticator
from reference_impl.pds.oauth.clients import (
    Client,
    client_id_url_problem,
    is_loopback_client_id,
    loopback_client,
    parse_scope,
    redirect_uri_allowed,
    validate_client_metadata,
)
from reference_impl.pds.oauth.forms import parse_form
from reference_impl.pds.oauth.metadata import (
    authorization_server_metadata,
    protected_resource_metadata,
)
from reference_impl.pds.oauth.pkce import challenge_problem, s256, verifier_matches
from reference_impl.pds.oauth.tokens import AccessTokenCodec, InvalidAccessToken

ISSUER = "http://127.0.0.1:2583"
FORM = "application/x-www-form-urlencoded"


def config(**kw: Any) -> OAuthConfig:
    kw.setdefault("issuer", ISSUER)
    kw.setdefault("signing_key", ec.generate_private_key(ec.SECP256R1()))
    kw.setdefault("nonce_secret", b"n" * 32)
    return OAuthConfig(**kw)


# -- PKCE -----------------------------------------------------------------------------------------


def test_pkce_rfc7636_appendix_b_vector() -> None:
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    assert s256(verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    assert verifier_matches(verifier, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM")


@pytest.mark.parametrize(
    ("challenge", "method", "fragment"),
    [
        (None, "S256", "required"),
        ("", "S256", "required"),
        ("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", None, "S256"),
        ("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", "plain", "not supported"),
        ("short", "S256", "digest"),
    ],
)
def test_pkce_challenge_problems(challenge: str | None, method: str | None, fragment: str) -> None:
    problem = challenge_problem(challenge, method)
    assert problem is not None and fragment in problem


def test_pkce_accepts_s256() -> None:
    assert challenge_problem("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", "S256") is None


@pytest.mark.parametrize(
    "verifier", [None, "", "a" * 42, "a" * 129, "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXX"]
)
def test_pkce_wrong_verifiers(verifier: str | None) -> None:
    assert not verifier_matches(verifier, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM")


# -- forms ----------------------------------------------------------------------------------------


def test_form_parses_urlencoded() -> None:
    assert parse_form(b"a=1&b=&c=x%20y", FORM + "; charset=utf-8") == {
        "a": "1",
        "b": "",
        "c": "x y",
    }


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"a=1&a=2", FORM),
        (b'{"a": 1}', "application/json"),
        (b"a=1", None),
        (b"a=%ff", FORM),
        (b"a=" + b"x" * 70000, FORM),
    ],
)
def test_form_rejects(body: bytes, content_type: str | None) -> None:
    with pytest.raises(OAuthError) as info:
        parse_form(body, content_type)
    assert info.value.error == "invalid_request" and info.value.status == 400


# -- clients --------------------------------------------------------------------------------------


def metadata_doc(cid: str, **kw: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "client_id": cid,
        "client_name": "Test app",
        "redirect_uris": ["https://app.example.com/callback"],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "scope": "atproto transition:generic",
        "dpop_bound_access_tokens": True,
        "token_endpoint_auth_method": "none",
        "application_type": "web",
    }
    doc.update(kw)
    return {k: v for k, v in doc.items() if v is not None}


CID = "https://app.example.com/client-metadata.json"


def test_valid_metadata_document() -> None:
    meta = validate_client_metadata(metadata_doc(CID), CID, allow_http=False)
    assert meta.auth_method == "none"
    assert meta.scope == frozenset({"atproto", "transition:generic"})
    assert meta.client_name == "Test app"
    assert redirect_uri_allowed(meta, "https://app.example.com/callback")
    assert not redirect_uri_allowed(meta, "https://app.example.com/other")


@pytest.mark.parametrize(
    "change",
    [
        {"client_id": "https://other.example.com/client-metadata.json"},
        {"redirect_uris": []},
        {"redirect_uris": None},
        {"redirect_uris": ["https://app.example.com/cb#frag"]},
        {"redirect_uris": ["http://app.example.com/cb"]},
        {"grant_types": ["refresh_token"]},
        {"grant_types": ["authorization_code", "password"]},
        {"response_types": ["token"]},
        {"dpop_bound_access_tokens": None},
        {"dpop_bound_access_tokens": False},
        {"token_endpoint_auth_method": "client_secret_basic"},
        {"token_endpoint_auth_method": "private_key_jwt"},
        {"scope": "transition:generic"},
        {"application_type": "desktop"},
    ],
)
def test_invalid_metadata_documents(change: dict[str, Any]) -> None:
    with pytest.raises(OAuthError) as info:
        validate_client_metadata(metadata_doc(CID, **change), CID, allow_http=False)
    assert info.value.error == "invalid_client"


def test_metadata_must_be_an_object() -> None:
    with pytest.raises(OAuthError):
        validate_client_metadata(["not", "an", "object"], CID, allow_http=False)


def test_confidential_client_needs_public_jwks() -> None:
    key = DpopKey()
    ok = metadata_doc(
        CID, token_endpoint_auth_method="private_key_jwt", jwks={"keys": [key.public_jwk]}
    )
    assert validate_client_metadata(ok, CID, allow_http=False).jwks_keys == (key.public_jwk,)
    leaked = metadata_doc(
        CID, token_endpoint_auth_method="private_key_jwt", jwks={"keys": [key.private_jwk]}
    )
    with pytest.raises(OAuthError):
        validate_client_metadata(leaked, CID, allow_http=False)
    both = metadata_doc(
        CID,
        token_endpoint_auth_method="private_key_jwt",
        jwks={"keys": [key.public_jwk]},
        jwks_uri="https://app.example.com/jwks.json",
    )
    with pytest.raises(OAuthError):
        validate_client_metadata(both, CID, allow_http=False)


def test_loopback_client_ids() -> None:
    assert is_loopback_client_id("http://localhost")
    assert is_loopback_client_id("http://localhost/?scope=atproto")
    assert not is_loopback_client_id("http://localhost:8080/")
    assert not is_loopback_client_id("https://localhost")
    assert not is_loopback_client_id("http://localhost/client.json")
    assert not is_loopback_client_id("http://[bad")


def test_loopback_client_defaults() -> None:
    meta = loopback_client("http://localhost")
    assert meta.redirect_uris == ("http://127.0.0.1/", "http://[::1]/")
    assert meta.scope == frozenset({"atproto"})
    assert meta.auth_method == "none" and meta.is_loopback


def test_loopback_client_redirects_match_any_port() -> None:
    meta = loopback_client(
        "http://localhost?redirect_uri=http%3A%2F%2F127.0.0.1%2Fcallback&scope=atproto%20transition%3Ageneric"
    )
    assert meta.scope == frozenset({"atproto", "transition:generic"})
    assert redirect_uri_allowed(meta, "http://127.0.0.1:54321/callback")
    assert not redirect_uri_allowed(meta, "http://127.0.0.1:54321/elsewhere")
    assert not redirect_uri_allowed(meta, "http://localhost:54321/callback")
    assert not redirect_uri_allowed(meta, "http://[::1]:54321/callback")


@pytest.mark.parametrize(
    "client_id",
    [
        "http://localhost?redirect_uri=http%3A%2F%2Flocalhost%2Fcb",
        "http://localhost?redirect_uri=https%3A%2F%2Fapp.example.com%2Fcb",
        "http://localhost?scope=transition%3Ageneric",
        "http://localhost?scope=atproto&scope=atproto",
    ],
)
def test_loopback_client_rejections(client_id: str) -> None:
    with pytest.raises(OAuthError) as info:
        loopback_client(client_id)
    assert info.value.error == "invalid_client"


def test_parse_scope() -> None:
    assert parse_scope(" atproto  transition:generic atproto ") == ("atproto", "transition:generic")
    with pytest.raises(ValueError):
        parse_scope('atproto "quoted"')


# -- client assertions ----------------------------------------------------------------------------


@pytest.fixture
def confidential() -> tuple[Client, DpopKey]:
    key = DpopKey()
    jwk = {**key.public_jwk, "kid": "k1", "alg": "ES256"}
    doc = metadata_doc(CID, token_endpoint_auth_method="private_key_jwt", jwks={"keys": [jwk]})
    meta = validate_client_metadata(doc, CID, allow_http=False)
    return Client(meta, meta.jwks_keys or ()), key


def authenticator(clock: ManualClock) -> ClientAuthenticator:
    return ClientAuthenticator(ISSUER, clock, ReplayCache(), iat_tolerance_s=10, max_age_s=300)


def assertion_form(assertion: str) -> dict[str, str]:
    return {"client_assertion_type": JWT_BEARER_ASSERTION, "client_assertion": assertion}


def test_client_assertion_accepted(confidential: tuple[Client, DpopKey]) -> None:
    client, key = confidential
    clock = ManualClock()
    form = assertion_form(client_assertion(key, CID, ISSUER, iat=clock(), kid="k1"))
    assert authenticator(clock).authenticate(client, form) == "private_key_jwt"


def test_client_assertion_iat_in_future(confidential: tuple[Client, DpopKey]) -> None:
    client, key = confidential
    clock = ManualClock()
    auth = authenticator(clock)
    # Within tolerance is fine; beyond it is the classic clock-skew login failure.
    auth.authenticate(
        client, assertion_form(client_assertion(key, CID, ISSUER, iat=clock() + 8, kid="k1"))
    )
    with pytest.raises(OAuthError) as info:
        auth.authenticate(
            client, assertion_form(client_assertion(key, CID, ISSUER, iat=clock() + 60, kid="k1"))
        )
    assert info.value.error == "invalid_client"
    assert "iat claim timestamp check failed" in info.value.description


@pytest.mark.parametrize(
    ("mutate", "fragment"),
    [
        (lambda c: {**c, "iss": "https://evil.example.com/c.json"}, "iss"),
        (lambda c: {**c, "sub": "someone"}, "iss"),
        (lambda c: {**c, "aud": "https://other-as.example.com"}, "aud"),
        (lambda c: {k: v for k, v in c.items() if k != "jti"}, "jti"),
        (lambda c: {k: v for k, v in c.items() if k != "iat"}, "iat"),
        (lambda c: {**c, "iat": c["iat"] - 3600, "exp": c["iat"] + 60}, "too old"),
        (lambda c: {**c, "exp": c["iat"] - 1}, "expired"),
    ],
)
def test_client_assertion_claim_checks(
    confidential: tuple[Client, DpopKey], mutate: Any, fragment: str
) -> None:
    client, key = confidential
    clock = ManualClock()
    claims = {
        "iss": CID,
        "sub": CID,
        "aud": ISSUER,
        "iat": int(clock()),
        "exp": int(clock()) + 60,
        "jti": "j1",
    }
    token = jwt.encode(mutate(claims), key.private, algorithm="ES256", headers={"kid": "k1"})
    with pytest.raises(OAuthError) as info:
        authenticator(clock).authenticate(client, assertion_form(token))
    assert info.value.error == "invalid_client" and fragment in info.value.description


def test_client_assertion_replay_and_signature(confidential: tuple[Client, DpopKey]) -> None:
    client, key = confidential
    clock = ManualClock()
    auth = authenticator(clock)
    once = client_assertion(key, CID, ISSUER, iat=clock(), kid="k1", jti="once")
    auth.authenticate(client, assertion_form(once))
    with pytest.raises(OAuthError, match="already used"):
        auth.authenticate(client, assertion_form(once))
    forged = client_assertion(DpopKey(), CID, ISSUER, iat=clock(), kid="k1")
    with pytest.raises(OAuthError, match="signature"):
        auth.authenticate(client, assertion_form(forged))
    unknown_kid = client_assertion(key, CID, ISSUER, iat=clock(), kid="k2")
    with pytest.raises(OAuthError, match="no key"):
        auth.authenticate(client, assertion_form(unknown_kid))
    none_alg = unsigned_jws({"alg": "none", "kid": "k1"}, {"iss": CID})
    with pytest.raises(OAuthError, match="alg"):
        auth.authenticate(client, assertion_form(none_alg))


def test_client_authentication_method_must_match(confidential: tuple[Client, DpopKey]) -> None:
    client, _ = confidential
    auth = authenticator(ManualClock())
    with pytest.raises(OAuthError, match="client_assertion_type"):
        auth.authenticate(client, {})
    public = Client(validate_client_metadata(metadata_doc(CID), CID, allow_http=False))
    assert auth.authenticate(public, {}) == "none"
    with pytest.raises(OAuthError, match="public"):
        auth.authenticate(public, assertion_form("a.b.c"))


# -- access tokens --------------------------------------------------------------------------------


def issue(codec: AccessTokenCodec, now: float, **kw: Any) -> str:
    args: dict[str, Any] = {
        "sub": "did:plc:alice",
        "scope": "atproto",
        "client_id": CID,
        "jkt": "thumb",
        "jti": "at-1",
        "now": now,
        "ttl_s": 600,
    }
    args.update(kw)
    return codec.issue(**args)


def test_access_token_shape_and_roundtrip() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    codec = AccessTokenCodec(key, ISSUER, ISSUER)
    token = issue(codec, 1000.0)
    header = jwt.get_unverified_header(token)
    assert header == {"alg": "ES256", "typ": "at+jwt", "kid": codec.kid}
    # Verifiable with nothing but the published JWK.
    published = codec.public_jwk()
    assert published["kid"] == thumbprint(published) and "d" not in published
    claims = jwt.decode(
        token,
        jwt.PyJWK(published).key,
        algorithms=["ES256"],
        audience=ISSUER,
        options={"verify_exp": False, "verify_iat": False},
    )
    assert claims["cnf"] == {"jkt": "thumb"} and claims["exp"] - claims["iat"] == 600
    decoded = codec.decode(token, now=1500.0)
    assert (decoded.sub, decoded.jti, decoded.scope) == ("did:plc:alice", "at-1", "atproto")
    assert codec.is_ours(token) and not codec.is_ours("garbage")


def test_access_token_rejections() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    codec = AccessTokenCodec(key, ISSUER, ISSUER)
    token = issue(codec, 1000.0)
    with pytest.raises(InvalidAccessToken) as info:
        codec.decode(token, now=1600.0)
    assert info.value.expired
    # sub altered: the signature no longer verifies.
    header, _, signature = token.split(".")
    claims = jwt.decode(token, options={"verify_signature": False})
    claims["sub"] = "did:plc:mallory"
    forged = ".".join([header, b64u(json.dumps(claims).encode()), signature])
    with pytest.raises(InvalidAccessToken) as info:
        codec.decode(forged, now=1000.0)
    assert not info.value.expired
    other = AccessTokenCodec(ec.generate_private_key(ec.SECP256R1()), ISSUER, ISSUER)
    with pytest.raises(InvalidAccessToken):
        other.decode(token, now=1000.0)
    foreign_issuer = AccessTokenCodec(key, "https://other.example.com", "https://other.example.com")
    with pytest.raises(InvalidAccessToken):
        codec.decode(issue(foreign_issuer, 1000.0), now=1000.0)


# -- config and metadata --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kw",
    [
        {"access_token_ttl_s": 901},
        {"access_token_ttl_s": 0},
        {"issuer": "http://127.0.0.1:2583/pds"},
        {"issuer": "ftp://127.0.0.1"},
        {"signing_key": ec.generate_private_key(ec.SECP256K1())},
        {"faults": frozenset({"no-such-fault"})},
    ],
)
def test_config_rejects(kw: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        config(**kw)


def test_config_normalises_issuer() -> None:
    assert config(issuer="http://127.0.0.1:2583/").issuer == ISSUER
    assert config().access_token_ttl_s == 600


def test_authorization_server_metadata_profile_fields() -> None:
    doc = authorization_server_metadata(config())
    assert doc["issuer"] == ISSUER
    assert doc["pushed_authorization_request_endpoint"] == ISSUER + "/oauth/par"
    assert doc["require_pushed_authorization_requests"] is True
    assert "ES256" in doc["dpop_signing_alg_values_supported"]
    assert doc["client_id_metadata_document_supported"] is True
    assert doc["authorization_response_iss_parameter_supported"] is True
    assert {"none", "private_key_jwt"} <= set(doc["token_endpoint_auth_methods_supported"])
    assert "atproto" in doc["scopes_supported"]
    assert doc["code_challenge_methods_supported"] == ["S256"]
    assert doc["response_types_supported"] == ["code"]
    assert doc["jwks_uri"] == ISSUER + "/oauth/jwks"
    for alg in doc["token_endpoint_auth_signing_alg_values_supported"]:
        assert alg != "none" and not alg.startswith("HS")


def test_protected_resource_metadata_names_one_server() -> None:
    doc = protected_resource_metadata(config())
    assert doc["resource"] == ISSUER and doc["authorization_servers"] == [ISSUER]


def test_resource_auth_error_challenge() -> None:
    err = ResourceAuthError(
        "use_dpop_nonce", 'needs "nonce"\n', nonce="N1", algs=("ES256",), xrpc_error="AuthRequired"
    )
    assert err.status == 401
    assert (
        err.headers["WWW-Authenticate"]
        == 'DPoP error="use_dpop_nonce", error_description="needs nonce", algs="ES256"'
    )
    assert err.headers["DPoP-Nonce"] == "N1"
    xrpc = err.as_xrpc_error()
    assert (xrpc.status, xrpc.error, xrpc.headers["DPoP-Nonce"]) == (401, "AuthRequired", "N1")
    bare = ResourceAuthError(
        None, "no credentials", nonce="N1", algs=("ES256",), xrpc_error="AuthRequired"
    )
    assert bare.headers["WWW-Authenticate"] == 'DPoP algs="ES256"'


@pytest.mark.parametrize(
    ("client_id", "allow_http", "ok"),
    [
        ("https://app.example.com/client-metadata.json", False, True),
        ("http://127.0.0.1:5000/client-metadata.json", True, True),
        ("http://[::1]:5000/client-metadata.json", True, True),
        ("http://127.0.0.1:5000/client-metadata.json", False, False),
        ("https://user:pw@app.example.com/c.json", False, False),
        ("https://app.example.com/c.json#frag", False, False),
        ("https://exa mple.com/c.json", False, False),
        ("https://-bad-.example/c.json", False, False),
        ("https://xn--/c.json", False, False),
        ("https://%zz/c.json", False, False),
        ("https://app.example.com:99999/c.json", False, False),
        ("javascript:alert(1)", True, False),
    ],
)
def test_client_id_url_rules(client_id: str, allow_http: bool, ok: bool) -> None:
    assert (client_id_url_problem(client_id, allow_http) is None) is ok
