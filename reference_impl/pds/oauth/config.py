"""Settings of the OAuth authorization server; the PDS builds one from its own config."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric import ec

# Deliberate faults this server knows. None exist yet; the hook is here so the harness's
# negative checks can later switch one on without a new parameter.
KNOWN_FAULTS: frozenset[str] = frozenset()

# RFC 9449 / ATProto: access tokens are short-lived; the profile caps them at 15 minutes.
MAX_ACCESS_TOKEN_TTL_S = 15 * 60


@dataclass(frozen=True)
class OAuthConfig:
    """``issuer`` is the PDS's public origin (``http://127.0.0.1:2583``); it is also the
    resource identifier (``aud``) of the access tokens the server issues."""

    issuer: str
    signing_key: ec.EllipticCurvePrivateKey = field(repr=False)
    nonce_secret: bytes = field(repr=False)
    access_token_ttl_s: int = 600
    refresh_token_ttl_s: int = 14 * 24 * 3600
    # The reference serves client metadata documents on plain-http loopback ports; a public
    # deployment would only fetch https client IDs.
    allow_http_client_ids: bool = True
    client_assertion_iat_tolerance_s: int = 10
    client_assertion_max_age_s: int = 300
    par_ttl_s: int = 300
    code_ttl_s: int = 60
    nonce_rotation_s: int = 180
    dpop_max_future_s: int = 10
    dpop_max_past_s: int = 60
    client_fetch_timeout_s: float = 5.0
    faults: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        issuer = self.issuer.rstrip("/")
        parts = urlsplit(issuer)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"issuer must be an http(s) origin, got {self.issuer!r}")
        if parts.path or parts.query or parts.fragment or parts.username or parts.password:
            raise ValueError(f"issuer must be a bare origin with no path, got {self.issuer!r}")
        object.__setattr__(self, "issuer", issuer)
        if not isinstance(self.signing_key, ec.EllipticCurvePrivateKey) or not isinstance(
            self.signing_key.curve, ec.SECP256R1
        ):
            raise ValueError("the authorization server signing key must be a P-256 private key")
        if not 0 < self.access_token_ttl_s <= MAX_ACCESS_TOKEN_TTL_S:
            raise ValueError(f"access_token_ttl_s must be in (0, {MAX_ACCESS_TOKEN_TTL_S}]")
        if self.refresh_token_ttl_s <= 0 or self.par_ttl_s <= 0 or self.code_ttl_s <= 0:
            raise ValueError("token, request and code lifetimes must be positive")
        unknown = self.faults - KNOWN_FAULTS
        if unknown:
            raise ValueError(f"unknown OAuth fault(s): {', '.join(sorted(unknown))}")

    def url(self, path: str) -> str:
        return f"{self.issuer}{path}"
