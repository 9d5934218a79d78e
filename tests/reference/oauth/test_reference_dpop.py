"""The shared DPoP verifier: one test per rule, nonce rotation and grace, replay."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import jwt
import pytest
from reference_oauth_support import DpopKey, ManualClock, b64u, thumbprint, unsigned_jws

from reference_impl.common.dpop import (
    DpopError,
    DpopVerifier,
    NonceSource,
    ReplayCache,
    access_token_hash,
    jwk_thumbprint,
    normalize_htu,
)

URL = "https://pds.example.com/xrpc/com.atproto.repo.createRecord"
SECRET = b"0123456789abcdef0123456789abcdef"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def nonces(clock: ManualClock) -> NonceSource:
    return NonceSource(SECRET, clock, rotation_s=180)


@pytest.fixture
def verifier(nonces: NonceSource, clock: ManualClock) -> DpopVerifier:
    return DpopVerifier(nonces, ReplayCache(), clock)


@pytest.fixture(scope="module")
def key() -> DpopKey:
    return DpopKey()


def good(key: DpopKey, clock: ManualClock, nonces: NonceSource, **kw: Any) -> str:
    kw.setdefault("nonce", nonces.current())
    kw.setdefault("iat", clock())
    return key.proof("POST", URL, **kw)


def rejected(
    verifier: DpopVerifier, values: list[str], token: str | None = None, **kw: Any
) -> DpopError:
    with pytest.raises(DpopError) as info:
        verifier.verify(values, kw.get("method", "POST"), kw.get("url", URL), token)
    return info.value


# -- RFC 7638 thumbprint -------------------------------------------------------------------------


def test_thumbprint_matches_rfc7638_section_3_1_example() -> None:
    jwk = {
        "kty": "RSA",
        "n": (
            "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSo"
            "c_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQ"
            "R0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFT"
            "WhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
        ),
        "e": "AQAB",
        "alg": "RS256",
        "kid": "2011-04-29",
    }
    assert jwk_thumbprint(jwk) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


def test_thumbprint_ignores_optional_members_of_ec_keys(key: DpopKey) -> None:
    jwk = {**key.public_jwk, "kid": "k1", "use": "sig", "alg": "ES256"}
    assert jwk_thumbprint(jwk) == thumbprint(key.public_jwk)


def test_access_token_hash_is_base64url_sha256() -> None:
    assert access_token_hash("tok") == b64u(hashlib.sha256(b"tok").digest())


# -- htu normalisation ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("https://Example.COM:443/p", "https://example.com/p"),
        ("http://example.com:80/p", "http://example.com/p"),
        ("HTTPS://example.com/p?q=1#frag", "https://example.com/p"),
        ("http://127.0.0.1:2583", "http://127.0.0.1:2583/"),
        ("http://[::1]:8080/x", "http://[::1]:8080/x"),
    ],
)
def test_htu_normalisation_equal(a: str, b: str) -> None:
    assert normalize_htu(a) == normalize_htu(b)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("https://example.com/p", "http://example.com/p"),
        ("https://example.com:8443/p", "https://example.com/p"),
        ("https://example.com/p", "https://example.com/P"),
        ("https://example.com/p", "https://other.example.com/p"),
    ],
)
def test_htu_normalisation_different(a: str, b: str) -> None:
    assert normalize_htu(a) != normalize_htu(b)


@pytest.mark.parametrize(
    "bad", ["ftp://example.com/", "/relative", "https:///nohost", "http://h:99999/"]
)
def test_htu_normalisation_rejects_non_http_urls(bad: str) -> None:
    with pytest.raises(ValueError):
        normalize_htu(bad)


# -- accepting -----------------------------------------------------------------------------------


def test_accepts_a_good_proof(
    verifier: DpopVerifier, key: DpopKey, clock: ManualClock, nonces: NonceSource
) -> None:
    proof = good(key, clock, nonces, jti="jti-1")
    result = verifier.verify([proof], "POST", URL, None)
    assert result.jkt == thumbprint(key.public_jwk)
    assert result.jti == "jti-1"
    assert result.nonce == nonces.current()
    assert result.iat == int(clock())


@pytest.mark.parametrize("alg", ["ES256K", "ES384", "PS256", "RS256"])
def test_accepts_other_asymmetric_algorithms(
    alg: str, verifier: DpopVerifier, clock: ManualClock, nonces: NonceSource
) -> None:
    other = DpopKey(alg=alg)
    assert verifier.verify([good(other, clock, nonces)], "POST", URL, None).jkt == other.jkt


def test_accepts_query_and_default_port_differences(
    verifier: DpopVerifier, key: DpopKey, clock: ManualClock, nonces: NonceSource
) -> None:
    proof = key.proof(
        "GET", "https://PDS.example.com:443/xrpc/x", nonce=nonces.current(), iat=clock()
    )
    verifier.verify([proof], "GET", "https://pds.example.com/xrpc/x?limit=5", None)


def test_accepts_matching_ath(
    verifier: DpopVerifier, key: DpopKey, clock: ManualClock, nonces: NonceSource
) -> None:
    proof = good(key, clock, nonces, access_token="the-token")
    verifier.verify([proof], "POST", URL, "the-token")


@pytest.mark.parametrize("skew", [-5, 5])
def test_accepts_ordinary_clock_skew(
    skew: int, verifier: DpopVerifier, key: DpopKey, clock: ManualClock, nonces: NonceSource
) -> None:
    # CLOCK-02: 5 s either way is ordinary skew.
    verifier.verify([good(key, clock, nonces, iat=clock() + skew)], "POST", URL, None)


def test_nonce_optional_when_not_required(
    nonces: NonceSource, clock: ManualClock, key: DpopKey
) -> None:
    lenient = DpopVerifier(nonces, ReplayCache(), clock, require_nonce=False)
    result = lenient.verify([key.proof("POST", URL, iat=clock())], "POST", URL, None)
    assert result.nonce is None


# -- DPOP-01: header count and parsing ------------------------------------------------------------


def test_rejects_missing_header(verifier: DpopVerifier) -> None:
    assert rejected(verifier, []).error == "invalid_dpop_proof"


def test_rejects_two_headers(
    verifier: DpopVerifier, key: DpopKey, clock: ManualClock, nonces: NonceSource
) -> None:
    proofs = [good(key, clock, nonces), good(key, clock, nonces)]
    assert rejected(verifier, proofs).error == "invalid_dpop_proof"


@pytest.mark.parametrize(
    "junk", ["", "not-a-jwt", "a.b", "a.b.c", "....", "x" * 10000, "e30.e30.e30"]
)
def test_rejects_unparsable_proofs(verifier: DpopVerifier, junk: str) -> None:
    assert rejected(verifier, [junk]).error == "invalid_dpop_proof"


# -- DPOP-08: typ, alg, jwk -----------------------------------------------------------------------


@pytest.mark.parametrize("typ", [None, "jwt", "JWT", "at+jwt"])
def test_rejects_wrong_typ(
    typ: str | None, verifier: DpopVerifier, key: DpopKey, clock: ManualClock, nonces: NonceSource
) -> None:
    proof = good(key, clock, nonces, header={"typ": typ})
    assert "typ" in rejected(verifier, [proof]).description


def test_rejects_alg_none(
    verifier: DpopVerifier, key: DpopKey, clock: ManualClock, nonces: NonceSource
) -> None:
    header = {"typ": "dpop+jwt", "alg": "none", "jwk": key.public_jwk}
    claims = {"htm": "POST", "htu": URL, "iat": int(clock()), "jti": "x", "nonce": nonces.current()}
    err = rejected(verifier, [unsigned_jws(header, claims)])
    assert err.error == "invalid_dpop_proof" and "alg" in err.description


def test_rejects_hmac(
    verifier: DpopVerifier, key: DpopKey, clock: ManualClock, nonces: NonceSource
) -> None:
    claims = {"htm": "POST", "htu": URL, "iat": int(clock()), "jti": "x", "nonce": nonces.current()}
    proof = jwt.encode(
        claims, "s" * 32, algorithm="HS256", headers={"typ": "dpop+jwt", "jwk": key.public_jwk}
    )
    assert "alg" in rejected(verifier, [proof]).description


def test_rejects_private_jwk(
    verifier: DpopVerifier, key: DpopKey, clock: ManualClock, nonces: NonceSource
) -> None:
    proof = good(key, clock, nonces, header={"jwk": key.private_jwk})
    assert "public" in rejected(verifier, [proof]).description


def test_rejects_missing_jwk(
    verifier: DpopVerifier, key: DpopKey, clock: ManualClock, nonces: NonceSource
) -> None:
    proof = good(key, clock, nonces, header={"jwk": None})
    assert rejected(verifier, [proof]).error == "invalid_dpop_proof"


def test_rejects_jwk_of_the_wrong_curve(
    verifier: DpopVerifier, clock: ManualClock, nonces: NonceSource
) -> None:
    es256 = DpopKey()
    p384 = DpopKey(alg="ES384")
    # Signed correctly with ES256, but the header claims a P-384 key.
    proof = good(es256, clock, nonces, header={"jwk": p384.public_jwk})
    assert rejected(verifier, [proof]).error == "invalid_dpop_proof"


def test_rejects_signature_by_another_key(
    verifier: DpopVerifier, key: DpopKey, clock: ManualClock, nonces: NonceSource
) -> None:
    other = DpopKey()
    proof = good(other, clock, nonces, header={"jwk": key.public_jwk})
    assert "signature" in rejected(verifier, [proof]).description


def test_rejects_tampered_payload(
    verifier: DpopVerifier, key: DpopKey, clock: ManualClock, nonces: NonceSource
) -> None:
    header, _, signature = good(key, clock, nonces).split(".")
    forged_claims = {
        "htm": "POST",
        "htu": URL,
        "iat": int(clock()),
        "jti": "y",
        "nonce": nonces.current(),
    }
    forged = ".".join([header, b64u(json.dumps(forged_claims).encode()), signature])
    assert "signature" in rejected(verifier, [forged]).description


# -- DPOP-03: htm / htu ---------------------------------------------------------------------------


def test_rejects_wrong_method(
    verifier: DpopVerifier, key: DpopKey, clock: ManualClock, nonces: NonceSource
) -> None:
    assert "htm" in rejected(verifier, [good(key, clock, nonces)], method="GET").description


@pytest.mark.parametrize(
    "url",
    [
        "https://pds.example.com/xrpc/com.atproto.repo.deleteRecord",
        "https://evil.example.com/xrpc/com.atproto.repo.createRecord",
        "http://pds.example.com/xrpc/com.atproto.repo.createRecord",
        "https://pds.example.com:8443/xrpc/com.atproto.repo.createRecord",
    ],
)
def test_rejects_wrong_url(
    url: str, verifier: DpopVerifier, key: DpopKey, clock: ManualClock, nonces: NonceSource
) -> None:
    assert "htu" in rejected(verifier, [good(key, clock, nonces)], url=url).description


def test_rejects_missing_htu(
    verifier: DpopVerifier, key: DpopKey, clock: ManualClock, nonces: NonceSource
) -> None:
    assert "htu" in rejected(verifier, [good(key, clock, nonces, drop=("htu",))]).description


# -- DPOP-04 / CLOCK-02: iat window ---------------------------------------------------------------


@pytest.mark.parametrize("offset", [11, 300, -61, -300])
def test_rejects_iat_outside_window(
    offset: int, verifier: DpopVerifier, key: DpopKey, clock: ManualClock, nonces: NonceSource
) -> None:
    proof = good(key, clock, nonces, iat=clock() + offset)
    err = rejected(verifier, [proof])
    assert err.error == "invalid_dpop_proof"
    assert ("future" if offset > 0 else "too old") in err.description


@pytest.mark.parametrize("iat", ["now", None, True])
def test_rejects_non_numeric_iat(
    iat: Any, verifier: DpopVerifier, key: DpopKey, clock: ManualClock, nonces: NonceSource
) -> None:
    proof = good(key, clock, nonces, claims={"iat": iat})
    assert "iat" in rejected(verifier, [proof]).description


# -- DPOP-05: jti and replay ----------------------------------------------------------------------


def test_rejects_missing_jti(
    verifier: DpopVerifier, key: DpopKey, clock: ManualClock, nonces: NonceSource
) -> None:
    assert "jti" in rejected(verifier, [good(key, clock, nonces, drop=("jti",))]).description


def test_rejects_replayed_proof(
    verifier: DpopVerifier, key: DpopKey, clock: ManualClock, nonces: NonceSource
) -> None:
    proof = good(key, clock, nonces)
    verifier.verify([proof], "POST", URL, None)
    clock.now += 5
    err = rejected(verifier, [proof])
    assert err.error == "invalid_dpop_proof" and "already used" in err.description


def test_replayed_jti_in_a_new_proof_is_rejected(
    verifier: DpopVerifier, key: DpopKey, clock: ManualClock, nonces: NonceSource
) -> None:
    verifier.verify([good(key, clock, nonces, jti="same")], "POST", URL, None)
    clock.now += 1
    assert "already used" in rejected(verifier, [good(key, clock, nonces, jti="same")]).description


def test_same_jti_from_another_key_is_not_a_replay(
    verifier: DpopVerifier, key: DpopKey, clock: ManualClock, nonces: NonceSource
) -> None:
    verifier.verify([good(key, clock, nonces, jti="shared")], "POST", URL, None)
    verifier.verify([good(DpopKey(), clock, nonces, jti="shared")], "POST", URL, None)


# -- DPOP-06: ath ---------------------------------------------------------------------------------


def test_rejects_missing_ath_when_token_presented(
    verifier: DpopVerifier, key: DpopKey, clock: ManualClock, nonces: NonceSource
) -> None:
    assert "ath" in rejected(verifier, [good(key, clock, nonces)], token="tok").description


def test_rejects_wrong_ath(
    verifier: DpopVerifier, key: DpopKey, clock: ManualClock, nonces: NonceSource
) -> None:
    proof = good(key, clock, nonces, access_token="another-token")
    assert "ath" in rejected(verifier, [proof], token="tok").description


# -- DPOP-02: nonces ------------------------------------------------------------------------------


def test_missing_nonce_is_use_dpop_nonce(
    verifier: DpopVerifier, key: DpopKey, clock: ManualClock
) -> None:
    assert rejected(verifier, [key.proof("POST", URL, iat=clock())]).error == "use_dpop_nonce"


def test_unknown_nonce_is_use_dpop_nonce(
    verifier: DpopVerifier, key: DpopKey, clock: ManualClock, nonces: NonceSource
) -> None:
    assert rejected(verifier, [good(key, clock, nonces, nonce="made-up")]).error == "use_dpop_nonce"


def test_non_string_nonce_is_invalid(
    verifier: DpopVerifier, key: DpopKey, clock: ManualClock, nonces: NonceSource
) -> None:
    assert (
        rejected(verifier, [good(key, clock, nonces, nonce=None, claims={"nonce": 5})]).error
        == "invalid_dpop_proof"
    )


def test_missing_nonce_on_a_badly_signed_proof_is_invalid_not_use_nonce(
    verifier: DpopVerifier, key: DpopKey, clock: ManualClock
) -> None:
    # Order: a proof must be well formed and signed before the server asks for a nonce.
    forged = DpopKey().proof("POST", URL, iat=clock(), header={"jwk": key.public_jwk})
    assert rejected(verifier, [forged]).error == "invalid_dpop_proof"
    wrong_method = key.proof("GET", URL, iat=clock())
    assert rejected(verifier, [wrong_method]).error == "invalid_dpop_proof"


def test_proof_refused_for_its_nonce_does_not_burn_its_jti(
    verifier: DpopVerifier, key: DpopKey, clock: ManualClock, nonces: NonceSource
) -> None:
    assert (
        rejected(verifier, [key.proof("POST", URL, iat=clock(), jti="j")]).error == "use_dpop_nonce"
    )
    verifier.verify([good(key, clock, nonces, jti="j")], "POST", URL, None)


def test_nonce_stable_within_bucket_and_rotates(nonces: NonceSource, clock: ManualClock) -> None:
    clock.now = 180 * 10_000_000  # start of a bucket
    first = nonces.current()
    clock.now += 179
    assert nonces.current() == first
    clock.now += 1
    assert nonces.current() != first


def test_previous_nonce_stays_valid_for_one_rotation(
    nonces: NonceSource, clock: ManualClock
) -> None:
    clock.now = 180 * 10_000_000 + 170
    issued = nonces.current()
    clock.now += 20  # next bucket: grace period
    assert nonces.current() != issued
    assert nonces.is_acceptable(issued)
    clock.now += 180  # two buckets later: stale
    assert not nonces.is_acceptable(issued)


def test_grace_nonce_is_accepted_by_verifier(
    verifier: DpopVerifier, key: DpopKey, clock: ManualClock, nonces: NonceSource
) -> None:
    old = nonces.current()
    clock.now += 180
    verifier.verify([good(key, clock, nonces, nonce=old)], "POST", URL, None)
    clock.now += 180
    assert rejected(verifier, [good(key, clock, nonces, nonce=old)]).error == "use_dpop_nonce"


def test_nonces_depend_on_the_secret(clock: ManualClock) -> None:
    a = NonceSource(SECRET, clock)
    b = NonceSource(b"another secret of 32 bytes......", clock)
    assert a.current() != b.current()
    assert not b.is_acceptable(a.current())


@pytest.mark.parametrize(("secret", "rotation"), [(SECRET, 301), (SECRET, 0), (b"short", 180)])
def test_nonce_source_rejects_bad_settings(
    secret: bytes, rotation: int, clock: ManualClock
) -> None:
    with pytest.raises(ValueError):
        NonceSource(secret, clock, rotation_s=rotation)


# -- replay cache --------------------------------------------------------------------------------


def test_replay_cache_remembers_until_expiry() -> None:
    cache = ReplayCache()
    assert cache.add("k", expires_at=100, now=0)
    assert not cache.add("k", expires_at=100, now=50)
    assert cache.add("k", expires_at=200, now=100)  # expired, so new again


def test_replay_cache_is_bounded() -> None:
    cache = ReplayCache(max_entries=3)
    for i in range(10):
        assert cache.add(f"k{i}", expires_at=1000 + i, now=0)
    assert len(cache) == 3
    # The newest keys are kept; the soonest-expiring were evicted.
    assert not cache.add("k9", expires_at=2000, now=0)
    assert cache.add("k0", expires_at=2000, now=0)
