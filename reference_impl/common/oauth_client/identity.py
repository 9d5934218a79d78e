"""Who the service is as an OAuth client: its client ID, redirect URI, scope and signing key,
the metadata document it publishes at its client ID and the assertions it signs with the key."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

from ...primitives.keys import SigningKey
from ..dpop import jwk_thumbprint
from ..jwt_keys import sign_jwt

CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
DEFAULT_SCOPE = "atproto transition:generic"
ASSERTION_TTL_S = 60


@dataclass(frozen=True)
class ClientIdentity:
    """A confidential ATProto OAuth client (``private_key_jwt``, ES256).

    ``jwks_uri`` None embeds the key set in the metadata document instead of pointing at it.
    """

    client_id: str
    redirect_uri: str
    scope: str
    key: SigningKey = field(repr=False)
    jwks_uri: str | None = None
    client_name: str | None = None

    def __post_init__(self) -> None:
        if self.key.curve != "p256":
            raise ValueError("the client key must be P-256 (ES256)")
        if "atproto" not in self.scope.split(" "):
            raise ValueError("an ATProto client scope must include atproto")

    @classmethod
    def at(
        cls,
        public_url: str,
        key: SigningKey,
        *,
        scope: str = DEFAULT_SCOPE,
        client_name: str | None = None,
        metadata_path: str = "/client-metadata.json",
        callback_path: str = "/oauth/callback",
        jwks_path: str = "/oauth/jwks",
    ) -> ClientIdentity:
        """The identity of a service at ``public_url`` with the conventional paths."""
        base = public_url.rstrip("/")
        return cls(
            client_id=base + metadata_path,
            redirect_uri=base + callback_path,
            scope=scope,
            key=key,
            jwks_uri=base + jwks_path,
            client_name=client_name,
        )

    @property
    def kid(self) -> str:
        # The key's own thumbprint: stable, and it changes exactly when the key does.
        return jwk_thumbprint(self.key.public_jwk())

    def jwks(self) -> dict[str, Any]:
        jwk: dict[str, Any] = {
            **self.key.public_jwk(),
            "kid": self.kid,
            "alg": "ES256",
            "use": "sig",
        }
        return {"keys": [jwk]}

    def metadata_document(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "client_id": self.client_id,
            "application_type": "web",
            "redirect_uris": [self.redirect_uri],
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "scope": self.scope,
            "token_endpoint_auth_method": "private_key_jwt",
            "token_endpoint_auth_signing_alg": "ES256",
            "dpop_bound_access_tokens": True,
        }
        if self.jwks_uri is not None:
            doc["jwks_uri"] = self.jwks_uri
        else:
            doc["jwks"] = self.jwks()
        if self.client_name:
            doc["client_name"] = self.client_name
        return doc

    def client_assertion(self, audience: str, now: float) -> str:
        """A ``private_key_jwt`` assertion (RFC 7523): ``iss = sub = client_id``, ``aud`` = the
        authorization server's issuer, a fresh ``jti``. ``iat`` is truncated, never rounded up,
        so it is never ahead of a server sharing our clock ("iat claim timestamp check")."""
        iat = int(now)
        claims = {
            "iss": self.client_id,
            "sub": self.client_id,
            "aud": audience,
            "jti": secrets.token_urlsafe(18),
            "iat": iat,
            "exp": iat + ASSERTION_TTL_S,
        }
        return sign_jwt(claims, self.key, {"kid": self.kid})

    def client_auth_fields(self, audience: str, now: float) -> dict[str, str]:
        return {
            "client_assertion_type": CLIENT_ASSERTION_TYPE,
            "client_assertion": self.client_assertion(audience, now),
        }
