"""The harness's own ATProto OAuth client: it logs in by itself, DPoP throughout.

``OAuthClient.login`` runs discovery → PAR (PKCE S256, DPoP) → the authorization page → the
sign-in/consent form POST → the redirect (``code``, ``state``, ``iss``) → the token request, and
returns an ``OAuthSession`` whose ``auth()`` signs resource-server requests.

Each step is also a public method returning the raw ``httpx.Response`` and taking its parameters
as a plain dict, so suites can probe one step with deliberately wrong input (``plain`` PKCE, no
DPoP, a wrong verifier, a reused refresh token, an unknown ``redirect_uri``...).

Everything secret (password, PKCE verifier, code, tokens, client assertions, DPoP proofs) is
registered with the Redactor the moment it exists. The default client is an ATProto *loopback*
public client (``client_id = http://localhost?redirect_uri=...&scope=...``); passing
``client_assertion_key`` makes it a confidential client authenticating with ``private_key_jwt``
(its ``client_id`` must then be the URL of a metadata document, see ``metadata_document``).
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urljoin, urlsplit

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

from conformance.clients.dpop import DpopAuth, DpopKey, NonceStore, jwk_thumbprint
from conformance.redact import Redactor

DEFAULT_REDIRECT_URI = "http://127.0.0.1/callback"
DEFAULT_SCOPE = "atproto transition:generic"
CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
MAX_FORM_STEPS = 3

_REQUIRED_AS_FIELDS = (
    "issuer",
    "authorization_endpoint",
    "token_endpoint",
    "pushed_authorization_request_endpoint",
)


class OAuthFlowError(Exception):
    """A login step did not work; the harness cannot continue (an *error*, not a *fail*)."""

    def __init__(self, step: str, message: str, response: httpx.Response | None = None) -> None:
        status = f" (HTTP {response.status_code})" if response is not None else ""
        super().__init__(f"OAuth {step}{status}: {message}")
        self.step = step
        self.message = message
        self.response = response


# --- values -------------------------------------------------------------------------------------


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


@dataclass(frozen=True)
class Pkce:
    """A PKCE pair (RFC 7636). ``generate()`` gives S256; probes build other ones directly."""

    verifier: str = field(repr=False)
    challenge: str
    method: str = "S256"

    @classmethod
    def generate(cls) -> Pkce:
        verifier = secrets.token_urlsafe(48)  # 64 characters of the unreserved set
        return cls(verifier, s256_challenge(verifier), "S256")

    @classmethod
    def plain(cls) -> Pkce:
        verifier = secrets.token_urlsafe(48)
        return cls(verifier, verifier, "plain")


def s256_challenge(verifier: str) -> str:
    return _b64url(hashlib.sha256(verifier.encode("ascii")).digest())


@dataclass(frozen=True)
class AuthServerInfo:
    """What discovery found: the AS endpoints the flow needs, plus the full documents."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    pushed_authorization_request_endpoint: str
    revocation_endpoint: str | None = None
    jwks_uri: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict, repr=False)
    resource: str | None = None  # the protected resource (PDS) discovery started from
    resource_metadata: Mapping[str, Any] | None = field(default=None, repr=False)

    @property
    def iss_parameter_required(self) -> bool:
        return self.metadata.get("authorization_response_iss_parameter_supported") is True


@dataclass(frozen=True)
class AuthorizationRedirect:
    """The parameters of the redirect back to the client."""

    code: str = field(repr=False)
    state: str | None
    iss: str | None
    location: str = field(repr=False)


@dataclass(frozen=True)
class OAuthSession:
    """A logged-in OAuth session. ``repr`` never shows tokens or keys."""

    did: str
    scope: str
    access_token: str = field(repr=False)
    refresh_token: str | None = field(repr=False)
    expires_at: float | None
    dpop_key: DpopKey = field(repr=False)
    issuer: str
    token_endpoint: str
    client_id: str
    revocation_endpoint: str | None = None
    nonces: NonceStore = field(default_factory=NonceStore, repr=False, compare=False)
    secret_sink: Callable[[str], None] | None = field(default=None, repr=False, compare=False)

    def auth(self, *, max_nonce_retries: int = 1) -> DpopAuth:
        """DPoP auth for resource-server requests (token + ``ath``), sharing the nonce store."""
        return DpopAuth(
            self.dpop_key,
            self.access_token,
            nonces=self.nonces,
            secret_sink=self.secret_sink,
            max_nonce_retries=max_nonce_retries,
        )


# --- the authorization page's form ----------------------------------------------------------


@dataclass(frozen=True)
class HtmlField:
    tag: str  # "input" | "button" | "textarea" | "select"
    name: str
    value: str
    type: str


@dataclass(frozen=True)
class HtmlForm:
    action: str
    method: str
    fields: tuple[HtmlField, ...]

    def has_password(self) -> bool:
        return any(f.type == "password" for f in self.fields)


class _FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[HtmlForm] = []
        self._current: dict[str, str] | None = None
        self._fields: list[HtmlField] = []
        self._textarea: tuple[str, list[str]] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attr = {k.lower(): (v or "") for k, v in attrs}
        if tag == "form":
            self._current = attr
            self._fields = []
        elif self._current is None:
            return
        elif tag in ("input", "button") and attr.get("name"):
            default_type = "text" if tag == "input" else "submit"
            field_type = (attr.get("type") or default_type).lower()
            if field_type in ("checkbox", "radio") and "checked" not in attr:
                return
            self._fields.append(HtmlField(tag, attr["name"], attr.get("value", ""), field_type))
        elif tag == "textarea" and attr.get("name"):
            self._textarea = (attr["name"], [])

    def handle_data(self, data: str) -> None:
        if self._textarea is not None:
            self._textarea[1].append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "textarea" and self._textarea is not None:
            name, parts = self._textarea
            self._fields.append(HtmlField("textarea", name, "".join(parts), "textarea"))
            self._textarea = None
        elif tag == "form" and self._current is not None:
            self.forms.append(
                HtmlForm(
                    action=self._current.get("action", ""),
                    method=(self._current.get("method") or "get").lower(),
                    fields=tuple(self._fields),
                )
            )
            self._current = None


def parse_forms(document: str) -> list[HtmlForm]:
    """Every ``<form>`` of an HTML document with its action, method and submittable fields."""
    parser = _FormParser()
    parser.feed(document)
    parser.close()
    return parser.forms


_IDENTIFIER_NAMES = ("handle", "identifier", "username", "login", "email")
_SUBMIT_TYPES = ("submit", "button", "image", "reset")


def fill_authorization_form(
    form: HtmlForm,
    *,
    request_uri: str,
    client_id: str,
    identifier: str | None,
    password: str | None,
    consent: str = "allow",
) -> list[tuple[str, str]]:
    """The fields to POST: the form's own values, credentials where it asks, consent, ids."""
    fields: list[tuple[str, str]] = []
    password_name: str | None = None
    identifier_name: str | None = None
    consent_values: list[str] = []
    for f in form.fields:
        if f.type == "password":
            password_name = password_name or f.name
        elif f.name == "consent" or f.type in _SUBMIT_TYPES:
            if f.name == "consent":
                consent_values.append(f.value)
        elif f.type != "hidden" and f.name.lower() in _IDENTIFIER_NAMES and not identifier_name:
            identifier_name = f.name
        else:
            fields.append((f.name, f.value))
    if identifier is not None and password is not None:
        identifier_name = identifier_name or "handle"
        password_name = password_name or "password"
        fields = [(n, v) for n, v in fields if n not in (identifier_name, password_name)]
        fields.append((identifier_name, identifier))
        fields.append((password_name, password))
    names = {name for name, _ in fields}
    if "request_uri" not in names:
        fields.append(("request_uri", request_uri))
    if "client_id" not in names:
        fields.append(("client_id", client_id))
    if consent_values and consent not in consent_values:
        raise ValueError(f"the form offers consent values {consent_values}, not {consent!r}")
    fields.append(("consent", consent))
    return fields


# --- the client ---------------------------------------------------------------------------------


def loopback_client_id(redirect_uri: str, scope: str) -> str:
    """An ATProto loopback client id naming its redirect URI and scope."""
    query = urlencode({"redirect_uri": redirect_uri, "scope": scope}, quote_via=quote)
    return f"http://localhost?{query}"


def _json_object(response: httpx.Response) -> dict[str, Any] | None:
    try:
        body = json.loads(response.content)
    except (ValueError, UnicodeDecodeError):
        return None
    return body if isinstance(body, dict) else None


def _describe_error(response: httpx.Response) -> str:
    body = _json_object(response)
    if body and "error" in body:
        description = body.get("error_description") or body.get("message") or ""
        return f"{body['error']}: {description}".rstrip(": ")
    text = response.text
    if "html" in response.headers.get("content-type", ""):
        text = re.sub(r"(?is)<(style|script)\b.*?</\1>", " ", text)
        text = html.unescape(re.sub(r"<[^>]+>", " ", text))
    text = " ".join(text.split())
    return f"HTTP {response.status_code}: {text[:300]}" if text else f"HTTP {response.status_code}"


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


class OAuthClient:
    """An ATProto OAuth client (loopback public client by default)."""

    def __init__(
        self,
        http: httpx.Client,
        redactor: Redactor,
        client_id: str | None = None,
        redirect_uri: str = DEFAULT_REDIRECT_URI,
        scope: str = DEFAULT_SCOPE,
        client_assertion_key: ec.EllipticCurvePrivateKey | None = None,
        *,
        client_assertion_kid: str | None = None,
    ) -> None:
        self.http = http
        self.redactor = redactor
        self.redirect_uri = redirect_uri
        self.scope = scope
        self.client_id = client_id or loopback_client_id(redirect_uri, scope)
        self.client_assertion_key = client_assertion_key
        if client_assertion_key is not None and client_assertion_kid is None:
            client_assertion_kid = jwk_thumbprint(self._public_jwk(client_assertion_key))
        self.client_assertion_kid = client_assertion_kid

    def __repr__(self) -> str:
        kind = "confidential" if self.client_assertion_key is not None else "public"
        return f"OAuthClient({self.client_id!r}, {kind})"

    @property
    def is_confidential(self) -> bool:
        return self.client_assertion_key is not None

    # --- discovery ------------------------------------------------------------------------------

    def discover(self, pds_url: str) -> AuthServerInfo:
        """Protected-resource metadata of ``pds_url`` → its (first) authorization server."""
        url = f"{pds_url.rstrip('/')}/.well-known/oauth-protected-resource"
        response = self.http.get(url)
        resource = _json_object(response) if response.status_code == 200 else None
        if resource is None:
            raise OAuthFlowError("discovery", f"{url} did not return a JSON document", response)
        servers = resource.get("authorization_servers")
        if not isinstance(servers, list) or not servers or not isinstance(servers[0], str):
            raise OAuthFlowError("discovery", f"{url} names no authorization_servers", response)
        info = self.fetch_server_metadata(servers[0])
        return AuthServerInfo(
            issuer=info.issuer,
            authorization_endpoint=info.authorization_endpoint,
            token_endpoint=info.token_endpoint,
            pushed_authorization_request_endpoint=info.pushed_authorization_request_endpoint,
            revocation_endpoint=info.revocation_endpoint,
            jwks_uri=info.jwks_uri,
            metadata=info.metadata,
            resource=pds_url.rstrip("/"),
            resource_metadata=resource,
        )

    def fetch_server_metadata(self, issuer: str) -> AuthServerInfo:
        """``<issuer>/.well-known/oauth-authorization-server``, with the fields the flow needs."""
        url = f"{issuer.rstrip('/')}/.well-known/oauth-authorization-server"
        response = self.http.get(url)
        metadata = _json_object(response) if response.status_code == 200 else None
        if metadata is None:
            raise OAuthFlowError("discovery", f"{url} did not return a JSON document", response)
        missing = [k for k in _REQUIRED_AS_FIELDS if not isinstance(metadata.get(k), str)]
        if missing:
            raise OAuthFlowError(
                "discovery", f"authorization server metadata lacks {', '.join(missing)}", response
            )
        if metadata["issuer"].rstrip("/") != issuer.rstrip("/"):
            raise OAuthFlowError(
                "discovery",
                f"metadata issuer {metadata['issuer']!r} differs from {issuer!r} (RFC 8414 §3.3)",
                response,
            )
        revocation = metadata.get("revocation_endpoint")
        jwks_uri = metadata.get("jwks_uri")
        return AuthServerInfo(
            issuer=metadata["issuer"],
            authorization_endpoint=metadata["authorization_endpoint"],
            token_endpoint=metadata["token_endpoint"],
            pushed_authorization_request_endpoint=metadata["pushed_authorization_request_endpoint"],
            revocation_endpoint=revocation if isinstance(revocation, str) else None,
            jwks_uri=jwks_uri if isinstance(jwks_uri, str) else None,
            metadata=metadata,
        )

    # --- building blocks ----------------------------------------------------------------------

    def new_dpop_auth(
        self,
        key: DpopKey | None = None,
        *,
        nonces: NonceStore | None = None,
        access_token: str | None = None,
        max_nonce_retries: int = 1,
    ) -> DpopAuth:
        """A DpopAuth whose proofs are registered with the redactor."""
        return DpopAuth(
            key or DpopKey.generate(),
            access_token,
            nonces=nonces,
            secret_sink=self.redactor.add,
            max_nonce_retries=max_nonce_retries,
        )

    @staticmethod
    def _public_jwk(key: ec.EllipticCurvePrivateKey) -> dict[str, Any]:
        jwk: dict[str, Any] = ECAlgorithm.to_jwk(key.public_key(), as_dict=True)
        return {k: jwk[k] for k in ("kty", "crv", "x", "y")}

    def public_jwks(self) -> dict[str, Any]:
        """The JWKS a confidential client publishes (empty for a public client)."""
        if self.client_assertion_key is None:
            return {"keys": []}
        jwk = self._public_jwk(self.client_assertion_key)
        jwk.update({"kid": self.client_assertion_kid, "alg": "ES256", "use": "sig"})
        return {"keys": [jwk]}

    def metadata_document(self, *, client_name: str = "atconform") -> dict[str, Any]:
        """The client metadata document to serve at ``client_id`` (confidential/web clients)."""
        doc: dict[str, Any] = {
            "client_id": self.client_id,
            "client_name": client_name,
            "application_type": "web",
            "redirect_uris": [self.redirect_uri],
            "scope": self.scope,
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "dpop_bound_access_tokens": True,
            "token_endpoint_auth_method": "none",
        }
        if self.client_assertion_key is not None:
            doc["token_endpoint_auth_method"] = "private_key_jwt"  # noqa: S105
            doc["token_endpoint_auth_signing_alg"] = "ES256"  # noqa: S105
            doc["jwks"] = self.public_jwks()
        return doc

    def client_assertion(
        self, issuer: str, *, iat_offset_s: float = 0.0, jti: str | None = None
    ) -> str:
        """A ``private_key_jwt`` assertion (``iss = sub = client_id``, ``aud = issuer``)."""
        if self.client_assertion_key is None:
            raise ValueError("a public client has no client assertion key")
        iat = int(time.time() + iat_offset_s)
        claims = {
            "iss": self.client_id,
            "sub": self.client_id,
            "aud": issuer,
            "jti": jti or secrets.token_urlsafe(16),
            "iat": iat,
            "exp": iat + 60,
        }
        assertion = jwt.encode(
            claims,
            self.client_assertion_key,
            algorithm="ES256",
            headers={"kid": self.client_assertion_kid, "typ": "JWT"},
        )
        self.redactor.add(assertion)
        return assertion

    def client_auth_params(self, issuer: str, *, iat_offset_s: float = 0.0) -> dict[str, str]:
        """Client authentication form fields: none for a public client, else an assertion."""
        if self.client_assertion_key is None:
            return {}
        return {
            "client_assertion_type": CLIENT_ASSERTION_TYPE,
            "client_assertion": self.client_assertion(issuer, iat_offset_s=iat_offset_s),
        }

    def authorization_params(
        self,
        pkce: Pkce,
        state: str,
        *,
        login_hint: str | None = None,
        redirect_uri: str | None = None,
        scope: str | None = None,
    ) -> dict[str, str]:
        """The PAR body (without client authentication)."""
        self.redactor.add(pkce.verifier)
        params = {
            "client_id": self.client_id,
            "response_type": "code",
            "redirect_uri": redirect_uri or self.redirect_uri,
            "scope": scope or self.scope,
            "state": state,
            "code_challenge": pkce.challenge,
            "code_challenge_method": pkce.method,
        }
        if login_hint:
            params["login_hint"] = login_hint
        return params

    def _post_form(
        self,
        url: str,
        params: Mapping[str, str],
        *,
        dpop: DpopAuth | None,
        client_auth: Mapping[str, str],
    ) -> httpx.Response:
        body = dict(params)
        for key, value in client_auth.items():
            body.setdefault(key, value)
        return self.http.post(
            url,
            content=urlencode(body).encode("ascii"),
            headers={"Content-Type": FORM_CONTENT_TYPE, "Accept": "application/json"},
            auth=dpop if dpop is not None else httpx.USE_CLIENT_DEFAULT,
        )

    def _client_auth(
        self, server: AuthServerInfo, client_auth: Mapping[str, str] | None
    ) -> Mapping[str, str]:
        return self.client_auth_params(server.issuer) if client_auth is None else client_auth

    # --- steps (raw) --------------------------------------------------------------------------

    def pushed_authorization_request(
        self,
        server: AuthServerInfo,
        params: Mapping[str, str],
        *,
        dpop: DpopAuth | None,
        client_auth: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """POST ``params`` to the PAR endpoint. ``client_auth=None`` adds the client's default
        authentication; pass ``{}`` to send none. ``dpop=None`` sends no DPoP proof."""
        return self._post_form(
            server.pushed_authorization_request_endpoint,
            params,
            dpop=dpop,
            client_auth=self._client_auth(server, client_auth),
        )

    def authorization_page(self, server: AuthServerInfo, request_uri: str) -> httpx.Response:
        """GET the authorization endpoint as a browser would (no DPoP)."""
        return self.http.get(
            server.authorization_endpoint,
            params={"client_id": self.client_id, "request_uri": request_uri},
            headers={"Accept": "text/html"},
            follow_redirects=False,
        )

    def submit_authorization_form(
        self,
        page: httpx.Response,
        *,
        request_uri: str,
        identifier: str | None,
        password: str | None,
        consent: str = "allow",
        cookies: httpx.Cookies | None = None,
    ) -> httpx.Response:
        """POST the page's sign-in/consent form (parsed, not assumed); redirects not followed."""
        forms = [f for f in parse_forms(page.text) if f.method == "post"]
        if not forms:
            raise OAuthFlowError("authorize", "the authorization page has no POST form", page)
        form = next((f for f in forms if f.has_password()), forms[0])
        if password is not None:
            self.redactor.add(password)
        fields = fill_authorization_form(
            form,
            request_uri=request_uri,
            client_id=self.client_id,
            identifier=identifier,
            password=password,
            consent=consent,
        )
        page_url = str(page.url)
        headers = {
            "Content-Type": FORM_CONTENT_TYPE,
            "Accept": "text/html",
            "Origin": _origin(page_url),
        }
        if cookies:
            headers["Cookie"] = "; ".join(f"{name}={value}" for name, value in cookies.items())
        return self.http.post(
            urljoin(page_url, form.action or page_url),
            content=urlencode(fields).encode("utf-8"),
            headers=headers,
            follow_redirects=False,
        )

    def authorize(
        self,
        server: AuthServerInfo,
        request_uri: str,
        identifier: str,
        password: str,
        *,
        consent: str = "allow",
    ) -> httpx.Response:
        """Page → form POST(s) until the AS redirects; returns that redirect response.

        Cookies the AS sets during the flow are kept for this flow only (sent explicitly), so
        one account's AS session never leaks into another account's login.
        """
        page = self.authorization_page(server, request_uri)
        cookies = httpx.Cookies()
        for step in range(MAX_FORM_STEPS):
            if page.status_code != 200 or "html" not in page.headers.get("content-type", ""):
                raise OAuthFlowError(
                    "authorize", f"expected the HTML page, got {_describe_error(page)}", page
                )
            cookies.extract_cookies(page)
            first = step == 0
            forms = parse_forms(page.text)
            asks_password = any(f.has_password() for f in forms)
            response = self.submit_authorization_form(
                page,
                request_uri=request_uri,
                identifier=identifier if (first or asks_password) else None,
                password=password if (first or asks_password) else None,
                consent=consent,
                cookies=cookies,
            )
            if response.is_redirect:
                return response
            page = response
        raise OAuthFlowError(
            "authorize", f"no redirect after {MAX_FORM_STEPS} form submissions", page
        )

    def parse_authorization_redirect(
        self, response: httpx.Response, *, state: str, issuer: str, require_iss: bool = True
    ) -> AuthorizationRedirect:
        """Read the redirect's ``code``/``state``/``iss`` (checking state and issuer)."""
        location = response.headers.get("location")
        if not response.is_redirect or not location:
            raise OAuthFlowError(
                "authorize", f"expected a redirect, got {_describe_error(response)}", response
            )
        parts = urlsplit(location)
        params = dict(parse_qsl(parts.query or parts.fragment, keep_blank_values=True))
        code = params.get("code")
        if code:
            self.redactor.add(code)
        if "error" in params:
            detail = params.get("error_description", "")
            raise OAuthFlowError(
                "authorize", f"redirected with error {params['error']}: {detail}", response
            )
        expected_redirect = self.redirect_uri.split("?", 1)[0]
        if location.split("?", 1)[0].split("#", 1)[0] != expected_redirect:
            raise OAuthFlowError(
                "authorize",
                f"redirected to {location.split('?', 1)[0]!r}, not the client",
                response,
            )
        if not code:
            raise OAuthFlowError("authorize", "redirect carries no code", response)
        if params.get("state") != state:
            raise OAuthFlowError("authorize", "redirect state does not match", response)
        iss = params.get("iss")
        if (iss is not None or require_iss) and iss != issuer:
            raise OAuthFlowError(
                "authorize", f"redirect iss {iss!r} is not the issuer {issuer!r}", response
            )
        return AuthorizationRedirect(
            code=code, state=params.get("state"), iss=iss, location=location
        )

    def code_grant_params(
        self, code: str, verifier: str, *, redirect_uri: str | None = None
    ) -> dict[str, str]:
        self.redactor.add(code)
        self.redactor.add(verifier)
        return {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri or self.redirect_uri,
            "code_verifier": verifier,
            "client_id": self.client_id,
        }

    def refresh_grant_params(self, refresh_token: str) -> dict[str, str]:
        self.redactor.add(refresh_token)
        return {
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            "client_id": self.client_id,
        }

    def token_request(
        self,
        server: AuthServerInfo,
        params: Mapping[str, str],
        *,
        dpop: DpopAuth | None,
        client_auth: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """POST ``params`` to the token endpoint; registers any tokens in a 2xx answer."""
        response = self._post_form(
            server.token_endpoint,
            params,
            dpop=dpop,
            client_auth=self._client_auth(server, client_auth),
        )
        self._register_tokens(response)
        return response

    def refresh_request(
        self, session: OAuthSession, *, dpop: DpopAuth | None = None
    ) -> httpx.Response:
        """The raw refresh-token request (DPoP with the session's key unless ``dpop`` given)."""
        if session.refresh_token is None:
            raise ValueError("the session has no refresh token")
        return self.token_request(
            self._server_of(session),
            self.refresh_grant_params(session.refresh_token),
            dpop=dpop or self.new_dpop_auth(session.dpop_key, nonces=session.nonces),
        )

    def revocation_request(
        self,
        session: OAuthSession,
        token: str,
        *,
        token_type_hint: str | None = None,
        dpop: DpopAuth | None = None,
    ) -> httpx.Response:
        if session.revocation_endpoint is None:
            raise OAuthFlowError("revoke", "the authorization server has no revocation_endpoint")
        params = {"token": token, "client_id": self.client_id}
        if token_type_hint:
            params["token_type_hint"] = token_type_hint
        server = self._server_of(session)
        return self._post_form(
            session.revocation_endpoint,
            params,
            dpop=dpop or self.new_dpop_auth(session.dpop_key, nonces=session.nonces),
            client_auth=self._client_auth(server, None),
        )

    # --- the whole flow -----------------------------------------------------------------------

    def login(
        self,
        pds_url: str,
        identifier: str,
        password: str,
        *,
        server: AuthServerInfo | None = None,
    ) -> OAuthSession:
        """Log in as ``identifier`` and return a DPoP-bound session. Raises ``OAuthFlowError``."""
        self.redactor.add(password)
        server = server or self.discover(pds_url)
        key = DpopKey.generate()
        nonces = NonceStore()
        dpop = self.new_dpop_auth(key, nonces=nonces)
        pkce = Pkce.generate()
        state = secrets.token_urlsafe(16)

        par = self.pushed_authorization_request(
            server,
            self.authorization_params(pkce, state, login_hint=identifier),
            dpop=dpop,
        )
        par_body = _json_object(par)
        if par.status_code not in (200, 201) or not par_body or "request_uri" not in par_body:
            raise OAuthFlowError("PAR", _describe_error(par), par)
        request_uri = str(par_body["request_uri"])

        redirect = self.authorize(server, request_uri, identifier, password)
        result = self.parse_authorization_redirect(
            redirect, state=state, issuer=server.issuer, require_iss=server.iss_parameter_required
        )
        token = self.token_request(
            server, self.code_grant_params(result.code, pkce.verifier), dpop=dpop
        )
        return self.session_from_token_response(token, server, key, nonces)

    def refresh(self, session: OAuthSession) -> OAuthSession:
        """Exchange the refresh token (single use) for a new session with the same DPoP key."""
        response = self.refresh_request(session)
        new = self.session_from_token_response(
            response, self._server_of(session), session.dpop_key, session.nonces
        )
        if new.did != session.did:
            raise OAuthFlowError("refresh", f"refreshed sub {new.did!r} is not {session.did!r}")
        return new

    def revoke(self, session: OAuthSession) -> httpx.Response:
        """Revoke the session (its refresh token if it has one, else its access token)."""
        if session.refresh_token is not None:
            return self.revocation_request(
                session,
                session.refresh_token,
                token_type_hint="refresh_token",  # noqa: S106
            )
        return self.revocation_request(
            session,
            session.access_token,
            token_type_hint="access_token",  # noqa: S106
        )

    def session_from_token_response(
        self,
        response: httpx.Response,
        server: AuthServerInfo,
        key: DpopKey,
        nonces: NonceStore,
    ) -> OAuthSession:
        body = _json_object(response)
        if response.status_code != 200 or body is None:
            raise OAuthFlowError("token", _describe_error(response), response)
        access_token = body.get("access_token")
        token_type = body.get("token_type")
        sub = body.get("sub")
        if not isinstance(access_token, str) or not access_token:
            raise OAuthFlowError("token", "token response has no access_token", response)
        if not isinstance(token_type, str) or token_type.lower() != "dpop":
            raise OAuthFlowError("token", f"token_type is {token_type!r}, not DPoP", response)
        if not isinstance(sub, str) or not sub.startswith("did:"):
            raise OAuthFlowError("token", f"token response sub {sub!r} is not a DID", response)
        refresh_token = body.get("refresh_token")
        expires_in = body.get("expires_in")
        scope = body.get("scope")
        return OAuthSession(
            did=sub,
            scope=scope if isinstance(scope, str) else "",
            access_token=access_token,
            refresh_token=refresh_token if isinstance(refresh_token, str) else None,
            expires_at=time.time() + expires_in if isinstance(expires_in, int | float) else None,
            dpop_key=key,
            issuer=server.issuer,
            token_endpoint=server.token_endpoint,
            client_id=self.client_id,
            revocation_endpoint=server.revocation_endpoint,
            nonces=nonces,
            secret_sink=self.redactor.add,
        )

    # --- helpers --------------------------------------------------------------------------------

    def _register_tokens(self, response: httpx.Response) -> None:
        body = _json_object(response) if response.is_success else None
        if body:
            for key in ("access_token", "refresh_token", "id_token"):
                value = body.get(key)
                if isinstance(value, str):
                    self.redactor.add(value)

    @staticmethod
    def _server_of(session: OAuthSession) -> AuthServerInfo:
        """Enough of the server for the token/revocation steps of an existing session."""
        return AuthServerInfo(
            issuer=session.issuer,
            authorization_endpoint="",
            token_endpoint=session.token_endpoint,
            pushed_authorization_request_endpoint="",
            revocation_endpoint=session.revocation_endpoint,
        )
