"""Identity and discovery: handle → DID → DID document → PDS → authorization server.

Shared by the OAuth client (login) and the resource server (``resource_auth``: whose AS may
issue tokens for a DID). Every document is fetched with a size cap, no redirects and a timeout,
because the URLs come from DID documents anyone can write.
"""

from __future__ import annotations

import json
import re
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar
from urllib.parse import quote, unquote, urlsplit

import httpx

from .errors import ResolutionError, UnknownHandle

MAX_DOCUMENT_BYTES = 256 * 1024
DEFAULT_TIMEOUT_S = 5.0

_PLC_DID = re.compile(r"did:plc:[a-z2-7]{24}")
_WEB_DID = re.compile(r"did:web:[A-Za-z0-9.\-]+(?:%3[Aa][0-9]{1,5})?")
_HANDLE = re.compile(
    r"(?=.{1,253}$)([a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?\.)+"
    r"[a-zA-Z](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?"
)
_LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "[::1]", "::1"})

K = TypeVar("K")
V = TypeVar("V")


class TtlCache(Generic[K, V]):
    """A bounded map whose entries expire ``ttl_s`` after they were stored.

    Instance state only (no module-level caches). When full, the oldest entry goes first.
    """

    def __init__(self, ttl_s: float, clock: Callable[[], float], max_entries: int = 10_000):
        self._ttl_s = ttl_s
        self._clock = clock
        self._max_entries = max_entries
        self._items: OrderedDict[K, tuple[float, V]] = OrderedDict()

    def get(self, key: K) -> V | None:
        item = self._items.get(key)
        if item is None:
            return None
        expires_at, value = item
        if expires_at <= self._clock():
            del self._items[key]
            return None
        return value

    def put(self, key: K, value: V) -> None:
        if self._ttl_s <= 0:
            return
        self._items.pop(key, None)
        while len(self._items) >= self._max_entries:
            self._items.popitem(last=False)
        self._items[key] = (self._clock() + self._ttl_s, value)

    def drop(self, key: K) -> None:
        self._items.pop(key, None)


def is_valid_handle(handle: str) -> bool:
    return isinstance(handle, str) and _HANDLE.fullmatch(handle) is not None


def is_supported_did(did: str) -> bool:
    return isinstance(did, str) and (
        _PLC_DID.fullmatch(did) is not None or _WEB_DID.fullmatch(did) is not None
    )


def http_url(value: object) -> str | None:
    """``value`` as an absolute http(s) URL without query or fragment, or None."""
    if not isinstance(value, str) or len(value) > 2048:
        return None
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError for a malformed port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    if parts.query or parts.fragment or parts.username or parts.password:
        return None
    return value


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


async def fetch_json(http: httpx.AsyncClient, url: str, *, what: str) -> Any:
    """GET a JSON document; ResolutionError (naming ``what``, never a secret) on any failure."""
    try:
        async with http.stream(
            "GET",
            url,
            headers={"Accept": "application/json"},
            timeout=httpx.Timeout(DEFAULT_TIMEOUT_S),
            follow_redirects=False,
        ) as response:
            if response.status_code != 200:
                raise ResolutionError(f"{what}: HTTP {response.status_code} from {url}")
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > MAX_DOCUMENT_BYTES:
                    raise ResolutionError(f"{what}: document at {url} is too large")
    # ValueError covers URL parsing below httpx's own exception types.
    except (httpx.HTTPError, httpx.InvalidURL, ValueError) as exc:
        raise ResolutionError(f"{what}: {type(exc).__name__} fetching {url}") from exc
    try:
        return json.loads(bytes(body))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ResolutionError(f"{what}: document at {url} is not JSON") from exc


@dataclass(frozen=True)
class DidInfo:
    """What a DID document says: the PDS endpoint, the claimed handle, the signing key."""

    did: str
    pds_url: str
    handle: str | None
    signing_key: str | None  # publicKeyMultibase of #atproto


@dataclass(frozen=True)
class AuthServerMetadata:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    par_endpoint: str
    revocation_endpoint: str | None
    jwks_uri: str | None


def _service_endpoint(doc: dict[str, Any], did: str, fragment: str, kind: str) -> str | None:
    services = doc.get("service")
    if not isinstance(services, list):
        return None
    for entry in services:
        if not isinstance(entry, dict):
            continue
        if entry.get("id") in (f"#{fragment}", f"{did}#{fragment}") and entry.get("type") == kind:
            return http_url(entry.get("serviceEndpoint"))
    return None


def _signing_key(doc: dict[str, Any], did: str) -> str | None:
    methods = doc.get("verificationMethod")
    if not isinstance(methods, list):
        return None
    for method in methods:
        if isinstance(method, dict) and method.get("id") in ("#atproto", f"{did}#atproto"):
            key = method.get("publicKeyMultibase")
            return key if isinstance(key, str) else None
    return None


def _claimed_handle(doc: dict[str, Any]) -> str | None:
    aka = doc.get("alsoKnownAs")
    if not isinstance(aka, list):
        return None
    for item in aka:
        if isinstance(item, str) and item.startswith("at://"):
            handle = item[len("at://") :].lower()
            if is_valid_handle(handle):
                return handle
    return None


def parse_did_document(doc: Any, did: str) -> DidInfo:
    if not isinstance(doc, dict) or doc.get("id") != did:
        raise ResolutionError(f"DID document of {did} is malformed or names another DID")
    pds_url = _service_endpoint(doc, did, "atproto_pds", "AtprotoPersonalDataServer")
    if pds_url is None:
        raise ResolutionError(f"DID document of {did} has no #atproto_pds service endpoint")
    return DidInfo(
        did=did,
        pds_url=pds_url.rstrip("/"),
        handle=_claimed_handle(doc),
        signing_key=_signing_key(doc, did),
    )


def parse_as_metadata(doc: Any, issuer: str) -> AuthServerMetadata:
    if not isinstance(doc, dict):
        raise ResolutionError(f"authorization server metadata of {issuer} is not an object")
    # RFC 8414 §3.3: the document must name the issuer it was fetched for.
    named = doc.get("issuer")
    if not isinstance(named, str) or named.rstrip("/") != issuer.rstrip("/"):
        raise ResolutionError(f"authorization server metadata of {issuer} names another issuer")
    endpoints = {
        name: http_url(doc.get(name))
        for name in (
            "authorization_endpoint",
            "token_endpoint",
            "pushed_authorization_request_endpoint",
        )
    }
    missing = [name for name, url in endpoints.items() if url is None]
    if missing:
        raise ResolutionError(
            f"authorization server metadata of {issuer} lacks {', '.join(missing)}"
        )
    return AuthServerMetadata(
        issuer=issuer,
        authorization_endpoint=str(endpoints["authorization_endpoint"]),
        token_endpoint=str(endpoints["token_endpoint"]),
        par_endpoint=str(endpoints["pushed_authorization_request_endpoint"]),
        revocation_endpoint=http_url(doc.get("revocation_endpoint")),
        jwks_uri=http_url(doc.get("jwks_uri")),
    )


class IdentityResolver:
    """Resolves identities over HTTP. No caching here: callers that verify on every request
    (``RemoteTokenVerifier``) cache on top; a login wants fresh answers."""

    def __init__(
        self, http: httpx.AsyncClient, plc_url: str, handle_resolver_url: str | None = None
    ) -> None:
        self._http = http
        self._plc_url = plc_url.rstrip("/")
        self._handle_resolver_url = handle_resolver_url.rstrip("/") if handle_resolver_url else None

    async def resolve_handle(self, handle: str) -> str:
        """``com.atproto.identity.resolveHandle`` at the configured service; UnknownHandle."""
        handle = handle.strip().lower().removeprefix("@")
        if not is_valid_handle(handle):
            raise UnknownHandle(f"{handle[:64]!r} is not a valid handle")
        if self._handle_resolver_url is None:
            raise ResolutionError("no handle resolver is configured")
        url = (
            f"{self._handle_resolver_url}/xrpc/com.atproto.identity.resolveHandle"
            f"?handle={quote(handle, safe='')}"
        )
        try:
            response = await self._http.get(
                url, timeout=httpx.Timeout(DEFAULT_TIMEOUT_S), follow_redirects=False
            )
        except httpx.HTTPError as exc:
            raise ResolutionError(f"handle resolution failed: {type(exc).__name__}") from exc
        if response.status_code == 400:
            raise UnknownHandle(f"handle {handle} does not resolve")
        if response.status_code != 200:
            raise ResolutionError(f"handle resolution: HTTP {response.status_code}")
        try:
            did = response.json().get("did")
        except (ValueError, AttributeError) as exc:
            raise ResolutionError("handle resolution answered something other than JSON") from exc
        if not is_supported_did(did):
            raise UnknownHandle(f"handle {handle} resolves to an unsupported DID")
        # Bidirectional check: the DID document must claim the handle back.
        info = await self.resolve_did(did)
        if info.handle != handle:
            raise UnknownHandle(f"the DID document of {did} does not claim handle {handle}")
        return str(did)

    def did_document_url(self, did: str) -> str:
        if _PLC_DID.fullmatch(did):
            return f"{self._plc_url}/{did}"
        if _WEB_DID.fullmatch(did):
            host = unquote(did[len("did:web:") :])
            bare = host.rsplit(":", 1)[0] if ":" in host else host
            scheme = "http" if bare in _LOOPBACK_HOSTS else "https"
            return f"{scheme}://{host}/.well-known/did.json"
        raise ResolutionError(f"unsupported DID {did[:64]!r} (did:plc and did:web only)")

    async def resolve_did(self, did: str) -> DidInfo:
        url = self.did_document_url(did)
        return parse_did_document(await fetch_json(self._http, url, what="DID document"), did)

    async def authorization_server_of(self, pds_url: str) -> str:
        """The (first and only) issuer a PDS's protected-resource metadata names."""
        doc = await fetch_json(
            self._http,
            f"{pds_url.rstrip('/')}/.well-known/oauth-protected-resource",
            what="protected resource metadata",
        )
        servers = doc.get("authorization_servers") if isinstance(doc, dict) else None
        if not isinstance(servers, list) or not servers or http_url(servers[0]) is None:
            raise ResolutionError(f"{pds_url} names no authorization server")
        return str(servers[0]).rstrip("/")

    async def authorization_server_metadata(self, issuer: str) -> AuthServerMetadata:
        doc = await fetch_json(
            self._http,
            f"{issuer.rstrip('/')}/.well-known/oauth-authorization-server",
            what="authorization server metadata",
        )
        return parse_as_metadata(doc, issuer)

    async def jwks(self, jwks_uri: str) -> list[dict[str, Any]]:
        doc = await fetch_json(self._http, jwks_uri, what="JWKS")
        keys = doc.get("keys") if isinstance(doc, dict) else None
        if not isinstance(keys, list):
            raise ResolutionError(f"JWKS at {jwks_uri} has no keys list")
        return [k for k in keys if isinstance(k, dict)]
