"""DPoP proof verification for authorization and resource servers (RFC 9449, ATProto profile).

Pure protocol logic: no web framework. Callers pass the raw ``DPoP`` header values, the request
method and URL, and (at a resource server) the access token; they get the proof's key thumbprint
back or a :class:`DpopError` naming the OAuth error code to send.

Nonces are stateless (an HMAC of the current time bucket), so every worker and every concurrent
request of one client sees the same nonce: no nonce race (DPOP-12), and the previous bucket's
nonce stays valid as a grace period (DPOP-11).
"""

from __future__ import annotations

import base64
import hashlib
import heapq
import hmac
import json
import math
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa

Clock = Callable[[], float]

INVALID_DPOP_PROOF = "invalid_dpop_proof"
USE_DPOP_NONCE = "use_dpop_nonce"

# Asymmetric algorithms a proof may use, with the key type (and curve) each requires. ``none`` and
# the HMAC family are absent on purpose: a proof must show possession of a private key.
_EC_CURVE_FOR_ALG: Mapping[str, str] = MappingProxyType(
    {
        "ES256": "secp256r1",
        "ES256K": "secp256k1",
        "ES384": "secp384r1",
        "ES512": "secp521r1",
    }
)
_RSA_ALGS = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"})
SUPPORTED_ALGS: tuple[str, ...] = ("ES256", "ES256K", "ES384", "ES512", *sorted(_RSA_ALGS))

# Members that only a private (or symmetric) JWK carries (RFC 7518 §6.2.2, §6.3.2, §6.4).
_PRIVATE_JWK_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})

# RFC 7638 §3.2: the required members of each key type, the only ones hashed.
_THUMBPRINT_MEMBERS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "EC": ("crv", "kty", "x", "y"),
        "RSA": ("e", "kty", "n"),
        "OKP": ("crv", "kty", "x"),
        "oct": ("k", "kty"),
    }
)

_MIN_RSA_BITS = 2048
_MAX_PROOF_CHARS = 8192
_MAX_JTI_CHARS = 256


class DpopError(Exception):
    """A rejected proof. ``error`` is the OAuth error code to send back."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.error = error
        self.description = description

    @property
    def message(self) -> str:
        return self.description


@dataclass(frozen=True)
class VerifiedProof:
    jkt: str
    jti: str
    iat: float
    nonce: str | None


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def jwk_thumbprint(jwk: Mapping[str, Any]) -> str:
    """RFC 7638 SHA-256 thumbprint: the required members, sorted, no whitespace."""
    kty = jwk.get("kty")
    members = _THUMBPRINT_MEMBERS.get(kty) if isinstance(kty, str) else None
    if members is None:
        raise ValueError(f"unsupported JWK key type {kty!r}")
    subset = {}
    for name in members:
        value = jwk.get(name)
        if not isinstance(value, str):
            raise ValueError(f"JWK member {name!r} missing or not a string")
        subset[name] = value
    canonical = json.dumps(subset, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    return b64url(hashlib.sha256(canonical.encode("utf-8")).digest())


def access_token_hash(access_token: str) -> str:
    """The ``ath`` claim: base64url(SHA-256(token))."""
    return b64url(hashlib.sha256(access_token.encode("utf-8")).digest())


def normalize_htu(url: str) -> str:
    """Scheme, host and port, and path of an http(s) URL; default port dropped, case folded.

    Raises ValueError for anything that is not an absolute http(s) URL.
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise ValueError("not an http(s) URL")
    host = parts.hostname  # already lower-cased, brackets stripped
    if not host:
        raise ValueError("URL has no host")
    port = parts.port  # raises ValueError on a bad port
    if port is None or (scheme, port) in (("http", 80), ("https", 443)):
        netloc = f"[{host}]" if ":" in host else host
    else:
        netloc = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return f"{scheme}://{netloc}{parts.path or '/'}"


class NonceSource:
    """Server nonces that rotate every ``rotation_s`` seconds with no stored state.

    The nonce of a time bucket is an HMAC of the bucket number; the current and the previous
    bucket's nonces are accepted, so a nonce stays usable for at least ``rotation_s`` seconds.
    """

    def __init__(self, secret: bytes, clock: Clock, rotation_s: int = 180) -> None:
        if len(secret) < 16:
            raise ValueError("nonce secret must be at least 16 bytes")
        # DPOP-11: nonces change at most every five minutes.
        if not 0 < rotation_s <= 300:
            raise ValueError("rotation_s must be in (0, 300]")
        self._secret = secret
        self._clock = clock
        self._rotation_s = rotation_s

    def _bucket(self) -> int:
        return math.floor(self._clock() / self._rotation_s)

    def _nonce_for(self, bucket: int) -> str:
        mac = hmac.new(self._secret, b"dpop-nonce:" + str(bucket).encode("ascii"), hashlib.sha256)
        return b64url(mac.digest()[:24])

    def current(self) -> str:
        return self._nonce_for(self._bucket())

    def is_acceptable(self, nonce: str) -> bool:
        bucket = self._bucket()
        ok = False
        # Compare against both so the timing does not reveal which bucket matched.
        for candidate in (self._nonce_for(bucket), self._nonce_for(bucket - 1)):
            ok |= hmac.compare_digest(candidate.encode(), nonce.encode("utf-8", "replace"))
        return ok


class ReplayCache:
    """Keys seen until they expire; bounded in memory.

    ``add`` answers False when the key is already present (a replay). When the cache is full after
    dropping expired keys, the key closest to expiry is evicted: under a flood of distinct proofs
    the cache degrades to a shorter memory rather than growing without bound or refusing
    honest clients.
    """

    def __init__(self, max_entries: int = 100_000) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be positive")
        self._max_entries = max_entries
        self._expiry: dict[str, float] = {}
        self._heap: list[tuple[float, str]] = []
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._expiry)

    def add(self, key: str, expires_at: float, now: float) -> bool:
        with self._lock:
            self._purge(now)
            if key in self._expiry:
                return False
            while len(self._expiry) >= self._max_entries:
                self._evict_one()
            self._expiry[key] = expires_at
            heapq.heappush(self._heap, (expires_at, key))
            return True

    def _purge(self, now: float) -> None:
        while self._heap and self._heap[0][0] <= now:
            self._evict_one()

    def _evict_one(self) -> None:
        expires_at, key = heapq.heappop(self._heap)
        if self._expiry.get(key) == expires_at:
            del self._expiry[key]


def _reject(description: str) -> DpopError:
    return DpopError(INVALID_DPOP_PROOF, description)


def _public_key_for(jwk: Mapping[str, Any], alg: str) -> Any:
    """The cryptography public key of a proof's ``jwk``, checked against ``alg``."""
    leaked = _PRIVATE_JWK_MEMBERS.intersection(jwk)
    if leaked:
        raise _reject(f"DPoP jwk must be a public key (has {', '.join(sorted(leaked))})")
    try:
        key = jwt.PyJWK(dict(jwk), algorithm=alg).key
    except Exception as exc:  # PyJWT raises several types for malformed keys
        raise _reject(f"DPoP jwk is not a usable {alg} key") from exc
    if alg in _EC_CURVE_FOR_ALG:
        if (
            not isinstance(key, ec.EllipticCurvePublicKey)
            or key.curve.name != _EC_CURVE_FOR_ALG[alg]
        ):
            raise _reject(f"DPoP jwk does not match alg {alg}")
    elif not isinstance(key, rsa.RSAPublicKey):
        raise _reject(f"DPoP jwk does not match alg {alg}")
    elif key.key_size < _MIN_RSA_BITS:
        raise _reject("DPoP RSA key is too short")
    return key


def _json_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


class DpopVerifier:
    """Checks one request's DPoP proof. Thread-safe; share one per service."""

    def __init__(
        self,
        nonces: NonceSource,
        replay_cache: ReplayCache,
        clock: Clock,
        max_future_s: float = 10,
        max_past_s: float = 60,
        require_nonce: bool = True,
    ) -> None:
        self.nonces = nonces
        self._replay = replay_cache
        self._clock = clock
        self._max_future_s = max_future_s
        self._max_past_s = max_past_s
        self._require_nonce = require_nonce

    def verify(
        self, headers_values: list[str], method: str, url: str, access_token: str | None
    ) -> VerifiedProof:
        """Verify the proof of a request; ``url`` is the request URL as the client addressed it.

        The checks run from structure to signature to claims; the nonce is checked after the
        proof is known to be well formed and signed, so ``use_dpop_nonce`` only ever asks an
        honest client to retry, and the jti is recorded last so a proof refused for its nonce
        does not burn anything.
        """
        if len(headers_values) != 1:
            raise _reject(
                "expected exactly one DPoP header" if headers_values else "missing DPoP proof"
            )
        proof = headers_values[0].strip()
        if not proof or len(proof) > _MAX_PROOF_CHARS or proof.count(".") != 2:
            raise _reject("DPoP proof is not a compact JWS")

        try:
            header = jwt.get_unverified_header(proof)
        except jwt.PyJWTError as exc:
            raise _reject("DPoP proof header is not parsable") from exc
        if header.get("typ") != "dpop+jwt":
            raise _reject('DPoP proof typ must be "dpop+jwt"')
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in SUPPORTED_ALGS:
            raise _reject(f"DPoP proof alg {alg!r} is not an accepted asymmetric algorithm")
        jwk = header.get("jwk")
        if not isinstance(jwk, dict):
            raise _reject("DPoP proof header has no jwk")
        key = _public_key_for(jwk, alg)
        try:
            jkt = jwk_thumbprint(jwk)
        except ValueError as exc:
            raise _reject("DPoP jwk has no thumbprint") from exc

        try:
            payload = jwt.PyJWS().decode(proof, key=key, algorithms=[alg])
            claims = json.loads(payload)
        except jwt.InvalidSignatureError as exc:
            raise _reject("DPoP proof signature does not verify") from exc
        except (jwt.PyJWTError, ValueError) as exc:
            raise _reject("DPoP proof is malformed") from exc
        if not isinstance(claims, dict):
            raise _reject("DPoP proof payload is not a JSON object")

        if claims.get("htm") != method.upper():
            raise _reject("DPoP htm does not match the request method")
        htu = claims.get("htu")
        try:
            same_target = isinstance(htu, str) and normalize_htu(htu) == normalize_htu(url)
        except ValueError:
            same_target = False
        if not same_target:
            raise _reject("DPoP htu does not match the request URL")

        now = self._clock()
        iat = claims.get("iat")
        if not _json_number(iat):
            raise _reject("DPoP proof has no numeric iat")
        assert isinstance(iat, int | float)
        if iat > now + self._max_future_s:
            raise _reject("DPoP proof iat is in the future")
        if iat < now - self._max_past_s:
            raise _reject("DPoP proof is too old")

        jti = claims.get("jti")
        if not isinstance(jti, str) or not jti or len(jti) > _MAX_JTI_CHARS:
            raise _reject("DPoP proof has no usable jti")

        if access_token is not None:
            ath = claims.get("ath")
            if not isinstance(ath, str) or not hmac.compare_digest(
                ath, access_token_hash(access_token)
            ):
                raise _reject("DPoP ath does not match the access token")

        nonce = claims.get("nonce")
        if nonce is not None and not isinstance(nonce, str):
            raise _reject("DPoP nonce must be a string")
        if self._require_nonce:
            if nonce is None:
                raise DpopError(USE_DPOP_NONCE, "Authorization server requires nonce in DPoP proof")
            if not self.nonces.is_acceptable(nonce):
                raise DpopError(USE_DPOP_NONCE, "DPoP nonce is stale or unknown")

        # A proof is usable while its iat is inside the window; remember the jti that long.
        expires_at = max(iat, now) + self._max_past_s + self._max_future_s
        if not self._replay.add(f"{jkt}:{jti}", expires_at, now):
            raise _reject("DPoP proof jti was already used")
        return VerifiedProof(jkt=jkt, jti=jti, iat=float(iat), nonce=nonce)
