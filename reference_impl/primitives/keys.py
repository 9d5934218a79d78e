"""Signing keys for repositories and tokens: secp256k1 ("k256") and NIST P-256.

ATProto signatures are ECDSA over SHA-256, serialised as 64 bytes ``r || s`` with ``s`` in the
lower half of the group order ("low-S"). Public keys travel as ``did:key`` strings or as the
``publicKeyMultibase`` of a ``Multikey`` verification method: base58btc (``z``) over a multicodec
prefix and the 33-byte compressed point.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Literal, NamedTuple, get_args

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

Curve = Literal["secp256k1", "p256"]

DID_KEY_PREFIX = "did:key:"

_MULTICODEC_PREFIX: dict[Curve, bytes] = {
    "secp256k1": b"\xe7\x01",
    "p256": b"\x80\x24",
}
_JWT_ALG: dict[Curve, str] = {"secp256k1": "ES256K", "p256": "ES256"}
_JWK_CRV: dict[Curve, str] = {"secp256k1": "secp256k1", "p256": "P-256"}
# Group orders, needed for the low-S rule (cryptography does not expose them).
_ORDER: dict[Curve, int] = {
    "secp256k1": 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141,
    "p256": 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551,
}

_B58_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_B58_INDEX = {ch: i for i, ch in enumerate(_B58_ALPHABET)}


class KeyFormatError(ValueError):
    """A did:key / multikey string or raw key material could not be parsed."""


class ParsedKey(NamedTuple):
    curve: Curve
    public_key: ec.EllipticCurvePublicKey


def _ec_curve(curve: Curve) -> ec.EllipticCurve:
    if curve == "secp256k1":
        return ec.SECP256K1()
    if curve == "p256":
        return ec.SECP256R1()
    raise KeyFormatError(f"unsupported curve {curve!r}; expected one of {get_args(Curve)}")


def b58encode(data: bytes) -> str:
    n = int.from_bytes(data, "big")
    out = []
    while n:
        n, rem = divmod(n, 58)
        out.append(_B58_ALPHABET[rem])
    # Leading zero bytes are not represented by the integer, base58 keeps them as '1's.
    pad = len(data) - len(data.lstrip(b"\x00"))
    return "1" * pad + "".join(reversed(out))


def b58decode(text: str) -> bytes:
    n = 0
    for ch in text:
        try:
            n = n * 58 + _B58_INDEX[ch]
        except KeyError:
            raise KeyFormatError(f"invalid base58btc character {ch!r}") from None
    body = n.to_bytes((n.bit_length() + 7) // 8, "big") if n else b""
    pad = len(text) - len(text.lstrip("1"))
    return b"\x00" * pad + body


def _compressed(public_key: ec.EllipticCurvePublicKey) -> bytes:
    return public_key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.CompressedPoint
    )


def multikey_for(curve: Curve, public_key: ec.EllipticCurvePublicKey) -> str:
    """``publicKeyMultibase`` of a ``Multikey`` verification method."""
    return "z" + b58encode(_MULTICODEC_PREFIX[curve] + _compressed(public_key))


def did_key_for(curve: Curve, public_key: ec.EllipticCurvePublicKey) -> str:
    return DID_KEY_PREFIX + multikey_for(curve, public_key)


def parse_multikey(multikey: str) -> ParsedKey:
    """Parse a Multikey ``publicKeyMultibase`` (``z`` + base58btc(multicodec || point))."""
    # A compressed key is ~48 characters; the bound keeps hostile input from costing much.
    if (
        not isinstance(multikey, str)
        or not multikey.startswith("z")
        or not 2 <= len(multikey) <= 128
    ):
        raise KeyFormatError("multikey must be a short base58btc multibase string ('z...')")
    raw = b58decode(multikey[1:])
    for curve, prefix in _MULTICODEC_PREFIX.items():
        if raw.startswith(prefix):
            point = raw[len(prefix) :]
            if len(point) != 33 or point[0] not in (2, 3):
                raise KeyFormatError("multikey must hold a 33-byte compressed EC point")
            try:
                public_key = ec.EllipticCurvePublicKey.from_encoded_point(_ec_curve(curve), point)
            except ValueError as exc:
                raise KeyFormatError(f"multikey point is not on {curve}: {exc}") from None
            return ParsedKey(curve, public_key)
    raise KeyFormatError("multikey has an unsupported multicodec (need secp256k1-pub or p256-pub)")


def parse_did_key(did_key: str) -> ParsedKey:
    """``did:key:z...`` -> (curve, public key). Raises KeyFormatError."""
    if not isinstance(did_key, str) or not did_key.startswith(DID_KEY_PREFIX):
        raise KeyFormatError(f"not a did:key: {str(did_key)[:40]!r}")
    return parse_multikey(did_key[len(DID_KEY_PREFIX) :])


def parse_public_key(did_key_or_multikey: str) -> ParsedKey:
    """Either form of a public key: ``did:key:z...`` or a bare Multikey ``z...``."""
    if isinstance(did_key_or_multikey, str) and did_key_or_multikey.startswith(DID_KEY_PREFIX):
        return parse_did_key(did_key_or_multikey)
    return parse_multikey(did_key_or_multikey)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def public_jwk_for(parsed: ParsedKey) -> dict[str, str]:
    """JWK of a parsed public key (e.g. one read from a DID document)."""
    numbers = parsed.public_key.public_numbers()
    return {
        "kty": "EC",
        "crv": _JWK_CRV[parsed.curve],
        "x": _b64url(numbers.x.to_bytes(32, "big")),
        "y": _b64url(numbers.y.to_bytes(32, "big")),
    }


@dataclass(frozen=True)
class SigningKey:
    """A private key on one of the two ATProto curves. Create with generate/load_signing_key."""

    curve: Curve
    cryptography_private_key: ec.EllipticCurvePrivateKey

    def __repr__(self) -> str:
        # Never let the private scalar reach a log line or a test failure message.
        return f"SigningKey(curve={self.curve!r}, did_key={self.did_key!r})"

    @property
    def public_key(self) -> ec.EllipticCurvePublicKey:
        return self.cryptography_private_key.public_key()

    @property
    def did_key(self) -> str:
        return did_key_for(self.curve, self.public_key)

    @property
    def multikey(self) -> str:
        return multikey_for(self.curve, self.public_key)

    @property
    def jwt_alg(self) -> str:
        return _JWT_ALG[self.curve]

    def private_bytes(self) -> bytes:
        """The 32-byte big-endian private scalar (what load_signing_key takes back)."""
        return self.cryptography_private_key.private_numbers().private_value.to_bytes(32, "big")

    def public_jwk(self) -> dict[str, str]:
        return public_jwk_for(ParsedKey(self.curve, self.public_key))

    def sign(self, data: bytes) -> bytes:
        """ECDSA-SHA256 over ``data``; 64 bytes ``r || s`` with low S."""
        # Deterministic (RFC 6979) nonces make signatures reproducible in tests and fixtures.
        der = self.cryptography_private_key.sign(
            data, ec.ECDSA(hashes.SHA256(), deterministic_signing=True)
        )
        r, s = decode_dss_signature(der)
        order = _ORDER[self.curve]
        if s > order // 2:
            # (r, n - s) verifies exactly like (r, s); ATProto only accepts this half.
            s = order - s
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def generate_signing_key(curve: Curve) -> SigningKey:
    return SigningKey(curve, ec.generate_private_key(_ec_curve(curve)))


def load_signing_key(curve: Curve, raw32: bytes) -> SigningKey:
    ec_curve = _ec_curve(curve)
    if len(raw32) != 32:
        raise KeyFormatError(f"private key must be 32 bytes, got {len(raw32)}")
    value = int.from_bytes(raw32, "big")
    if not 0 < value < _ORDER[curve]:
        raise KeyFormatError(f"private key is out of range for {curve}")
    return SigningKey(curve, ec.derive_private_key(value, ec_curve))


def verify_signature(did_key_or_multikey: str, data: bytes, sig: bytes) -> bool:
    """True only for a valid 64-byte low-S ``r || s`` signature of SHA-256(data).

    Malformed keys or signatures (DER encoding, wrong length, high S, r/s out of range) give
    False: a verifier facing hostile input must answer, not crash.
    """
    try:
        curve, public_key = parse_public_key(did_key_or_multikey)
    except (KeyFormatError, ValueError):
        return False
    if not isinstance(sig, (bytes, bytearray)) or len(sig) != 64:
        return False
    r = int.from_bytes(sig[:32], "big")
    s = int.from_bytes(sig[32:], "big")
    order = _ORDER[curve]
    if not (0 < r < order and 0 < s <= order // 2):
        return False
    try:
        public_key.verify(encode_dss_signature(r, s), bytes(data), ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True
