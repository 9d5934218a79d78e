"""The discovery documents: AS metadata (RFC 8414 + ATProto profile), protected-resource
metadata (RFC 9728) and the JWKS."""

from __future__ import annotations

from typing import Any

from ...common.dpop import SUPPORTED_ALGS
from .config import OAuthConfig

PAR_PATH = "/oauth/par"
AUTHORIZE_PATH = "/oauth/authorize"
TOKEN_PATH = "/oauth/token"  # noqa: S105 - a path, not a secret
REVOKE_PATH = "/oauth/revoke"
JWKS_PATH = "/oauth/jwks"
AS_METADATA_PATH = "/.well-known/oauth-authorization-server"
PROTECTED_RESOURCE_PATH = "/.well-known/oauth-protected-resource"

# Scope values this server knows by name. Other syntactically valid scope tokens are accepted
# (and granted as asked) so clients using newer granular scopes are not locked out.
SCOPES_SUPPORTED: tuple[str, ...] = (
    "atproto",
    "transition:generic",
    "transition:chat.bsky",
    "transition:email",
)


def authorization_server_metadata(config: OAuthConfig) -> dict[str, Any]:
    return {
        "issuer": config.issuer,
        "authorization_endpoint": config.url(AUTHORIZE_PATH),
        "token_endpoint": config.url(TOKEN_PATH),
        "pushed_authorization_request_endpoint": config.url(PAR_PATH),
        "require_pushed_authorization_requests": True,
        "revocation_endpoint": config.url(REVOKE_PATH),
        "jwks_uri": config.url(JWKS_PATH),
        "scopes_supported": list(SCOPES_SUPPORTED),
        "subject_types_supported": ["public"],
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["none", "private_key_jwt"],
        "token_endpoint_auth_signing_alg_values_supported": list(SUPPORTED_ALGS),
        "dpop_signing_alg_values_supported": list(SUPPORTED_ALGS),
        "authorization_response_iss_parameter_supported": True,
        "client_id_metadata_document_supported": True,
        "request_parameter_supported": False,
        "request_uri_parameter_supported": True,
        "require_request_uri_registration": True,
        "protected_resources": [config.issuer],
    }


def protected_resource_metadata(config: OAuthConfig) -> dict[str, Any]:
    return {
        "resource": config.issuer,
        # Exactly one: the PDS is its own authorization server.
        "authorization_servers": [config.issuer],
        "scopes_supported": list(SCOPES_SUPPORTED),
        "bearer_methods_supported": ["header"],
        "dpop_signing_alg_values_supported": list(SUPPORTED_ALGS),
    }


def jwks_document(public_jwk: dict[str, Any]) -> dict[str, Any]:
    return {"keys": [public_jwk]}
