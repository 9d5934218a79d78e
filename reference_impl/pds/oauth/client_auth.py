"""Client authentication at the PAR and token endpoints: ``none`` for public clients,
``private_key_jwt`` (RFC 7523 §2.2) for confidential ones."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

import jwt

from ...common.dpop import SUPPORTED_ALGS, Clock, ReplayCache
from .clients import AuthMethod, Client
from .errors import invalid_client

JWT_BEARER_ASSERTION = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
_MAX_ASSERTION_CHARS = 16 * 1024


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


class ClientAuthenticator:
    def __init__(
        self,
        issuer: str,
        clock: Clock,
        replay_cache: ReplayCache,
        iat_tolerance_s: float,
        max_age_s: float,
    ) -> None:
        self._issuer = issuer
        self._clock = clock
        self._replay = replay_cache
        self._iat_tolerance_s = iat_tolerance_s
        self._max_age_s = max_age_s

    def authenticate(self, client: Client, form: Mapping[str, str]) -> AuthMethod:
        """Check the client credentials in ``form``; returns the method that succeeded."""
        assertion_type = form.get("client_assertion_type")
        assertion = form.get("client_assertion")
        if client.metadata.auth_method == "none":
            if assertion_type or assertion:
                raise invalid_client(
                    "client is registered as public (token_endpoint_auth_method none)"
                )
            return "none"
        if assertion_type != JWT_BEARER_ASSERTION:
            raise invalid_client(f"client_assertion_type must be {JWT_BEARER_ASSERTION}")
        if not assertion:
            raise invalid_client("client_assertion is required for this client")
        self._verify_assertion(client, assertion)
        return "private_key_jwt"

    def _verify_assertion(self, client: Client, assertion: str) -> None:
        if len(assertion) > _MAX_ASSERTION_CHARS or assertion.count(".") != 2:
            raise invalid_client("client_assertion is not a compact JWS")
        try:
            header = jwt.get_unverified_header(assertion)
        except jwt.PyJWTError as exc:
            raise invalid_client("client_assertion header is not parsable") from exc
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in SUPPORTED_ALGS:
            raise invalid_client(f"client_assertion alg {alg!r} is not supported")
        declared = client.metadata.auth_signing_alg
        if declared is not None and alg != declared:
            raise invalid_client(
                "client_assertion alg differs from token_endpoint_auth_signing_alg"
            )

        payload = self._verified_payload(client, assertion, alg, header.get("kid"))
        try:
            claims = json.loads(payload)
        except ValueError as exc:
            raise invalid_client("client_assertion payload is not JSON") from exc
        if not isinstance(claims, dict):
            raise invalid_client("client_assertion payload is not a JSON object")
        self._check_claims(client.client_id, claims)

    def _verified_payload(self, client: Client, assertion: str, alg: str, kid: object) -> bytes:
        candidates = [
            k
            for k in client.keys
            if (kid is None or k.get("kid") == kid)
            and k.get("alg", alg) == alg
            and k.get("use", "sig") == "sig"
        ]
        if not candidates:
            raise invalid_client("no key in the client's jwks matches the client_assertion")
        for jwk in candidates:
            try:
                key = jwt.PyJWK(dict(jwk), algorithm=alg).key
                payload: bytes = jwt.PyJWS().decode(assertion, key=key, algorithms=[alg])
                return payload
            except Exception:  # noqa: S112 - a wrong or unusable key: try the next one
                continue
        raise invalid_client("client_assertion signature does not verify with the client's keys")

    def _check_claims(self, client_id: str, claims: dict[str, Any]) -> None:
        if claims.get("iss") != client_id or claims.get("sub") != client_id:
            raise invalid_client("client_assertion iss and sub must equal the client_id")
        aud = claims.get("aud")
        audiences = aud if isinstance(aud, list) else [aud]
        if self._issuer not in audiences:
            raise invalid_client("client_assertion aud must be the authorization server issuer")
        jti = claims.get("jti")
        if not isinstance(jti, str) or not jti or len(jti) > 256:
            raise invalid_client("client_assertion jti is required")
        now = self._clock()
        iat = claims.get("iat")
        if not _number(iat):
            raise invalid_client("client_assertion iat is required")
        assert isinstance(iat, int | float)
        # Worded as real authorization servers word it, so operators can search for it: a client
        # (or server) clock running ahead is a common cause of failed logins (CLOCK-02).
        if iat > now + self._iat_tolerance_s:
            raise invalid_client(
                "client_assertion rejected: iat claim timestamp check failed"
                " (it should be in the past)"
            )
        if iat < now - self._max_age_s:
            raise invalid_client("client_assertion is too old (iat)")
        exp = claims.get("exp")
        if exp is not None and (not _number(exp) or exp <= now):
            raise invalid_client("client_assertion has expired")
        expires_at = (
            max(iat + self._max_age_s, exp if isinstance(exp, int | float) else 0)
            + self._iat_tolerance_s
        )
        if not self._replay.add(f"{client_id}\n{jti}", expires_at, now):
            raise invalid_client("client_assertion jti was already used")
