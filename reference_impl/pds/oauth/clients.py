"""OAuth clients as ATProto defines them: a client ID is the URL of its metadata document, or a
``http://localhost`` loopback ID for development.

Pure validation only; fetching the documents is :mod:`.client_fetch`.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import SplitResult, parse_qsl, urlsplit

from ...common.dpop import SUPPORTED_ALGS
from .errors import OAuthError, invalid_client

AuthMethod = Literal["none", "private_key_jwt"]

LOOPBACK_DEFAULT_SCOPE = "atproto"
# ATProto loopback clients that name no redirect URI may use either loopback address.
LOOPBACK_DEFAULT_REDIRECTS: tuple[str, ...] = ("http://127.0.0.1/", "http://[::1]/")
_DNS_NAME = re.compile(
    r"(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*"
)
_PRIVATE_JWK_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})


@dataclass(frozen=True)
class ClientMetadata:
    client_id: str
    redirect_uris: tuple[str, ...]
    grant_types: frozenset[str]
    response_types: frozenset[str]
    # Scope values the client declared it may ask for; None when it declared none.
    scope: frozenset[str] | None
    auth_method: AuthMethod
    application_type: Literal["web", "native"]
    jwks_keys: tuple[dict[str, Any], ...] | None = None
    jwks_uri: str | None = None
    auth_signing_alg: str | None = None
    client_name: str | None = None
    is_loopback: bool = False


@dataclass(frozen=True)
class Client:
    """A resolved client: its metadata plus, for ``private_key_jwt``, its public keys."""

    metadata: ClientMetadata
    keys: tuple[dict[str, Any], ...] = ()

    @property
    def client_id(self) -> str:
        return self.metadata.client_id


def unauthorized_client(description: str) -> OAuthError:
    return OAuthError(400, "unauthorized_client", description)


def _split(uri: str) -> SplitResult | None:
    try:
        parts = urlsplit(uri)
        parts.port  # noqa: B018 - raises ValueError for a malformed port
    except ValueError:
        return None
    return parts


def is_loopback_client_id(client_id: str) -> bool:
    parts = _split(client_id)
    return parts is not None and (
        parts.scheme == "http"
        and parts.netloc == "localhost"
        and parts.path in ("", "/")
        and not parts.fragment
    )


def _valid_host(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return _DNS_NAME.fullmatch(host) is not None


def _is_loopback_ip(host: str | None) -> bool:
    # The two addresses RFC 8252 §7.3 and the ATProto profile name, not all of 127/8.
    return host in ("127.0.0.1", "::1")


def _is_loopback_redirect(uri: str) -> bool:
    parts = _split(uri)
    return (
        parts is not None
        and parts.scheme == "http"
        and _is_loopback_ip(parts.hostname)
        and not parts.fragment
    )


def parse_scope(scope: str) -> tuple[str, ...]:
    """Space-separated scope tokens (RFC 6749 §3.3), order kept, duplicates dropped."""
    tokens: list[str] = []
    for token in scope.split(" "):
        if not token:
            continue
        if any(ord(c) < 0x21 or ord(c) > 0x7E or c in '"\\' for c in token):
            raise ValueError(f"invalid scope token {token!r}")
        if token not in tokens:
            tokens.append(token)
    return tuple(tokens)


def loopback_client(client_id: str) -> ClientMetadata:
    """Metadata of an ATProto loopback client, derived from its client ID alone."""
    query = urlsplit(client_id).query
    try:
        params = parse_qsl(query, keep_blank_values=True, errors="strict")
    except (UnicodeDecodeError, ValueError) as exc:
        raise invalid_client("loopback client_id has a malformed query") from exc
    redirects = tuple(v for k, v in params if k == "redirect_uri") or LOOPBACK_DEFAULT_REDIRECTS
    for uri in redirects:
        # Loopback redirects go to an IP literal, never the name "localhost" (RFC 8252 §8.3).
        if not _is_loopback_redirect(uri):
            raise invalid_client(
                f"loopback client redirect_uri {uri!r} must be http://127.0.0.1 or http://[::1]"
            )
    scopes = [v for k, v in params if k == "scope"]
    if len(scopes) > 1:
        raise invalid_client("loopback client_id names scope more than once")
    try:
        scope = parse_scope(scopes[0] if scopes else LOOPBACK_DEFAULT_SCOPE)
    except ValueError as exc:
        raise invalid_client(str(exc)) from exc
    if "atproto" not in scope:
        raise invalid_client("loopback client scope must include atproto")
    return ClientMetadata(
        client_id=client_id,
        redirect_uris=redirects,
        grant_types=frozenset({"authorization_code", "refresh_token"}),
        response_types=frozenset({"code"}),
        scope=frozenset(scope),
        auth_method="none",
        application_type="native",
        is_loopback=True,
    )


def client_id_url_problem(client_id: str, allow_http: bool) -> str | None:
    """Why a (non-loopback) client ID cannot be a metadata document URL, or None."""
    parts = _split(client_id)
    if parts is None:
        return "client_id is not a valid URL"
    if parts.scheme == "https" or (parts.scheme == "http" and allow_http):
        pass
    else:
        return "client_id must be an https URL"
    if not parts.hostname:
        return "client_id URL has no host"
    if not _valid_host(parts.hostname):
        return "client_id URL host is not a valid DNS name or IP address"
    if parts.username or parts.password or parts.fragment:
        return "client_id URL must not carry credentials or a fragment"
    return None


def _string_list(doc: Mapping[str, Any], name: str) -> tuple[str, ...]:
    value = doc.get(name)
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
        raise invalid_client(f"client metadata {name} must be a non-empty list of strings")
    return tuple(value)


def _redirect_uri_problem(uri: str, allow_http: bool) -> str | None:
    parts = _split(uri)
    if parts is None:
        return "is not a valid URI"
    if not parts.scheme or parts.fragment:
        return "must be an absolute URI without fragment"
    if parts.scheme == "https":
        return None if parts.hostname else "has no host"
    if parts.scheme == "http":
        if _is_loopback_ip(parts.hostname) or (allow_http and parts.hostname):
            return None
        return "http is only allowed for loopback addresses"
    # Native apps use private-use schemes in reverse-domain form (RFC 8252 §7.1).
    return None if "." in parts.scheme else "uses an unsupported scheme"


def public_jwks_keys(value: Any) -> tuple[dict[str, Any], ...]:
    keys = value.get("keys") if isinstance(value, dict) else None
    if not isinstance(keys, list) or not keys or not all(isinstance(k, dict) for k in keys):
        raise invalid_client("client jwks must be an object with a non-empty keys list")
    for key in keys:
        if _PRIVATE_JWK_MEMBERS.intersection(key):
            raise invalid_client("client jwks must hold public keys only")
    return tuple(keys)


def validate_client_metadata(doc: Any, client_id: str, allow_http: bool) -> ClientMetadata:
    """Check a fetched metadata document against the ATProto client rules."""
    if not isinstance(doc, dict):
        raise invalid_client("client metadata is not a JSON object")
    if doc.get("client_id") != client_id:
        raise invalid_client("client metadata client_id does not equal the URL it was fetched from")

    redirect_uris = _string_list(doc, "redirect_uris")
    for uri in redirect_uris:
        problem = _redirect_uri_problem(uri, allow_http)
        if problem:
            raise invalid_client(f"client redirect_uri {uri!r} {problem}")

    grant_types = frozenset(_string_list(doc, "grant_types"))
    if "authorization_code" not in grant_types:
        raise invalid_client("client grant_types must include authorization_code")
    if not grant_types <= {"authorization_code", "refresh_token"}:
        raise invalid_client("client grant_types may only be authorization_code and refresh_token")

    response_types = frozenset(_string_list(doc, "response_types"))
    if "code" not in response_types:
        raise invalid_client("client response_types must include code")

    if doc.get("dpop_bound_access_tokens") is not True:
        raise invalid_client("client metadata must set dpop_bound_access_tokens to true")

    scope: frozenset[str] | None = None
    if "scope" in doc:
        raw_scope = doc["scope"]
        try:
            scope = frozenset(parse_scope(raw_scope)) if isinstance(raw_scope, str) else None
        except ValueError as exc:
            raise invalid_client(f"client scope: {exc}") from exc
        if scope is None or "atproto" not in scope:
            raise invalid_client("client scope must be a string including atproto")

    application_type = doc.get("application_type", "web")
    if application_type not in ("web", "native"):
        raise invalid_client("client application_type must be web or native")

    # Absent means a public client here: the methods RFC 7591 would default to (shared secrets)
    # do not exist in ATProto.
    auth_method = doc.get("token_endpoint_auth_method", "none")
    jwks_keys: tuple[dict[str, Any], ...] | None = None
    jwks_uri: str | None = None
    signing_alg: str | None = None
    if auth_method == "private_key_jwt":
        has_jwks, has_uri = "jwks" in doc, "jwks_uri" in doc
        if has_jwks == has_uri:
            raise invalid_client("a private_key_jwt client needs exactly one of jwks and jwks_uri")
        if has_jwks:
            jwks_keys = public_jwks_keys(doc["jwks"])
        else:
            jwks_uri = doc["jwks_uri"]
            if not isinstance(jwks_uri, str) or client_id_url_problem(jwks_uri, allow_http):
                raise invalid_client("client jwks_uri must be an https URL")
        signing_alg = doc.get("token_endpoint_auth_signing_alg")
        if signing_alg is not None and signing_alg not in SUPPORTED_ALGS:
            raise invalid_client("client token_endpoint_auth_signing_alg is not supported")
    elif auth_method != "none":
        raise invalid_client("client token_endpoint_auth_method must be none or private_key_jwt")

    name = doc.get("client_name")
    return ClientMetadata(
        client_id=client_id,
        redirect_uris=redirect_uris,
        grant_types=grant_types,
        response_types=response_types,
        scope=scope,
        auth_method=auth_method,
        application_type=application_type,
        jwks_keys=jwks_keys,
        jwks_uri=jwks_uri,
        auth_signing_alg=signing_alg,
        client_name=name if isinstance(name, str) and name else None,
    )


def redirect_uri_allowed(metadata: ClientMetadata, uri: str) -> bool:
    if uri in metadata.redirect_uris:
        return True
    # RFC 8252 §7.3: native and loopback clients pick a free port at run time, so a loopback
    # redirect matches a registered one that differs only in port.
    if not (metadata.is_loopback or metadata.application_type == "native"):
        return False
    if not _is_loopback_redirect(uri):
        return False
    asked = urlsplit(uri)
    for registered in metadata.redirect_uris:
        if not _is_loopback_redirect(registered):
            continue
        known = urlsplit(registered)
        if (
            known.hostname == asked.hostname
            and (known.path or "/") == (asked.path or "/")
            and known.query == asked.query
        ):
            return True
    return False
