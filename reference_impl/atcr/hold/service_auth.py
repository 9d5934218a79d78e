"""Verification of service-auth JWTs minted by callers' PDSes (``getServiceAuth``).

The token is checked against the ``#atproto`` key of the issuer's DID document (fetched from
``<plc>/<did>`` for did:plc, from the did:web URL otherwise): ES256K/ES256 with low-S, ``aud`` =
the hold's DID, ``exp`` in the future, ``iat`` at most 60 s ahead, ``lxm`` absent or equal to
the method called. The claim checks are pure functions; ``ServiceAuthVerifier`` adds the
network and a short per-instance DID document cache.

Tokens are secrets: nothing here logs them or puts them in an error message.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from lexicons.syntax import is_valid_did

from ...common.errors import XrpcError
from ...primitives.keys import KeyFormatError, parse_public_key, verify_signature
from ..digests import did_web_url

log = logging.getLogger("reference_impl.atcr.hold.service_auth")

CLOCK_LEEWAY_S = 60
_ALG_CURVE = {"ES256K": "secp256k1", "ES256": "p256"}


class TokenRejected(Exception):
    """The token is not acceptable; the message says why (never contains the token)."""


class IssuerUnavailable(Exception):
    """The issuer's DID document could not be fetched (network or directory failure)."""


@dataclass(frozen=True)
class ParsedToken:
    header: dict[str, Any]
    claims: dict[str, Any]
    signing_input: bytes
    signature: bytes

    @property
    def issuer_did(self) -> str:
        # A service may issue as "<did>#<service id>"; the key is still the DID's #atproto key.
        return str(self.claims["iss"]).split("#", 1)[0]


def _b64url_decode(part: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
    except (binascii.Error, ValueError):
        raise TokenRejected("token is not base64url") from None


def parse_token(token: str) -> ParsedToken:
    parts = token.split(".")
    if len(parts) != 3 or not all(parts):
        raise TokenRejected("token is not a compact JWS")
    try:
        header = json.loads(_b64url_decode(parts[0]))
        claims = json.loads(_b64url_decode(parts[1]))
    except (ValueError, UnicodeDecodeError):
        raise TokenRejected("token header or claims are not JSON") from None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise TokenRejected("token header and claims must be JSON objects")
    if header.get("alg") not in _ALG_CURVE:
        raise TokenRejected("token alg must be ES256K or ES256")
    iss = claims.get("iss")
    if not isinstance(iss, str) or not is_valid_did(iss.split("#", 1)[0]):
        raise TokenRejected("token iss is not a DID")
    return ParsedToken(
        header, claims, f"{parts[0]}.{parts[1]}".encode("ascii"), _b64url_decode(parts[2])
    )


def check_claims(claims: dict[str, Any], *, audience: str, method: str, now: float) -> None:
    """The pure claim rules; raises TokenRejected."""
    if claims.get("aud") != audience:
        raise TokenRejected("token aud is not this hold's DID")
    exp = claims.get("exp")
    if not isinstance(exp, int) or isinstance(exp, bool):
        raise TokenRejected("token exp is missing")
    if exp <= now:
        raise TokenRejected("token has expired")
    iat = claims.get("iat")
    if iat is not None and (not isinstance(iat, int) or isinstance(iat, bool)):
        raise TokenRejected("token iat is not an integer")
    if isinstance(iat, int) and iat > now + CLOCK_LEEWAY_S:
        raise TokenRejected("token iat is in the future")
    lxm = claims.get("lxm")
    if lxm is not None and lxm != method:
        raise TokenRejected(f"token lxm does not allow {method}")


def atproto_key(did_doc: Any, did: str) -> str | None:
    """The ``publicKeyMultibase`` of the document's ``#atproto`` verification method."""
    if not isinstance(did_doc, dict) or did_doc.get("id") != did:
        return None
    for method in did_doc.get("verificationMethod") or []:
        if not isinstance(method, dict):
            continue
        method_id = method.get("id")
        if method_id in ("#atproto", f"{did}#atproto"):
            key = method.get("publicKeyMultibase")
            return key if isinstance(key, str) else None
    return None


def check_signature(token: ParsedToken, multikey: str) -> None:
    try:
        curve = parse_public_key(multikey).curve
    except (KeyFormatError, ValueError):
        raise TokenRejected("issuer's #atproto key is malformed") from None
    if _ALG_CURVE[token.header["alg"]] != curve:
        raise TokenRejected("token alg does not match the issuer's key")
    if not verify_signature(multikey, token.signing_input, token.signature):
        raise TokenRejected("token signature is invalid")


class ServiceAuthVerifier:
    def __init__(
        self,
        http: httpx.AsyncClient,
        plc_url: str,
        audience: str,
        clock: Callable[[], float] = time.time,
        cache_ttl_s: float = 30.0,
    ) -> None:
        self.http = http
        self.plc_url = plc_url.rstrip("/")
        self.audience = audience
        self.clock = clock
        self.cache_ttl_s = cache_ttl_s
        # did -> (fetched at, monotonic; #atproto multikey). Per instance, deliberately short.
        self._keys: dict[str, tuple[float, str]] = {}

    async def verify(self, authorization: str | None, method: str) -> str:
        """The caller's DID; XrpcError 401 (or 502 when the issuer cannot be resolved)."""
        if not authorization:
            raise XrpcError(401, "AuthRequired", "Authentication required (service-auth JWT)")
        scheme, _, token = authorization.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise XrpcError(
                401, "AuthRequired", "Authorization must be 'Bearer <service-auth JWT>'"
            )
        try:
            parsed = parse_token(token)
            check_claims(parsed.claims, audience=self.audience, method=method, now=self.clock())
            did = parsed.issuer_did
            key = await self._key(did, fresh=False)
            try:
                check_signature(parsed, key)
            except TokenRejected:
                # The user may have rotated keys since we cached the document: look once more.
                fresh = await self._key(did, fresh=True)
                if fresh == key:
                    raise
                check_signature(parsed, fresh)
        except TokenRejected as exc:
            raise XrpcError(401, "InvalidToken", str(exc)) from None
        except IssuerUnavailable as exc:
            raise XrpcError(502, "UpstreamFailure", str(exc)) from None
        return did

    async def _key(self, did: str, fresh: bool) -> str:
        now = time.monotonic()
        cached = self._keys.get(did)
        if cached is not None and not fresh and now - cached[0] < self.cache_ttl_s:
            return cached[1]
        doc = await self._fetch(did)
        key = atproto_key(doc, did)
        if key is None:
            raise TokenRejected("issuer's DID document has no #atproto key")
        # Drop stale entries so the cache cannot grow without bound.
        self._keys = {d: v for d, v in self._keys.items() if now - v[0] < self.cache_ttl_s}
        self._keys[did] = (now, key)
        return key

    async def _fetch(self, did: str) -> Any:
        if did.startswith("did:plc:"):
            url = f"{self.plc_url}/{did}"
        elif did.startswith("did:web:"):
            try:
                url = did_web_url(did)
            except ValueError:
                raise TokenRejected("issuer did:web is malformed") from None
        else:
            raise TokenRejected("issuer DID method is not supported")
        try:
            response = await self.http.get(url, timeout=5.0)
        except httpx.HTTPError as exc:
            log.warning("fetching the DID document of %s failed: %s", did, type(exc).__name__)
            raise IssuerUnavailable(f"could not fetch the DID document of {did}") from None
        if response.status_code == 404:
            raise TokenRejected("issuer DID is not registered")
        if response.status_code != 200:
            raise IssuerUnavailable(f"DID directory answered {response.status_code} for {did}")
        try:
            return response.json()
        except ValueError:
            raise TokenRejected("issuer's DID document is not JSON") from None
