"""Pure pieces of the Hold: settings, byte ranges, access policy, service-auth claim rules."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from reference_impl.atcr.hold.config import ConfigError, HoldConfig
from reference_impl.atcr.hold.hold_repo import Captain
from reference_impl.atcr.hold.policy import may_read, may_write
from reference_impl.atcr.hold.ranges import ByteRange, RangeNotSatisfiable, parse_range
from reference_impl.atcr.hold.service_auth import (
    TokenRejected,
    atproto_key,
    check_claims,
    check_signature,
    parse_token,
)
from reference_impl.common.jwt_keys import sign_jwt
from reference_impl.primitives.keys import Curve, generate_signing_key


def config(env: dict[str, str]) -> HoldConfig:
    return HoldConfig.from_env(env, public_url="http://127.0.0.1:8080", data_dir=Path("/tmp/x"))


def test_config_defaults_and_errors() -> None:
    c = config({})
    assert c.did == "did:web:127.0.0.1%3A8080" and c.owner == c.did
    assert c.public and not c.allow_all_crew and c.storage == "filesystem"
    assert c.part_size == 16 * 1024 * 1024 and c.plc_url == "http://127.0.0.1:2583"
    assert config({"HOLD_CREW": "did:plc:a, did:plc:a ,did:plc:b"}).crew == (
        "did:plc:a",
        "did:plc:b",
    )
    s3 = config({"HOLD_STORAGE": "s3", "S3_BUCKET": "b", "AWS_SECRET_ACCESS_KEY": "sekrit"})
    assert s3.s3 is not None and "sekrit" not in repr(s3)
    for env in (
        {"HOLD_PUBLIC": "maybe"},
        {"HOLD_CREW": "bob"},
        {"HOLD_STORAGE": "s3"},
        {"HOLD_PART_SIZE": "0"},
        {"HOLD_PLC_URL": "ftp://x"},
        {"HOLD_OWNER": "x"},
    ):
        with pytest.raises(ConfigError):
            config(env)


def test_ranges() -> None:
    assert parse_range(None, 10) is None
    assert parse_range("bytes=0-0", 10) == ByteRange(0, 1)
    assert parse_range("bytes=2-", 10) == ByteRange(2, 10)
    assert parse_range("bytes=-3", 10) == ByteRange(7, 10)
    assert parse_range("bytes=-30", 10) == ByteRange(0, 10)
    assert parse_range("bytes=5-100", 10) == ByteRange(5, 10)
    assert parse_range("bytes=5-2", 10) is None
    assert parse_range("bytes=0-1,4-5", 10) is None
    assert parse_range("items=0-1", 10) is None
    for bad in ("bytes=10-", "bytes=-0", "bytes=11-20"):
        with pytest.raises(RangeNotSatisfiable):
            parse_range(bad, 10)
    with pytest.raises(RangeNotSatisfiable):
        parse_range("bytes=0-", 0)
    assert ByteRange(5, 10).content_range(10) == "bytes 5-9/10"


def test_policy() -> None:
    closed = Captain("did:plc:owner", public=False, allow_all_crew=False)
    assert may_write("did:plc:owner", closed, frozenset())
    assert may_write("did:plc:w", closed, frozenset({"blob:write"}))
    assert not may_write("did:plc:r", closed, frozenset({"blob:read"}))
    assert may_read("did:plc:r", closed, frozenset({"blob:read"}))
    assert not may_read(None, closed, frozenset())
    assert not may_read("did:plc:x", closed, frozenset())
    open_ = Captain("did:plc:owner", public=True, allow_all_crew=True)
    assert may_write("did:plc:x", open_, frozenset()) and may_read(None, open_, frozenset())


def test_claims_and_signature() -> None:
    now = time.time()
    base = {"iss": "did:plc:a", "aud": "did:web:h", "iat": int(now), "exp": int(now) + 60}
    check_claims(base, audience="did:web:h", method="m", now=now)
    check_claims({**base, "lxm": "m"}, audience="did:web:h", method="m", now=now)
    check_claims({**base, "iat": int(now) + 59}, audience="did:web:h", method="m", now=now)
    for bad in (
        {"aud": "did:web:x"},
        {"exp": int(now) - 1},
        {"exp": None},
        {"lxm": "other"},
        {"iat": int(now) + 120},
        {"exp": "soon"},
    ):
        with pytest.raises(TokenRejected):
            check_claims({**base, **bad}, audience="did:web:h", method="m", now=now)

    curves: tuple[Curve, ...] = ("secp256k1", "p256")
    for curve in curves:
        key = generate_signing_key(curve)
        token = parse_token(sign_jwt(base, key))
        check_signature(token, key.multikey)
        with pytest.raises(TokenRejected):
            check_signature(token, generate_signing_key(curve).multikey)
    k = generate_signing_key("secp256k1")
    mixed = parse_token(sign_jwt(base, k, {"alg": "ES256"}))
    with pytest.raises(TokenRejected):
        check_signature(mixed, k.multikey)  # header alg does not match the key's curve
    for junk in ("", "a.b", "a.b.c", "e30.e30.", "!!.!!.!!"):
        with pytest.raises(TokenRejected):
            parse_token(junk)
    doc = {
        "id": "did:plc:a",
        "verificationMethod": [
            {"id": "did:plc:a#atproto", "type": "Multikey", "publicKeyMultibase": k.multikey}
        ],
    }
    assert atproto_key(doc, "did:plc:a") == k.multikey
    assert atproto_key(doc, "did:plc:b") is None
    assert atproto_key({"id": "did:plc:a"}, "did:plc:a") is None
