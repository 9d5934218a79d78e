from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import jwt
import pytest

from reference_impl.primitives.keys import (
    KeyFormatError,
    b58decode,
    b58encode,
    generate_signing_key,
    load_signing_key,
    parse_did_key,
    parse_multikey,
    verify_signature,
)

_ORDER = {
    "secp256k1": 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141,
    "p256": 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551,
}


def _b64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4))


def test_signature_fixtures(interop_json: Callable[[str], Any]) -> None:
    cases = interop_json("crypto/signature-fixtures.json")
    assert cases
    for case in cases:
        message = _b64(case["messageBase64"])
        sig = _b64(case["signatureBase64"])
        result = verify_signature(case["publicKeyDid"], message, sig)
        assert result is case["validSignature"], case["comment"]
        # The same key given as a Multikey publicKeyMultibase verifies identically.
        multikey = case["publicKeyDid"].removeprefix("did:key:")
        assert verify_signature(multikey, message, sig) is case["validSignature"]


def test_signature_fixtures_cover_high_s_and_der(interop_json: Callable[[str], Any]) -> None:
    tags = {tag for case in interop_json("crypto/signature-fixtures.json") for tag in case["tags"]}
    assert {"high-s", "der-encoded"} <= tags


@pytest.mark.parametrize(
    ("curve", "file"), [("secp256k1", "w3c_didkey_K256.json"), ("p256", "w3c_didkey_P256.json")]
)
def test_w3c_did_key_vectors(interop_json: Callable[[str], Any], curve: str, file: str) -> None:
    cases = interop_json(f"crypto/{file}")
    assert cases
    for case in cases:
        if "privateKeyBytesHex" in case:
            raw = bytes.fromhex(case["privateKeyBytesHex"])
        else:
            raw = b58decode(case["privateKeyBytesBase58"])
        key = load_signing_key(curve, raw)  # type: ignore[arg-type]
        assert key.did_key == case["publicDidKey"]
        assert key.private_bytes() == raw
        assert parse_did_key(case["publicDidKey"]).curve == curve


@pytest.mark.parametrize("curve", ["secp256k1", "p256"])
def test_sign_verify_round_trip_is_low_s(curve: str) -> None:
    key = generate_signing_key(curve)  # type: ignore[arg-type]
    for i in range(40):
        data = b"message %d" % i
        sig = key.sign(data)
        assert len(sig) == 64
        assert int.from_bytes(sig[32:], "big") <= _ORDER[curve] // 2
        assert verify_signature(key.did_key, data, sig)
        assert verify_signature(key.multikey, data, sig)
        assert not verify_signature(key.did_key, data + b"!", sig)


@pytest.mark.parametrize("curve", ["secp256k1", "p256"])
def test_high_s_twin_of_a_valid_signature_is_rejected(curve: str) -> None:
    key = generate_signing_key(curve)  # type: ignore[arg-type]
    sig = key.sign(b"data")
    s = int.from_bytes(sig[32:], "big")
    high = sig[:32] + (_ORDER[curve] - s).to_bytes(32, "big")
    assert verify_signature(key.did_key, b"data", sig)
    assert not verify_signature(key.did_key, b"data", high)


@pytest.mark.parametrize(
    ("did_key", "sig"),
    [
        ("did:key:zQ3shqwJEJyMBsBXCWyCBpUBMqxcon9oHB7mCvx4sSpMdLJwc", b""),
        ("did:key:zQ3shqwJEJyMBsBXCWyCBpUBMqxcon9oHB7mCvx4sSpMdLJwc", b"\x00" * 64),
        ("did:key:zQ3shqwJEJyMBsBXCWyCBpUBMqxcon9oHB7mCvx4sSpMdLJwc", b"\xff" * 64),
        ("did:key:zQ3shqwJEJyMBsBXCWyCBpUBMqxcon9oHB7mCvx4sSpMdLJwc", b"\x01" * 65),
        ("did:key:z0OIl", b"\x01" * 64),
        ("did:web:example.com", b"\x01" * 64),
        ("", b"\x01" * 64),
        ("zQ3sh", b"\x01" * 64),
    ],
)
def test_verify_never_raises_on_garbage(did_key: str, sig: bytes) -> None:
    assert verify_signature(did_key, b"data", sig) is False


def test_verify_never_raises_on_wrong_types() -> None:
    key = generate_signing_key("secp256k1")
    sig = key.sign(b"data")
    assert verify_signature(None, b"data", sig) is False  # type: ignore[arg-type]
    assert verify_signature(key.did_key, b"data", None) is False  # type: ignore[arg-type]
    assert verify_signature("z" + "2" * 5000, b"data", sig) is False


def test_key_formats() -> None:
    k = generate_signing_key("secp256k1")
    p = generate_signing_key("p256")
    assert k.did_key.startswith("did:key:zQ3s")
    assert p.did_key.startswith("did:key:zDn")
    assert k.multikey == k.did_key.removeprefix("did:key:")
    assert b58decode(k.multikey[1:])[:2] == b"\xe7\x01"
    assert b58decode(p.multikey[1:])[:2] == b"\x80\x24"
    assert len(b58decode(p.multikey[1:])) == 2 + 33
    assert (k.jwt_alg, p.jwt_alg) == ("ES256K", "ES256")
    assert k.public_jwk()["crv"] == "secp256k1"
    assert p.public_jwk()["crv"] == "P-256"
    assert parse_multikey(p.multikey).curve == "p256"
    # repr names the public identity and never the private scalar.
    assert k.did_key in repr(k)
    assert k.private_bytes().hex() not in repr(k)
    assert str(k.cryptography_private_key.private_numbers().private_value) not in repr(k)


def test_reload_from_private_bytes_gives_same_identity() -> None:
    key = generate_signing_key("p256")
    again = load_signing_key("p256", key.private_bytes())
    assert again.did_key == key.did_key
    assert verify_signature(key.did_key, b"x", again.sign(b"x"))


@pytest.mark.parametrize("raw", [b"", b"\x00" * 32, b"\xff" * 32, b"\x01" * 31])
def test_load_rejects_bad_private_bytes(raw: bytes) -> None:
    with pytest.raises(KeyFormatError):
        load_signing_key("secp256k1", raw)


def test_parse_did_key_rejects_unknown_codec() -> None:
    # ed25519-pub multicodec (0xed 0x01) is valid did:key but not an ATProto signing key.
    ed = "did:key:z" + b58encode(b"\xed\x01" + b"\x11" * 32)
    with pytest.raises(KeyFormatError):
        parse_did_key(ed)


def test_base58_leading_zeros() -> None:
    for data in [b"", b"\x00", b"\x00\x00\x01", b"\x01\x00", bytes(range(40))]:
        assert b58decode(b58encode(data)) == data


@pytest.mark.parametrize("curve", ["secp256k1", "p256"])
def test_jwt_signing_with_cryptography_key(curve: str) -> None:
    key = generate_signing_key(curve)  # type: ignore[arg-type]
    token = jwt.encode({"sub": "x"}, key.cryptography_private_key, algorithm=key.jwt_alg)
    public = jwt.PyJWK(key.public_jwk(), algorithm=key.jwt_alg).key
    assert jwt.decode(token, public, algorithms=[key.jwt_alg]) == {"sub": "x"}
