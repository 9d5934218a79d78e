"""Test helpers for the reference OAuth server: DPoP proofs, clocks, an account double and a
small OAuth client that walks the flow over real HTTP.

Written independently of the code under test (thumbprints, proofs and PKCE are computed here
with PyJWT and hashlib) so a shared mistake cannot hide itself.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from reference_impl.pds.oauth import AccountRef


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def thumbprint(jwk: dict[str, Any]) -> str:
    members = {"EC": ("crv", "kty", "x", "y"), "RSA": ("e", "kty", "n")}[jwk["kty"]]
    canonical = json.dumps({m: jwk[m] for m in members}, separators=(",", ":"), sort_keys=True)
    return b64u(hashlib.sha256(canonical.encode()).digest())


class ManualClock:
    """A clock tests move by hand."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class OffsetClock:
    """Wall time plus an adjustable offset, for servers running in another thread."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


_EC_ALGS: dict[str, Callable[[], ec.EllipticCurve]] = {
    "ES256": ec.SECP256R1,
    "ES256K": ec.SECP256K1,
    "ES384": ec.SECP384R1,
}


@dataclass
class DpopKey:
    alg: str = "ES256"
    private: Any = None

    def __post_init__(self) -> None:
        if self.private is None:
            if self.alg in _EC_ALGS:
                self.private = ec.generate_private_key(_EC_ALGS[self.alg]())
            else:
                self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    @property
    def public_jwk(self) -> dict[str, Any]:
        if isinstance(self.private, ec.EllipticCurvePrivateKey):
            return dict(ECAlgorithm.to_jwk(self.private.public_key(), as_dict=True))
        return dict(RSAAlgorithm.to_jwk(self.private.public_key(), as_dict=True))

    @property
    def private_jwk(self) -> dict[str, Any]:
        if isinstance(self.private, ec.EllipticCurvePrivateKey):
            return dict(ECAlgorithm.to_jwk(self.private, as_dict=True))
        return dict(RSAAlgorithm.to_jwk(self.private, as_dict=True))

    @property
    def jkt(self) -> str:
        return thumbprint(self.public_jwk)

    def proof(
        self,
        method: str,
        url: str,
        *,
        nonce: str | None = None,
        access_token: str | None = None,
        iat: float | None = None,
        jti: str | None = None,
        header: dict[str, Any] | None = None,
        claims: dict[str, Any] | None = None,
        drop: tuple[str, ...] = (),
    ) -> str:
        body: dict[str, Any] = {
            "htm": method,
            "htu": url,
            "iat": int(time.time() if iat is None else iat),
            "jti": jti or secrets.token_urlsafe(16),
        }
        if nonce is not None:
            body["nonce"] = nonce
        if access_token is not None:
            body["ath"] = b64u(hashlib.sha256(access_token.encode()).digest())
        body.update(claims or {})
        for name in drop:
            body.pop(name, None)
        headers = {"typ": "dpop+jwt", "jwk": self.public_jwk, **(header or {})}
        return jwt.encode(body, self.private, algorithm=self.alg, headers=headers)


def unsigned_jws(header: dict[str, Any], claims: dict[str, Any], signature: bytes = b"") -> str:
    """A JWS assembled by hand, for algorithms and shapes PyJWT refuses to produce."""
    parts = [json.dumps(header).encode(), json.dumps(claims).encode()]
    return ".".join([b64u(parts[0]), b64u(parts[1]), b64u(signature)])


def pkce_pair() -> tuple[str, str]:
    verifier = b64u(secrets.token_bytes(32))
    return verifier, b64u(hashlib.sha256(verifier.encode()).digest())


def client_assertion(
    key: DpopKey, client_id: str, audience: str, *, iat: float, kid: str, jti: str | None = None
) -> str:
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": audience,
        "iat": int(iat),
        "exp": int(iat) + 120,
        "jti": jti or secrets.token_urlsafe(16),
    }
    return jwt.encode(claims, key.private, algorithm=key.alg, headers={"kid": kid})


@dataclass(frozen=True)
class StaticAccounts:
    """Test double of the PDS's account lookup: fixed accounts and passwords."""

    entries: tuple[tuple[AccountRef, str], ...]

    def authenticate(self, identifier: str, password: str) -> AccountRef | None:
        for account, secret in self.entries:
            if identifier in (account.did, account.handle) and secrets.compare_digest(
                password, secret
            ):
                return account
        return None

    def get(self, did: str) -> AccountRef | None:
        return next((a for a, _ in self.entries if a.did == did), None)


ALICE = AccountRef(did="did:plc:aliceaaaaaaaaaaaaaaaaaaa", handle="alice.test")
ALICE_PASSWORD = "alice-password-1"
BOB = AccountRef(did="did:plc:bobbbbbbbbbbbbbbbbbbbbbb", handle="bob.test")
BOB_PASSWORD = "bob-password-2"


def query_of(location: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


@dataclass
class FlowClient:
    """An OAuth client that drives the reference AS over HTTP, handling the nonce dance."""

    http: httpx.Client
    issuer: str
    client_id: str
    redirect_uri: str
    key: DpopKey
    clock: Any = time.time
    nonce: str | None = None
    extra_auth: Any = None  # callable returning extra form fields (client assertion)
    nonce_retries: int = field(default=0)

    def dpop_post(
        self, path: str, data: dict[str, str], key: DpopKey | None = None
    ) -> httpx.Response:
        key = key or self.key
        url = self.issuer + path
        response: httpx.Response | None = None
        for _ in range(2):
            body = dict(data)
            if self.extra_auth is not None:
                body.update(self.extra_auth())
            proof = key.proof("POST", url, nonce=self.nonce, iat=self.clock())
            response = self.http.post(url, data=body, headers={"DPoP": proof})
            if "DPoP-Nonce" in response.headers:
                self.nonce = response.headers["DPoP-Nonce"]
            if response.status_code == 400 and response.json().get("error") == "use_dpop_nonce":
                self.nonce_retries += 1
                continue
            break
        assert response is not None
        return response

    def par(self, **overrides: str | None) -> tuple[httpx.Response, str, str]:
        verifier, challenge = pkce_pair()
        state = secrets.token_urlsafe(12)
        form: dict[str, str | None] = {
            "client_id": self.client_id,
            "response_type": "code",
            "redirect_uri": self.redirect_uri,
            "scope": "atproto transition:generic",
            "state": state,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
        form.update(overrides)
        data = {k: v for k, v in form.items() if v is not None}
        return self.dpop_post("/oauth/par", data), verifier, state

    def authorize_get(self, request_uri: str) -> httpx.Response:
        return self.http.get(
            self.issuer + "/oauth/authorize",
            params={"client_id": self.client_id, "request_uri": request_uri},
        )

    def authorize_post(
        self, request_uri: str, handle: str, password: str, consent: str = "allow"
    ) -> httpx.Response:
        return self.http.post(
            self.issuer + "/oauth/authorize",
            data={
                "request_uri": request_uri,
                "client_id": self.client_id,
                "handle": handle,
                "password": password,
                "consent": consent,
            },
        )

    def token(self, code: str, verifier: str, key: DpopKey | None = None) -> httpx.Response:
        return self.dpop_post(
            "/oauth/token",
            {
                "grant_type": "authorization_code",
                "client_id": self.client_id,
                "code": code,
                "redirect_uri": self.redirect_uri,
                "code_verifier": verifier,
            },
            key=key,
        )

    def refresh(self, refresh_token: str, key: DpopKey | None = None) -> httpx.Response:
        return self.dpop_post(
            "/oauth/token",
            {
                "grant_type": "refresh_token",
                "client_id": self.client_id,
                "refresh_token": refresh_token,
            },
            key=key,
        )

    def code_for(self, handle: str, password: str) -> tuple[str, str]:
        """PAR + sign-in; returns (code, verifier)."""
        response, verifier, state = self.par()
        assert response.status_code == 201, response.text
        request_uri = response.json()["request_uri"]
        decision = self.authorize_post(request_uri, handle, password)
        assert decision.status_code == 303, decision.text
        params = query_of(decision.headers["location"])
        assert params["state"] == state
        return params["code"], verifier

    def login(self, handle: str, password: str) -> dict[str, Any]:
        code, verifier = self.code_for(handle, password)
        response = self.token(code, verifier)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def resource(
        self,
        url: str,
        access_token: str,
        *,
        key: DpopKey | None = None,
        scheme: str = "DPoP",
        nonce: str | None = None,
        with_proof: bool = True,
    ) -> httpx.Response:
        key = key or self.key
        headers = {"Authorization": f"{scheme} {access_token}"}
        if with_proof:
            headers["DPoP"] = key.proof(
                "GET", url, nonce=nonce, access_token=access_token, iat=self.clock()
            )
        return self.http.get(url, headers=headers)
