"""Probes of a PDS's OAuth authorization server (PDS-06..PDS-11): they send, ``checks.oauth``
judges.

Every probe takes its dependencies as arguments: an ``OAuthClient`` (the harness as a loopback
public client, or a confidential one), the ``AuthServerInfo`` discovery found, and credentials
where a probe has to sign in. Probes that need the AS to get *past* a step (a code for a token
request, a session for a refresh) drive the earlier steps with the client's own step methods and
raise ``OAuthFlowError`` when those fail — the harness could not set up, which is an *error*,
not a verdict. Every set of negative cases comes with a valid *control* request.

DPoP: each probe uses a fresh key and nonce store. Unless a probe is about nonces, its requests
behave like a real client's: a ``use_dpop_nonce`` answer is retried once with the nonce handed
out, so the server's verdict is about the defect the probe carries.

``Probe.case`` strings describe what was sent; they never contain a token, code, verifier,
assertion or proof.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
from cryptography.hazmat.primitives.asymmetric import ec
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from conformance.clients.dpop import DpopAuth, DpopKey, NonceStore
from conformance.clients.oauth import (
    DEFAULT_REDIRECT_URI,
    DEFAULT_SCOPE,
    MAX_FORM_STEPS,
    AuthServerInfo,
    OAuthClient,
    OAuthFlowError,
    OAuthSession,
    Pkce,
    parse_forms,
)
from conformance.localserver import free_port, serve_in_thread
from conformance.redact import Redactor
from conformance.scenarios.base import NegativeProbes, Probe, is_success, json_body

CLIENT_METADATA_PATH = "/oauth-client-metadata.json"
CLIENT_JWKS_PATH = "/jwks.json"
UNREGISTERED_REDIRECT_PATH = "/atconform-not-registered"


# --- small helpers --------------------------------------------------------------------------


def oauth_error(response: httpx.Response) -> str | None:
    """The ``error`` of an OAuth JSON error body (RFC 6749 §5.2), if the body is one."""
    body = json_body(response)
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, str) else None


def redirect_params(response: httpx.Response) -> dict[str, str]:
    """The query (or fragment) parameters of a redirect's ``Location``; ``{}`` if none."""
    location = response.headers.get("location")
    if not response.is_redirect or not location:
        return {}
    parts = urlsplit(location)
    return dict(parse_qsl(parts.query or parts.fragment, keep_blank_values=True))


def redirect_target(response: httpx.Response) -> str | None:
    """``Location`` without query and fragment (where the redirect goes), if a redirect."""
    location = response.headers.get("location")
    if not response.is_redirect or not location:
        return None
    return location.split("#", 1)[0].split("?", 1)[0]


def fresh_dpop(client: OAuthClient, *, retries: int = 1) -> DpopAuth:
    """DPoP with a new key and an empty nonce store; ``retries=0`` shows the first answer."""
    return client.new_dpop_auth(DpopKey.generate(), nonces=NonceStore(), max_nonce_retries=retries)


@dataclass(frozen=True)
class Pushed:
    """A PAR the probe sent, with what it needs to go on (PKCE pair, state, DPoP)."""

    response: httpx.Response
    pkce: Pkce = field(repr=False)
    state: str
    dpop: DpopAuth | None = field(repr=False)

    @property
    def request_uri(self) -> str | None:
        body = json_body(self.response) if is_success(self.response) else None
        value = body.get("request_uri") if isinstance(body, dict) else None
        return value if isinstance(value, str) and value else None


def push(
    client: OAuthClient,
    server: AuthServerInfo,
    *,
    dpop: DpopAuth | None,
    pkce: Pkce | None = None,
    changes: Mapping[str, str | None] | None = None,
    client_auth: Mapping[str, str] | None = None,
    login_hint: str | None = None,
) -> Pushed:
    """Send a PAR: the client's normal parameters with ``changes`` applied (``None`` drops one)."""
    pkce = pkce or Pkce.generate()
    state = secrets.token_urlsafe(16)
    params: dict[str, str] = client.authorization_params(pkce, state, login_hint=login_hint)
    for name, value in (changes or {}).items():
        if value is None:
            params.pop(name, None)
        else:
            params[name] = value
    response = client.pushed_authorization_request(
        server, params, dpop=dpop, client_auth=client_auth
    )
    return Pushed(response, pkce, state, dpop)


def _require_request_uri(pushed: Pushed) -> str:
    request_uri = pushed.request_uri
    if request_uri is None:
        raise OAuthFlowError(
            "PAR",
            f"a correct pushed authorization request was refused (HTTP "
            f"{pushed.response.status_code}, error {oauth_error(pushed.response)!r})",
            pushed.response,
        )
    return request_uri


@dataclass(frozen=True)
class CodeGrant:
    """An authorization code obtained through PAR → page → form, and what redeems it."""

    code: str = field(repr=False)
    pkce: Pkce = field(repr=False)
    dpop: DpopAuth = field(repr=False)


def obtain_code(
    client: OAuthClient, server: AuthServerInfo, identifier: str, password: str
) -> CodeGrant:
    """PAR (DPoP, PKCE S256) → the authorization page → the form POST → the code (setup)."""
    dpop = fresh_dpop(client)
    pushed = push(client, server, dpop=dpop, login_hint=identifier)
    redirect = client.authorize(server, _require_request_uri(pushed), identifier, password)
    result = client.parse_authorization_redirect(
        redirect,
        state=pushed.state,
        issuer=server.issuer,
        require_iss=server.iss_parameter_required,
    )
    return CodeGrant(result.code, pushed.pkce, dpop)


def redeem(
    client: OAuthClient,
    server: AuthServerInfo,
    grant: CodeGrant,
    *,
    verifier: str | None = None,
    without_dpop: bool = False,
) -> httpx.Response:
    """The token request for ``grant`` (its own verifier and DPoP key unless told otherwise)."""
    params = client.code_grant_params(grant.code, verifier or grant.pkce.verifier)
    return client.token_request(server, params, dpop=None if without_dpop else grant.dpop)


# --- PDS-06 ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class DiscoveryProbes:
    """The discovery documents as served: protected-resource metadata, the AS metadata of the
    (first) authorization server it names, and the AS's JWKS (``None`` where a step had no URL
    to go on)."""

    resource_metadata: Probe
    issuer: str | None
    server_metadata: Probe | None
    jwks: Probe | None


def probe_discovery(http: httpx.Client, pds_url: str) -> DiscoveryProbes:
    resource = http.get(f"{pds_url.rstrip('/')}/.well-known/oauth-protected-resource")
    body = json_body(resource) if resource.status_code == 200 else None
    servers = body.get("authorization_servers") if isinstance(body, dict) else None
    issuer = servers[0] if isinstance(servers, list) and servers else None
    issuer = issuer if isinstance(issuer, str) and issuer else None
    server_probe: Probe | None = None
    jwks_probe: Probe | None = None
    if issuer is not None:
        server_response = http.get(f"{issuer.rstrip('/')}/.well-known/oauth-authorization-server")
        server_probe = Probe("GET the authorization server metadata", server_response)
        metadata = json_body(server_response) if server_response.status_code == 200 else None
        jwks_uri = metadata.get("jwks_uri") if isinstance(metadata, dict) else None
        if isinstance(jwks_uri, str) and jwks_uri:
            jwks_probe = Probe("GET the jwks_uri", http.get(jwks_uri))
    return DiscoveryProbes(
        Probe("GET /.well-known/oauth-protected-resource", resource),
        issuer,
        server_probe,
        jwks_probe,
    )


# --- PDS-07 ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class AsNonceProbes:
    """PDS-07: the first DPoP PAR without a nonce, and the same PAR retried with the nonce the
    server handed out (``None`` when it handed none out)."""

    first: Probe
    retry: Probe | None


def probe_par_nonce(client: OAuthClient, server: AuthServerInfo) -> AsNonceProbes:
    dpop = fresh_dpop(client, retries=0)
    pkce = Pkce.generate()
    first = push(client, server, dpop=dpop, pkce=pkce)
    retry: Probe | None = None
    if first.response.headers.get("dpop-nonce"):
        # The auth stored the nonce from the first answer; this proof carries it.
        again = push(client, server, dpop=dpop, pkce=pkce)
        retry = Probe("the same PAR retried with the DPoP-Nonce handed out", again.response)
    return AsNonceProbes(
        Probe("a PAR with a valid DPoP proof but no nonce (a first request)", first.response),
        retry,
    )


def probe_par_without_dpop(client: OAuthClient, server: AuthServerInfo) -> NegativeProbes:
    """PDS-07: a PAR with no DPoP header (the control: the same PAR with DPoP)."""
    control = push(client, server, dpop=fresh_dpop(client))
    case = push(client, server, dpop=None)
    return NegativeProbes(
        Probe("a correct PAR with a DPoP proof", control.response),
        (Probe("a PAR without any DPoP header", case.response),),
    )


def probe_unpushed_authorization(client: OAuthClient, server: AuthServerInfo) -> NegativeProbes:
    """PDS-07: GET the authorization endpoint with the parameters in the query, not pushed.

    Control: the authorization page of a pushed request.
    """
    pushed = push(client, server, dpop=fresh_dpop(client))
    control_response = client.authorization_page(server, _require_request_uri(pushed))
    pkce = Pkce.generate()
    params = client.authorization_params(pkce, secrets.token_urlsafe(16))
    case = client.http.get(
        server.authorization_endpoint,
        params=params,
        headers={"Accept": "text/html"},
        follow_redirects=False,
    )
    return NegativeProbes(
        Probe("the authorization page of a pushed request (request_uri)", control_response),
        (
            Probe(
                "GET authorize with response_type, redirect_uri and code_challenge in the query "
                "but no request_uri (not pushed)",
                case,
            ),
        ),
    )


def probe_token_without_dpop(
    client: OAuthClient, server: AuthServerInfo, identifier: str, password: str
) -> NegativeProbes:
    """PDS-07: redeem a valid code without a DPoP header (the control: another code, with DPoP).

    Two codes, so a server that burns a code on a refused request does not fail the control.
    """
    refused = obtain_code(client, server, identifier, password)
    case = redeem(client, server, refused, without_dpop=True)
    accepted = obtain_code(client, server, identifier, password)
    control = redeem(client, server, accepted)
    return NegativeProbes(
        Probe("a correct token request (valid code, verifier and DPoP proof)", control),
        (Probe("a token request for a valid code without any DPoP header", case),),
    )


# --- PDS-08 ---------------------------------------------------------------------------------


def probe_pkce_methods(client: OAuthClient, server: AuthServerInfo) -> NegativeProbes:
    """PDS-08: PAR with ``plain`` PKCE, and with no code challenge (control: S256)."""
    dpop = fresh_dpop(client)
    control = push(client, server, dpop=dpop)
    plain = push(client, server, dpop=dpop, pkce=Pkce.plain())
    missing = push(
        client, server, dpop=dpop, changes={"code_challenge": None, "code_challenge_method": None}
    )
    return NegativeProbes(
        Probe("a PAR with an S256 code challenge", control.response),
        (
            Probe("a PAR with code_challenge_method plain", plain.response),
            Probe("a PAR without code_challenge and code_challenge_method", missing.response),
        ),
    )


def probe_wrong_verifier(
    client: OAuthClient, server: AuthServerInfo, identifier: str, password: str
) -> NegativeProbes:
    """PDS-08: redeem a valid code with a verifier that does not match its S256 challenge.

    Control: the whole S256 flow with the right verifier (on a code of its own).
    """
    refused = obtain_code(client, server, identifier, password)
    case = redeem(client, server, refused, verifier=Pkce.generate().verifier)
    accepted = obtain_code(client, server, identifier, password)
    control = redeem(client, server, accepted)
    return NegativeProbes(
        Probe("the S256 flow redeemed with the right code_verifier", control),
        (Probe("a valid code redeemed with another code_verifier", case),),
    )


# --- PDS-09 ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class AuthorizationProbes:
    """PDS-09: the authorization page of a pushed request and the form POST(s) that followed
    (the last one should be the redirect back to the client)."""

    page: Probe
    submissions: tuple[Probe, ...]
    state: str
    redirect_uri: str


def probe_authorization(
    client: OAuthClient, server: AuthServerInfo, identifier: str, password: str
) -> AuthorizationProbes:
    pushed = push(client, server, dpop=fresh_dpop(client), login_hint=identifier)
    request_uri = _require_request_uri(pushed)
    page = client.authorization_page(server, request_uri)
    cookies = httpx.Cookies()
    current = page
    submissions: list[Probe] = []
    for step in range(MAX_FORM_STEPS):
        if current.status_code != 200 or "html" not in current.headers.get("content-type", ""):
            break
        forms = [f for f in parse_forms(current.text) if f.method == "post"]
        if not forms:
            break
        cookies.extract_cookies(current)
        credentials = step == 0 or any(f.has_password() for f in forms)
        response = client.submit_authorization_form(
            current,
            request_uri=request_uri,
            identifier=identifier if credentials else None,
            password=password if credentials else None,
            cookies=cookies,
        )
        what = "handle, password and consent=allow" if credentials else "consent=allow"
        submissions.append(Probe(f"form POST #{step + 1} ({what})", response))
        if response.is_redirect:
            break
        current = response
    return AuthorizationProbes(
        Probe("GET the authorization page of a pushed request", page),
        tuple(submissions),
        pushed.state,
        client.redirect_uri,
    )


# --- PDS-10 ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class TokenExchange:
    """PDS-10: the token endpoint's answer to a correct code grant, and the thumbprint of the
    DPoP key the client used (what ``cnf.jkt`` must be)."""

    response: Probe
    jkt: str


def probe_token_exchange(
    client: OAuthClient, server: AuthServerInfo, identifier: str, password: str
) -> TokenExchange:
    grant = obtain_code(client, server, identifier, password)
    response = redeem(client, server, grant)
    return TokenExchange(
        Probe("a correct token request (code grant, S256 verifier, DPoP)", response),
        grant.dpop.key.thumbprint,
    )


def probe_jwks(http: httpx.Client, server: AuthServerInfo) -> Probe | None:
    """GET the AS's ``jwks_uri`` (``None`` when the metadata names none)."""
    if server.jwks_uri is None:
        return None
    return Probe("GET the jwks_uri", http.get(server.jwks_uri))


@dataclass(frozen=True)
class RefreshReuse:
    """PDS-10: a refresh (must succeed) and the same refresh token presented again."""

    first: Probe
    reuse: Probe


def probe_refresh_reuse(client: OAuthClient, session: OAuthSession) -> RefreshReuse:
    first = client.refresh_request(session)
    reuse = client.refresh_request(session)
    return RefreshReuse(
        Probe("a refresh with the session's refresh token and DPoP key", first),
        Probe("the same (already used) refresh token again", reuse),
    )


def probe_refresh_key_binding(
    client: OAuthClient, victim: OAuthSession, control: OAuthSession, stranger: DpopKey
) -> NegativeProbes:
    """PDS-10: ``victim``'s refresh token with a proof by another key; the control refreshes
    ``control`` (another session) with its own key, so a server that burns the token on the
    refused attempt does not fail the control."""
    other = client.new_dpop_auth(stranger, nonces=NonceStore())
    case = client.refresh_request(victim, dpop=other)
    accepted = client.refresh_request(control)
    return NegativeProbes(
        Probe("a refresh with the session's own DPoP key", accepted),
        (Probe("a refresh token presented with a proof by another DPoP key", case),),
    )


@dataclass(frozen=True)
class RevocationProbes:
    """PDS-10: a resource request before revocation, the revocation (``None`` when the AS has
    no ``revocation_endpoint``), then the access token at the PDS and the refresh token at the
    token endpoint."""

    before: Probe
    revoke: Probe | None
    access_after: Probe | None
    refresh_after: Probe | None


def probe_revocation(
    client: OAuthClient, session: OAuthSession, resource_url: str
) -> RevocationProbes:
    """Revoke the session's refresh token (a client's logout: RFC 7009 §2.1 says the AS should
    then invalidate the access tokens of the same grant), then try both tokens."""
    before = client.http.get(resource_url, auth=session.auth())
    before_probe = Probe("a resource request with the access token", before)
    if session.revocation_endpoint is None:
        return RevocationProbes(before_probe, None, None, None)
    revoke = client.revoke(session)
    access_after = client.http.get(resource_url, auth=session.auth())
    refresh_after = client.refresh_request(session) if session.refresh_token else None
    return RevocationProbes(
        before_probe,
        Probe("POST the refresh token to the revocation endpoint", revoke),
        Probe("the access token at the PDS after revocation", access_after),
        None
        if refresh_after is None
        else Probe("the refresh token at the token endpoint after revocation", refresh_after),
    )


# --- PDS-11 ---------------------------------------------------------------------------------


def probe_redirect_uri(client: OAuthClient, server: AuthServerInfo) -> NegativeProbes:
    """PDS-11: a PAR whose ``redirect_uri`` the client metadata does not list."""
    dpop = fresh_dpop(client)
    control = push(client, server, dpop=dpop)
    parts = urlsplit(client.redirect_uri)
    unknown = f"{parts.scheme}://{parts.netloc}{UNREGISTERED_REDIRECT_PATH}"
    case = push(client, server, dpop=dpop, changes={"redirect_uri": unknown})
    return NegativeProbes(
        Probe("a PAR with the client's registered redirect_uri", control.response),
        (Probe("a PAR with a redirect_uri the client metadata does not list", case.response),),
    )


def probe_unreachable_client(
    client: OAuthClient, server: AuthServerInfo, unreachable_client_id: str
) -> NegativeProbes:
    """PDS-11: a PAR whose ``client_id`` is the URL of a document nobody serves.

    Control: the same PAR by ``client`` (its own, reachable or loopback, client id).
    """
    dpop = fresh_dpop(client)
    control = push(client, server, dpop=dpop)
    stranger = OAuthClient(
        client.http,
        client.redactor,
        client_id=unreachable_client_id,
        redirect_uri=client.redirect_uri,
        scope=client.scope,
    )
    case = push(stranger, server, dpop=dpop, client_auth={})
    return NegativeProbes(
        Probe("a PAR by a client whose metadata the server can get", control.response),
        (Probe("a PAR whose client_id URL serves no document (unreachable)", case.response),),
    )


def probe_loopback_client(client: OAuthClient, server: AuthServerInfo) -> Probe:
    """PDS-11: a PAR by an ATProto loopback client (``http://localhost?...``)."""
    pushed = push(client, server, dpop=fresh_dpop(client))
    return Probe("a PAR by a loopback client (client_id http://localhost?...)", pushed.response)


def probe_client_assertion_iat(
    client: OAuthClient, server: AuthServerInfo, *, future_s: float = 300.0
) -> NegativeProbes:
    """PDS-11: a confidential client's PAR with a fresh ``private_key_jwt`` assertion (control)
    and with one whose ``iat`` is ``future_s`` seconds ahead.

    The DPoP nonce is learnt first, so neither request needs a retry (a retry would present
    the same assertion twice).
    """
    if not client.is_confidential:
        raise ValueError("the assertion probe needs a confidential client")
    dpop = fresh_dpop(client, retries=0)
    push(client, server, dpop=dpop, client_auth={})  # learns the nonce (stored in the auth)
    dpop = client.new_dpop_auth(dpop.key, nonces=dpop.nonces, max_nonce_retries=1)
    control = push(client, server, dpop=dpop, client_auth=client.client_auth_params(server.issuer))
    future = push(
        client,
        server,
        dpop=dpop,
        client_auth=client.client_auth_params(server.issuer, iat_offset_s=future_s),
    )
    return NegativeProbes(
        Probe("a PAR with a fresh private_key_jwt client assertion", control.response),
        (
            Probe(
                f"a PAR with a client assertion whose iat is {future_s:g} s in the future",
                future.response,
            ),
        ),
    )


def client_metadata_app(document: Mapping[str, Any], jwks: Mapping[str, Any]) -> Starlette:
    """A tiny app serving a client's metadata document and its JWKS (public keys only)."""
    doc, keys = dict(document), dict(jwks)

    async def metadata(request: Request) -> Response:
        return JSONResponse(doc)

    async def key_set(request: Request) -> Response:
        return JSONResponse(keys)

    return Starlette(
        routes=[
            Route(CLIENT_METADATA_PATH, metadata, methods=["GET"]),
            Route(CLIENT_JWKS_PATH, key_set, methods=["GET"]),
        ]
    )


@contextmanager
def hosted_confidential_client(
    http: httpx.Client,
    redactor: Redactor,
    *,
    redirect_uri: str = DEFAULT_REDIRECT_URI,
    scope: str = DEFAULT_SCOPE,
    host: str = "127.0.0.1",
) -> Iterator[OAuthClient]:
    """A confidential (``private_key_jwt``) client whose metadata document and JWKS are served on
    loopback while the block runs; its ``client_id`` is the document's URL."""
    port = free_port(host)
    base = f"http://{host}:{port}"
    client = OAuthClient(
        http,
        redactor,
        client_id=f"{base}{CLIENT_METADATA_PATH}",
        redirect_uri=redirect_uri,
        scope=scope,
        client_assertion_key=ec.generate_private_key(ec.SECP256R1()),
    )
    app = client_metadata_app(client.metadata_document(), client.public_jwks())
    with serve_in_thread(app, host=host, port=port):
        yield client


def closed_loopback_url(host: str = "127.0.0.1") -> str:
    """A client metadata URL on a loopback port nothing listens on."""
    return f"http://{host}:{free_port(host)}{CLIENT_METADATA_PATH}"
