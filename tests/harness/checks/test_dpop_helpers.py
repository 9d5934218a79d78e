"""Pure helpers behind the DPoP probes and checks: WWW-Authenticate parsing, forged tokens,
odd proofs, URL variants."""

from __future__ import annotations

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from fake_resource_server import FakeResourceServer

from conformance.clients.dpop import DpopKey, htu_of, make_dpop_proof
from conformance.scenarios.base import (
    Challenge,
    describe_response,
    dpop_challenge,
    dpop_error,
    parse_www_authenticate,
)
from conformance.scenarios.dpop import (
    _other_origin,
    _other_path,
    _other_scheme,
    decode_jwt_unverified,
    other_did,
    private_jwk,
    proof_alg_none,
    proof_hs256,
    token_alg_none,
    token_signed_by,
    token_with_claims,
)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (
            'DPoP error="use_dpop_nonce", '
            'error_description="Resource server requires nonce in DPoP proof"',
            [
                (
                    "DPoP",
                    {
                        "error": "use_dpop_nonce",
                        "error_description": "Resource server requires nonce in DPoP proof",
                    },
                    None,
                )
            ],
        ),
        (
            'DPoP algs="ES256 ES384" , error = invalid_token',
            [("DPoP", {"algs": "ES256 ES384", "error": "invalid_token"}, None)],
        ),
        ("Bearer", [("Bearer", {}, None)]),
        ("Basic dXNlcjpwYXNz==", [("Basic", {}, "dXNlcjpwYXNz==")]),
        (
            'Newauth realm="apps", type=1, title="Login to \\"apps\\"", Basic realm="simple"',
            [
                ("Newauth", {"realm": "apps", "type": "1", "title": 'Login to "apps"'}, None),
                ("Basic", {"realm": "simple"}, None),
            ],
        ),
        (
            'Bearer realm="x, y", DPoP error="invalid_dpop_proof"',
            [("Bearer", {"realm": "x, y"}, None), ("DPoP", {"error": "invalid_dpop_proof"}, None)],
        ),
        ('DPoP ERROR="invalid_token"', [("DPoP", {"error": "invalid_token"}, None)]),
        ("", []),
        ('DPoP error="unterminated', [("DPoP", {"error": "unterminated"}, None)]),
    ],
)
def test_parse_www_authenticate(
    value: str, expected: list[tuple[str, dict[str, str], str | None]]
) -> None:
    assert parse_www_authenticate(value) == tuple(Challenge(s, p, t) for s, p, t in expected)


def test_dpop_error_reads_all_header_lines() -> None:
    response = httpx.Response(
        401,
        headers=[
            ("WWW-Authenticate", 'Bearer realm="x"'),
            ("WWW-Authenticate", 'dpop error="use_dpop_nonce"'),
        ],
        request=httpx.Request("GET", "http://127.0.0.1/"),
    )
    assert dpop_error(response) == "use_dpop_nonce"
    challenge = dpop_challenge(response)
    assert challenge is not None and challenge.is_scheme("DPoP")
    assert describe_response(response) == (
        '401 (WWW-Authenticate: Bearer, dpop error="use_dpop_nonce"; no content-type)'
    )


def test_token_with_claims_keeps_signature_but_breaks_it() -> None:
    server = FakeResourceServer()
    token = server.issue_token("jkt")
    _, claims = decode_jwt_unverified(token)
    forged = token_with_claims(token, {"sub": other_did(claims["sub"])})
    assert forged.split(".")[2] == token.split(".")[2]
    assert decode_jwt_unverified(forged)[1]["sub"] != claims["sub"]
    key = server.as_key.public_key()
    jwt.decode(token, key, algorithms=["ES256"], options={"verify_aud": False})
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(forged, key, algorithms=["ES256"], options={"verify_aud": False})


def test_token_signed_by_keeps_binding_and_takes_changes() -> None:
    token = FakeResourceServer().issue_token("the-jkt")
    forger = ec.generate_private_key(ec.SECP256R1())
    forged = token_signed_by(token, forger, kid="k1", changes={"iss": "https://elsewhere.invalid"})
    header, claims = decode_jwt_unverified(forged)
    assert header == {"alg": "ES256", "typ": "at+jwt", "kid": "k1"}
    assert claims["cnf"] == {"jkt": "the-jkt"} and claims["iss"] == "https://elsewhere.invalid"
    jwt.decode(forged, forger.public_key(), algorithms=["ES256"], options={"verify_aud": False})


def test_alg_none_builders() -> None:
    token = FakeResourceServer().issue_token("jkt")
    unsigned = token_alg_none(token)
    assert unsigned.endswith(".")
    assert decode_jwt_unverified(unsigned)[0]["alg"] == "none"
    key = DpopKey.generate()
    proof = make_dpop_proof(key, "GET", "http://127.0.0.1/x", nonce="n")
    none_proof = proof_alg_none(proof)
    header, claims = decode_jwt_unverified(none_proof)
    assert header["alg"] == "none" and header["jwk"] == key.public_jwk and claims["nonce"] == "n"


def test_hs256_proof_and_private_jwk() -> None:
    key = DpopKey.generate()
    proof = proof_hs256(make_dpop_proof(key, "GET", "http://127.0.0.1/x"), b"k" * 32)
    header, _ = decode_jwt_unverified(proof)
    assert (
        header["alg"] == "HS256" and header["typ"] == "dpop+jwt" and header["jwk"] == key.public_jwk
    )
    jwk = private_jwk(key)
    assert set(jwk) == {"kty", "crv", "x", "y", "d"}
    assert jwt.PyJWK(jwk, algorithm="ES256").key.private_numbers().private_value == (
        key.private_key.private_numbers().private_value
    )


def test_url_variants_for_htu() -> None:
    url = "http://127.0.0.1:2583/xrpc/com.example.x?limit=5"
    assert htu_of(url) == "http://127.0.0.1:2583/xrpc/com.example.x"
    assert _other_origin(url) == "http://127.0.0.1:2584/xrpc/com.example.x"
    assert _other_path(url) == "http://127.0.0.1:2583/xrpc/com.example.xOther"
    assert _other_scheme(url) == "https://127.0.0.1:2583/xrpc/com.example.x"
    assert (
        _other_origin("https://pds.example.com/xrpc/a.b.c")
        == "https://pds.example.com:444/xrpc/a.b.c"
    )


def test_other_did_differs() -> None:
    did = "did:plc:abcdefghijklmnopqrstuvwx"
    other = other_did(did)
    assert other != did and other.startswith("did:plc:") and len(other) == len(did)
