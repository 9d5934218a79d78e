"""A tiny ATProto OAuth authorization server (+ the PDS resource endpoint it protects) for
testing the PDS-06..PDS-11 checks over real HTTP.

It follows the ATProto profile closely enough for the harness's control requests: discovery
documents, PAR with DPoP (server nonces) and PKCE S256, loopback and URL client IDs (metadata
documents fetched from the client_id URL, ``private_key_jwt`` assertions), an HTML sign-in form
whose POST redirects with ``code``/``state``/``iss``, a token endpoint issuing ES256 access
tokens bound to the DPoP key (``cnf.jkt``) with single-use refresh tokens, revocation, and a
``getSession`` resource endpoint. ``misbehaviour`` breaks exactly one rule. Written for the
tests only; it shares no code with ``reference_impl``.
"""

from __future__ import annotations

import base64
import hashlib
import html
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from conformance.clients.dpop import access_token_hash, jwk_thumbprint
from conformance.localserver import serve_in_thread

MISBEHAVIOURS = frozenset(
    {
        # PDS-06
        "no_require_par",  # metadata lacks require_pushed_authorization_requests
        "plain_advertised",  # code_challenge_methods_supported = [S256, plain]
        "no_private_key_jwt",  # token_endpoint_auth_methods_supported = [none]
        "two_auth_servers",  # protected-resource metadata names two servers
        "private_jwks",  # jwks_uri serves the private key (d)
        # PDS-07
        "accept_unpushed",  # GET authorize without request_uri redirects with a code
        "par_without_dpop",  # PAR without a DPoP header accepted
        "token_without_dpop",  # token request without a DPoP header accepted
        "no_nonce_required",  # DPoP proofs without a nonce accepted
        "nonce_error_without_header",  # use_dpop_nonce without a DPoP-Nonce header
        # PDS-08
        "accept_plain",  # plain PKCE accepted
        "accept_missing_challenge",  # PAR without a code challenge accepted
        "ignore_verifier",  # the code_verifier is not checked
        "verifier_wrong_error",  # a wrong verifier answered invalid_request
        # PDS-09
        "json_page",  # the authorization page is JSON, not HTML
        "no_iss",  # the redirect carries no iss
        "wrong_state",  # the redirect carries another state
        # PDS-10
        "no_sub_in_response",  # token response without sub
        "no_cnf",  # access tokens without cnf.jkt
        "long_exp",  # access tokens valid for an hour
        "foreign_signing_key",  # access tokens signed by a key not in the JWKS
        "reuse_refresh",  # refresh tokens are not single use
        "refresh_any_key",  # refresh accepted with a proof by any key
        "no_revocation",  # the revocation endpoint does nothing
        # PDS-11
        "any_redirect_uri",  # redirect_uri not checked against the client metadata
        "unreachable_invalid_client",  # unreachable client metadata → invalid_client
        "reject_loopback",  # loopback client IDs refused
        "no_iat_check",  # client assertions with a future iat accepted
        # controls
        "refuse_all_par",  # every PAR refused (the control must notice)
    }
)

ACCESS_TTL_S = 600
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
PAR_PATH = "/oauth/par"
AUTHORIZE_PATH = "/oauth/authorize"
TOKEN_PATH = "/oauth/token"
REVOKE_PATH = "/oauth/revoke"
JWKS_PATH = "/oauth/jwks"
RESOURCE_PATH = "/xrpc/com.atproto.server.getSession"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class _Refuse(Exception):
    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status


@dataclass
class Grant:
    """One OAuth session: who, which client, which DPoP key."""

    did: str
    client_id: str
    jkt: str | None
    scope: str
    revoked: bool = False


@dataclass
class FakeAs:
    misbehaviour: str | None = None
    base: str = ""
    handle: str = "alice.test"
    did: str = "did:plc:alicealicealicealice2345"
    password: str = field(default_factory=lambda: secrets.token_urlsafe(12))
    nonce: str = field(default_factory=lambda: secrets.token_urlsafe(12))
    signing_key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )
    foreign_key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )
    pushed: dict[str, dict[str, Any]] = field(default_factory=dict)
    codes: dict[str, dict[str, Any]] = field(default_factory=dict)
    access: dict[str, Grant] = field(default_factory=dict)
    refresh: dict[str, tuple[Grant, bool]] = field(default_factory=dict)  # token → (grant, used)
    seen_jti: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        if self.misbehaviour is not None and self.misbehaviour not in MISBEHAVIOURS:
            raise ValueError(f"unknown misbehaviour {self.misbehaviour!r}")

    def broken(self, name: str) -> bool:
        return self.misbehaviour == name

    @property
    def kid(self) -> str:
        return jwk_thumbprint(self.public_jwk(self.signing_key))

    @staticmethod
    def public_jwk(key: ec.EllipticCurvePrivateKey) -> dict[str, Any]:
        jwk: dict[str, Any] = ECAlgorithm.to_jwk(key.public_key(), as_dict=True)
        return {k: jwk[k] for k in ("kty", "crv", "x", "y")}


# --- pieces -----------------------------------------------------------------------------------


def _error(exc: _Refuse, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse(
        {"error": exc.error, "error_description": exc.description},
        status_code=exc.status,
        headers=headers,
    )


def _verify_dpop(
    state: FakeAs, request: Request, *, access_token: str | None = None, resource: bool = False
) -> str | None:
    """The proof's key thumbprint; ``None`` when there is no proof and the fault allows it."""
    proofs = request.headers.getlist("dpop")
    status = 401 if resource else 400
    if not proofs:
        if state.broken("par_without_dpop") and request.url.path == PAR_PATH:
            return None
        if state.broken("token_without_dpop") and request.url.path == TOKEN_PATH:
            return None
        raise _Refuse("invalid_dpop_proof", "DPoP proof required", status)
    if len(proofs) != 1:
        raise _Refuse("invalid_dpop_proof", "one DPoP proof expected", status)
    try:
        header = jwt.get_unverified_header(proofs[0])
        if header.get("typ") != "dpop+jwt" or header.get("alg") != "ES256":
            raise _Refuse("invalid_dpop_proof", "bad typ or alg", status)
        key = jwt.PyJWK(header["jwk"]).key
        claims = jwt.decode(proofs[0], key, algorithms=["ES256"])
    except (jwt.PyJWTError, KeyError, ValueError) as exc:
        raise _Refuse("invalid_dpop_proof", f"unparsable proof: {exc}", status) from exc
    if claims.get("htm") != request.method or claims.get("htu") != str(request.url).split("?")[0]:
        raise _Refuse("invalid_dpop_proof", "htm/htu mismatch", status)
    if abs(int(claims.get("iat", 0)) - time.time()) > 60:
        raise _Refuse("invalid_dpop_proof", "iat out of window", status)
    if access_token is not None and claims.get("ath") != access_token_hash(access_token):
        raise _Refuse("invalid_dpop_proof", "ath mismatch", status)
    with state.lock:
        if claims.get("jti") in state.seen_jti:
            raise _Refuse("invalid_dpop_proof", "replayed proof", status)
        state.seen_jti.add(str(claims.get("jti")))
    if claims.get("nonce") != state.nonce and not state.broken("no_nonce_required"):
        raise _Refuse("use_dpop_nonce", "nonce required", status)
    return jwk_thumbprint(header["jwk"])


def _loopback_metadata(client_id: str) -> dict[str, Any]:
    params = parse_qsl(urlsplit(client_id).query)
    return {
        "client_id": client_id,
        "redirect_uris": [v for k, v in params if k == "redirect_uri"] or ["http://127.0.0.1/"],
        "scope": next((v for k, v in params if k == "scope"), "atproto"),
        "token_endpoint_auth_method": "none",
    }


async def _client_metadata(state: FakeAs, client_id: str | None) -> dict[str, Any]:
    if not client_id:
        raise _Refuse("invalid_request", "client_id is required")
    parts = urlsplit(client_id)
    if parts.scheme == "http" and parts.netloc == "localhost":
        if state.broken("reject_loopback"):
            raise _Refuse("invalid_client", "loopback clients are not allowed")
        return _loopback_metadata(client_id)
    try:
        async with httpx.AsyncClient(timeout=5.0) as http:
            response = await http.get(client_id)
        response.raise_for_status()
        doc = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        if state.broken("unreachable_invalid_client"):
            raise _Refuse("invalid_client", "client metadata could not be fetched") from exc
        raise _Refuse("unauthorized_client", "client metadata could not be fetched") from exc
    if not isinstance(doc, dict) or doc.get("client_id") != client_id:
        raise _Refuse("invalid_client", "client metadata does not name this client_id")
    return doc


def _authenticate(state: FakeAs, meta: dict[str, Any], form: dict[str, str]) -> None:
    if meta.get("token_endpoint_auth_method", "none") == "none":
        if "client_assertion" in form:
            raise _Refuse("invalid_client", "public client sent an assertion")
        return
    if form.get("client_assertion_type") != ASSERTION_TYPE or not form.get("client_assertion"):
        raise _Refuse("invalid_client", "client assertion required")
    assertion = form["client_assertion"]
    keys = (meta.get("jwks") or {}).get("keys") or []
    for jwk in keys:
        try:
            claims = jwt.decode(
                assertion,
                jwt.PyJWK(jwk).key,
                algorithms=["ES256"],
                audience=state.base,
                options={"verify_iat": False},
            )
        except jwt.PyJWTError:
            continue
        if claims.get("iss") != meta["client_id"] or claims.get("sub") != meta["client_id"]:
            raise _Refuse("invalid_client", "assertion iss/sub must be the client_id")
        if claims.get("iat", 0) > time.time() + 10 and not state.broken("no_iat_check"):
            raise _Refuse("invalid_client", "iat claim timestamp check failed")
        with state.lock:
            if claims.get("jti") in state.seen_jti:
                raise _Refuse("invalid_client", "assertion replayed")
            state.seen_jti.add(str(claims.get("jti")))
        return
    raise _Refuse("invalid_client", "assertion signature does not verify")


def _issue(state: FakeAs, grant: Grant) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": state.base,
        "sub": grant.did,
        "aud": state.base,
        "iat": now,
        "exp": now + (3600 if state.broken("long_exp") else ACCESS_TTL_S),
        "jti": secrets.token_urlsafe(12),
        "scope": grant.scope,
        "client_id": grant.client_id,
    }
    if grant.jkt is not None and not state.broken("no_cnf"):
        claims["cnf"] = {"jkt": grant.jkt}
    key = state.foreign_key if state.broken("foreign_signing_key") else state.signing_key
    access = jwt.encode(claims, key, algorithm="ES256", headers={"typ": "at+jwt", "kid": state.kid})
    refresh = "rt-" + secrets.token_urlsafe(24)
    with state.lock:
        state.access[access] = grant
        state.refresh[refresh] = (grant, False)
    body: dict[str, Any] = {
        "access_token": access,
        "token_type": "DPoP",
        "expires_in": ACCESS_TTL_S,
        "refresh_token": refresh,
        "scope": grant.scope,
        "sub": grant.did,
    }
    if state.broken("no_sub_in_response"):
        del body["sub"]
    return body


def _page(state: FakeAs, request_uri: str, client_id: str) -> str:
    esc = html.escape
    return f"""<!doctype html><html><head><title>Sign in</title></head><body>
<form method="post" action="{AUTHORIZE_PATH}">
  <input type="hidden" name="request_uri" value="{esc(request_uri)}">
  <input type="hidden" name="client_id" value="{esc(client_id)}">
  <label>Handle <input type="text" name="handle"></label>
  <label>Password <input type="password" name="password"></label>
  <button type="submit" name="consent" value="allow">Allow</button>
  <button type="submit" name="consent" value="deny">Deny</button>
</form></body></html>"""


# --- the app ----------------------------------------------------------------------------------


def build_fake_as(state: FakeAs) -> Starlette:
    def nonce_headers() -> dict[str, str]:
        return {"DPoP-Nonce": state.nonce, "Cache-Control": "no-store"}

    def as_error(exc: _Refuse) -> Response:
        headers = nonce_headers()
        if exc.error == "use_dpop_nonce" and state.broken("nonce_error_without_header"):
            headers = {}
        return _error(exc, headers)

    async def resource_metadata(request: Request) -> Response:
        servers = [state.base]
        if state.broken("two_auth_servers"):
            servers.append("http://127.0.0.1:1")
        return JSONResponse({"resource": state.base, "authorization_servers": servers})

    async def server_metadata(request: Request) -> Response:
        b = state.base
        doc: dict[str, Any] = {
            "issuer": b,
            "authorization_endpoint": b + AUTHORIZE_PATH,
            "token_endpoint": b + TOKEN_PATH,
            "pushed_authorization_request_endpoint": b + PAR_PATH,
            "require_pushed_authorization_requests": True,
            "revocation_endpoint": b + REVOKE_PATH,
            "jwks_uri": b + JWKS_PATH,
            "scopes_supported": ["atproto", "transition:generic"],
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["none", "private_key_jwt"],
            "dpop_signing_alg_values_supported": ["ES256"],
            "authorization_response_iss_parameter_supported": True,
            "client_id_metadata_document_supported": True,
        }
        if state.broken("no_require_par"):
            del doc["require_pushed_authorization_requests"]
        if state.broken("plain_advertised"):
            doc["code_challenge_methods_supported"] = ["S256", "plain"]
        if state.broken("no_private_key_jwt"):
            doc["token_endpoint_auth_methods_supported"] = ["none"]
        return JSONResponse(doc)

    async def jwks(request: Request) -> Response:
        jwk = {**state.public_jwk(state.signing_key), "kid": state.kid, "alg": "ES256"}
        if state.broken("private_jwks"):
            d = state.signing_key.private_numbers().private_value.to_bytes(32, "big")
            jwk["d"] = _b64url(d)
        return JSONResponse({"keys": [jwk]})

    async def par(request: Request) -> Response:
        form = {k: str(v) for k, v in (await request.form()).items()}
        try:
            if state.broken("refuse_all_par"):
                raise _Refuse("temporarily_unavailable", "no")
            jkt = _verify_dpop(state, request)
            meta = await _client_metadata(state, form.get("client_id"))
            _authenticate(state, meta, form)
            if form.get("response_type") != "code":
                raise _Refuse("unsupported_response_type", "response_type must be code")
            redirect_uri = form.get("redirect_uri", "")
            if redirect_uri not in meta.get("redirect_uris", []) and not state.broken(
                "any_redirect_uri"
            ):
                raise _Refuse("invalid_request", "redirect_uri is not registered")
            method = form.get("code_challenge_method")
            challenge = form.get("code_challenge")
            if not challenge and not state.broken("accept_missing_challenge"):
                raise _Refuse("invalid_request", "code_challenge is required")
            if challenge and method != "S256" and not state.broken("accept_plain"):
                raise _Refuse("invalid_request", "only S256 is supported")
        except _Refuse as exc:
            return as_error(exc)
        request_uri = "urn:ietf:params:oauth:request_uri:" + secrets.token_urlsafe(12)
        with state.lock:
            state.pushed[request_uri] = {**form, "_jkt": jkt}
        return JSONResponse(
            {"request_uri": request_uri, "expires_in": 60}, status_code=201, headers=nonce_headers()
        )

    def code_redirect(pushed: dict[str, Any], did: str) -> Response:
        code = "code-" + secrets.token_urlsafe(16)
        with state.lock:
            state.codes[code] = {**pushed, "_did": did}
        params: dict[str, str] = {"code": code, "state": pushed.get("state", "")}
        if state.broken("wrong_state"):
            params["state"] = "not-the-state-sent"
        if not state.broken("no_iss"):
            params["iss"] = state.base
        return RedirectResponse(f"{pushed['redirect_uri']}?{urlencode(params)}", status_code=303)

    async def authorize_page(request: Request) -> Response:
        query = dict(request.query_params)
        request_uri = query.get("request_uri")
        if request_uri is None:
            if state.broken("accept_unpushed") and query.get("redirect_uri"):
                return code_redirect(query, state.did)
            return HTMLResponse("<p>authorization requests must be pushed</p>", status_code=400)
        pushed = state.pushed.get(request_uri)
        if pushed is None or pushed.get("client_id") != query.get("client_id"):
            return HTMLResponse("<p>unknown request</p>", status_code=400)
        if state.broken("json_page"):
            return JSONResponse({"request_uri": request_uri})
        return HTMLResponse(_page(state, request_uri, pushed["client_id"]))

    async def authorize_submit(request: Request) -> Response:
        form = {k: str(v) for k, v in (await request.form()).items()}
        pushed = state.pushed.get(form.get("request_uri", ""))
        if pushed is None:
            return HTMLResponse("<p>unknown request</p>", status_code=400)
        if form.get("handle") != state.handle or form.get("password") != state.password:
            return HTMLResponse(_page(state, form["request_uri"], pushed["client_id"]), 401)
        if form.get("consent") != "allow":
            query = urlencode({"error": "access_denied", "iss": state.base})
            return RedirectResponse(f"{pushed['redirect_uri']}?{query}", status_code=303)
        with state.lock:
            state.pushed.pop(form["request_uri"], None)
        return code_redirect(pushed, state.did)

    def _exchange(form: dict[str, str], jkt: str | None) -> dict[str, Any]:
        with state.lock:
            pushed = state.codes.pop(form.get("code", ""), None)
        if pushed is None:
            raise _Refuse("invalid_grant", "unknown code")
        challenge = _b64url(hashlib.sha256(form.get("code_verifier", "").encode()).digest())
        if challenge != pushed.get("code_challenge") and not state.broken("ignore_verifier"):
            if state.broken("verifier_wrong_error"):
                raise _Refuse("invalid_request", "code_verifier mismatch")
            raise _Refuse("invalid_grant", "code_verifier does not match")
        if jkt is not None and pushed.get("_jkt") not in (None, jkt):
            raise _Refuse("invalid_grant", "DPoP key differs from the PAR's")
        grant = Grant(
            did=pushed["_did"],
            client_id=pushed["client_id"],
            jkt=jkt or pushed.get("_jkt"),
            scope=pushed.get("scope", "atproto"),
        )
        return _issue(state, grant)

    def _refresh(form: dict[str, str], jkt: str | None) -> dict[str, Any]:
        token = form.get("refresh_token", "")
        with state.lock:
            entry = state.refresh.get(token)
            if entry is None:
                raise _Refuse("invalid_grant", "unknown refresh token")
            grant, used = entry
            if grant.revoked:
                raise _Refuse("invalid_grant", "session revoked")
            if used and not state.broken("reuse_refresh"):
                raise _Refuse("invalid_grant", "refresh token already used")
            if jkt != grant.jkt and not state.broken("refresh_any_key"):
                raise _Refuse("invalid_grant", "DPoP key differs from the session's")
            state.refresh[token] = (grant, True)
        return _issue(state, grant)

    async def token(request: Request) -> Response:
        form = {k: str(v) for k, v in (await request.form()).items()}
        try:
            jkt = _verify_dpop(state, request)
            meta = await _client_metadata(state, form.get("client_id"))
            _authenticate(state, meta, form)
            if form.get("grant_type") == "authorization_code":
                body = _exchange(form, jkt)
            elif form.get("grant_type") == "refresh_token":
                body = _refresh(form, jkt)
            else:
                raise _Refuse("unsupported_grant_type", "unsupported grant_type")
        except _Refuse as exc:
            return as_error(exc)
        return JSONResponse(body, headers=nonce_headers())

    async def revoke(request: Request) -> Response:
        form = {k: str(v) for k, v in (await request.form()).items()}
        token = form.get("token", "")
        if not state.broken("no_revocation"):
            with state.lock:
                grant = state.access.get(token) or (state.refresh.get(token) or (None,))[0]
                if grant is not None:
                    grant.revoked = True
        return JSONResponse({})

    async def get_session(request: Request) -> Response:
        scheme, _, token = (request.headers.get("authorization") or "").partition(" ")
        try:
            if scheme != "DPoP" or not token:
                raise _Refuse("invalid_token", "DPoP token required", 401)
            jkt = _verify_dpop(state, request, access_token=token, resource=True)
            grant = state.access.get(token)
            if grant is None or grant.revoked or (grant.jkt is not None and grant.jkt != jkt):
                raise _Refuse("invalid_token", "token refused", 401)
        except _Refuse as exc:
            headers = {
                "WWW-Authenticate": f'DPoP error="{exc.error}"',
                "DPoP-Nonce": state.nonce,
            }
            return JSONResponse(
                {"error": "InvalidToken", "message": exc.description},
                status_code=exc.status,
                headers=headers,
            )
        return JSONResponse(
            {"did": grant.did, "handle": state.handle}, headers={"DPoP-Nonce": state.nonce}
        )

    return Starlette(
        routes=[
            Route("/.well-known/oauth-protected-resource", resource_metadata),
            Route("/.well-known/oauth-authorization-server", server_metadata),
            Route(JWKS_PATH, jwks),
            Route(PAR_PATH, par, methods=["POST"]),
            Route(AUTHORIZE_PATH, authorize_page, methods=["GET"]),
            Route(AUTHORIZE_PATH, authorize_submit, methods=["POST"]),
            Route(TOKEN_PATH, token, methods=["POST"]),
            Route(REVOKE_PATH, revoke, methods=["POST"]),
            Route(RESOURCE_PATH, get_session, methods=["GET"]),
        ]
    )


@contextmanager
def running_fake_as(misbehaviour: str | None = None) -> Iterator[FakeAs]:
    """Serve a fake AS (``state.base`` is its URL) until the block ends."""
    state = FakeAs(misbehaviour)
    with serve_in_thread(build_fake_as(state)) as base:
        state.base = base
        yield state
