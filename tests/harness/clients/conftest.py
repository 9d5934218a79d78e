"""Small local servers the client tests talk to over real HTTP (loopback, ``serve_in_thread``).

* ``nonce_server``: DPoP-verifying endpoints that demand nonces the way resource servers (401 +
  ``WWW-Authenticate``) and authorization servers (400 JSON) do.
* ``echo_server``: echoes requests and serves canned bodies (evidence, XRPC, PDS client tests).
* ``fake_as``: a minimal ATProto-style OAuth authorization server + protected resource
  (PAR with DPoP nonces, PKCE S256, an HTML sign-in form with a CSRF cookie, tokens, refresh,
  revocation), enough to exercise the OAuth client end to end.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import jwt
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from conformance.clients.dpop import access_token_hash, jwk_thumbprint
from conformance.localserver import serve_in_thread


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def verify_proof(request: Request, access_token: str | None = None) -> dict[str, Any]:
    """Verify the request's DPoP proof like a (lenient-on-time) server; raise ValueError."""
    values = request.headers.getlist("dpop")
    if len(values) != 1:
        raise ValueError("expected exactly one DPoP header")
    proof = values[0]
    header = jwt.get_unverified_header(proof)
    if header.get("typ") != "dpop+jwt" or header.get("alg") != "ES256":
        raise ValueError("bad typ/alg")
    key = jwt.PyJWK(header["jwk"]).key
    claims: dict[str, Any] = jwt.decode(proof, key, algorithms=["ES256"])
    if claims["htm"] != request.method:
        raise ValueError("htm mismatch")
    expected_htu = str(request.url).split("?", 1)[0]
    if claims["htu"] != expected_htu:
        raise ValueError(f"htu mismatch: {claims['htu']} != {expected_htu}")
    if abs(claims["iat"] - time.time()) > 30:
        raise ValueError("iat out of window")
    if access_token is not None and claims.get("ath") != access_token_hash(access_token):
        raise ValueError("ath mismatch")
    claims["_jkt"] = jwk_thumbprint(header["jwk"])
    claims["_proof"] = proof
    return claims


# --- nonce server -------------------------------------------------------------------------------


@dataclass
class NonceServerState:
    nonce: str = field(default_factory=lambda: secrets.token_urlsafe(8))
    previous: str | None = None
    rotate_every: int = 0  # rotate the nonce after every N accepted requests (0 = never)
    accepted: int = 0
    seen: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, **entry: Any) -> None:
        with self.lock:
            self.seen.append(entry)

    def valid(self, nonce: str | None) -> bool:
        with self.lock:
            return nonce is not None and nonce in (self.nonce, self.previous)

    def current(self) -> str:
        with self.lock:
            return self.nonce

    def accept(self) -> str:
        with self.lock:
            self.accepted += 1
            if self.rotate_every and self.accepted % self.rotate_every == 0:
                self.previous, self.nonce = self.nonce, secrets.token_urlsafe(8)
            return self.nonce

    def rotate(self, keep_previous: bool = True) -> None:
        with self.lock:
            self.previous = self.nonce if keep_previous else None
            self.nonce = secrets.token_urlsafe(8)


def build_nonce_app(state: NonceServerState) -> Starlette:
    def rs_challenge(error: str, nonce: str | None) -> Response:
        headers = {"WWW-Authenticate": f'DPoP error="{error}", error_description="x"'}
        if nonce:
            headers["DPoP-Nonce"] = nonce
        return JSONResponse({"error": error, "message": "x"}, status_code=401, headers=headers)

    async def resource(request: Request) -> Response:
        body = (await request.body()).decode()
        auth = request.headers.get("authorization")
        token = auth.split(" ", 1)[1] if auth and auth.startswith("DPoP ") else None
        try:
            claims = verify_proof(request, token)
        except (ValueError, KeyError, jwt.PyJWTError) as exc:
            state.record(path="rs", nonce=None, ok=False, body=body, error=str(exc))
            return rs_challenge("invalid_dpop_proof", None)
        nonce = claims.get("nonce")
        state.record(
            path="rs",
            nonce=nonce,
            ok=state.valid(nonce),
            body=body,
            auth=auth,
            proof=claims["_proof"],
        )
        if not state.valid(nonce):
            return rs_challenge("use_dpop_nonce", state.current())
        new_nonce = state.accept()
        return JSONResponse({"ok": True, "body": body}, headers={"DPoP-Nonce": new_nonce})

    async def token(request: Request) -> Response:
        body = (await request.body()).decode()
        try:
            claims = verify_proof(request)
        except (ValueError, KeyError, jwt.PyJWTError) as exc:
            state.record(path="as", nonce=None, ok=False, body=body, error=str(exc))
            return JSONResponse({"error": "invalid_dpop_proof"}, status_code=400)
        nonce = claims.get("nonce")
        state.record(
            path="as", nonce=nonce, ok=state.valid(nonce), body=body, proof=claims["_proof"]
        )
        if not state.valid(nonce):
            return JSONResponse(
                {"error": "use_dpop_nonce", "error_description": "nonce required"},
                status_code=400,
                headers={"DPoP-Nonce": state.current()},
            )
        return JSONResponse({"ok": True, "body": body}, headers={"DPoP-Nonce": state.accept()})

    async def never(request: Request) -> Response:
        state.record(path="never", nonce=None, ok=False, body="")
        return rs_challenge("use_dpop_nonce", secrets.token_urlsafe(8))

    async def invalid(request: Request) -> Response:
        state.record(path="invalid", nonce=None, ok=False, body="")
        return rs_challenge("invalid_dpop_proof", state.current())

    async def other_400(request: Request) -> Response:
        state.record(path="other400", nonce=None, ok=False, body="")
        return JSONResponse(
            {"error": "invalid_request"}, status_code=400, headers={"DPoP-Nonce": state.current()}
        )

    return Starlette(
        routes=[
            Route("/rs/resource", resource, methods=["GET", "POST"]),
            Route("/as/token", token, methods=["POST"]),
            Route("/rs/never", never, methods=["GET"]),
            Route("/rs/invalid", invalid, methods=["GET"]),
            Route("/as/other400", other_400, methods=["POST"]),
        ]
    )


@pytest.fixture
def nonce_server() -> Iterator[tuple[str, NonceServerState]]:
    state = NonceServerState()
    with serve_in_thread(build_nonce_app(state)) as url:
        yield url, state


# --- echo server --------------------------------------------------------------------------------


def build_echo_app() -> Starlette:
    async def echo(request: Request) -> Response:
        body = await request.body()
        return JSONResponse(
            {
                "method": request.method,
                "path": request.url.path,
                "query": list(request.query_params.multi_items()),
                "headers": {k: v for k, v in request.headers.items()},
                "body": body.decode("utf-8", errors="replace"),
            }
        )

    async def canned(request: Request) -> Response:
        kind = request.path_params["kind"]
        if kind == "session":
            return JSONResponse(
                {
                    "did": "did:plc:abc",
                    "handle": "a.test",
                    "accessJwt": "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhIn0.sig-access-123",
                    "refreshJwt": "opaque-refresh-token-xyz",
                },
                headers={"Set-Cookie": "sid=cookie-secret-value; HttpOnly"},
            )
        if kind == "car":
            return Response(
                b"\x0a\xa1\x65roots" + bytes(range(256)) * 4, media_type="application/vnd.ipld.car"
            )
        if kind == "big":
            return Response("x" * 20000, media_type="text/plain")
        if kind == "error":
            return JSONResponse(
                {"error": "InvalidRequest", "message": "bad param"}, status_code=400
            )
        if kind == "notjson":
            return Response("<html>oops</html>", status_code=500, media_type="text/html")
        if kind == "redirect":
            return RedirectResponse(
                "http://127.0.0.1/callback?code=the-auth-code-1&state=st&iss=x", status_code=303
            )
        return JSONResponse({"error": "NotFound"}, status_code=404)

    return Starlette(
        routes=[
            Route("/canned/{kind}", canned, methods=["GET", "POST"]),
            Route("/{path:path}", echo, methods=["GET", "POST", "PUT", "DELETE"]),
        ]
    )


@pytest.fixture
def echo_server() -> Iterator[str]:
    with serve_in_thread(build_echo_app()) as url:
        yield url


# --- fake OAuth authorization server ------------------------------------------------------------


@dataclass
class FakeAsState:
    base: str = ""
    nonce: str = field(default_factory=lambda: secrets.token_urlsafe(8))
    accounts: dict[str, tuple[str, str]] = field(default_factory=dict)  # handle -> (did, pw)
    par: dict[str, dict[str, Any]] = field(default_factory=dict)  # request_uri -> data
    codes: dict[str, dict[str, Any]] = field(default_factory=dict)
    refresh: dict[str, dict[str, Any]] = field(default_factory=dict)  # token -> grant
    revoked: set[str] = field(default_factory=set)
    form_posts: list[dict[str, str]] = field(default_factory=list)
    assertions: list[str] = field(default_factory=list)
    two_step_consent: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)


def build_fake_as(state: FakeAsState) -> Starlette:
    def oauth_error(error: str, headers: dict[str, str] | None = None) -> Response:
        return JSONResponse(
            {"error": error, "error_description": error}, status_code=400, headers=headers
        )

    def dpop_check(request: Request) -> dict[str, Any] | Response:
        try:
            claims = verify_proof(request)
        except (ValueError, KeyError, jwt.PyJWTError):
            return oauth_error("invalid_dpop_proof")
        if claims.get("nonce") != state.nonce:
            return oauth_error("use_dpop_nonce", {"DPoP-Nonce": state.nonce})
        return claims

    async def protected_resource(request: Request) -> Response:
        return JSONResponse({"resource": state.base, "authorization_servers": [state.base]})

    async def as_metadata(request: Request) -> Response:
        b = state.base
        return JSONResponse(
            {
                "issuer": b,
                "authorization_endpoint": f"{b}/oauth/authorize",
                "token_endpoint": f"{b}/oauth/token",
                "pushed_authorization_request_endpoint": f"{b}/oauth/par",
                "revocation_endpoint": f"{b}/oauth/revoke",
                "require_pushed_authorization_requests": True,
                "authorization_response_iss_parameter_supported": True,
                "code_challenge_methods_supported": ["S256"],
                "dpop_signing_alg_values_supported": ["ES256"],
            }
        )

    async def par(request: Request) -> Response:
        checked = dpop_check(request)
        if isinstance(checked, Response):
            return checked
        form = dict((await request.form()).items())
        if form.get("code_challenge_method") != "S256" or not form.get("code_challenge"):
            return oauth_error("invalid_request")
        if "client_assertion" in form:
            state.assertions.append(str(form["client_assertion"]))
        request_uri = f"urn:ietf:params:oauth:request_uri:{secrets.token_urlsafe(8)}"
        state.par[request_uri] = {"form": form, "jkt": checked["_jkt"]}
        return JSONResponse({"request_uri": request_uri, "expires_in": 60}, status_code=201)

    async def authorize_page(request: Request) -> Response:
        request_uri = request.query_params.get("request_uri", "")
        if request_uri not in state.par:
            return HTMLResponse("<p>unknown request</p>", status_code=400)
        csrf = secrets.token_urlsafe(8)
        state.par[request_uri]["csrf"] = csrf
        hint = state.par[request_uri]["form"].get("login_hint", "")
        html = f"""<!doctype html><html><body>
        <form method="get" action="/search"><input name="q"></form>
        <form method="POST" action="/oauth/authorize/sign-in">
          <input type="hidden" name="request_uri" value="{request_uri}">
          <input type="hidden" name="client_id" value="{request.query_params.get("client_id")}">
          <input type="hidden" name="csrf" value="{csrf}">
          <label>Handle <input type="text" name="username" value="{hint}"></label>
          <label>Password <input type="password" name="secret_word"></label>
          <input type="checkbox" name="remember" value="1">
          <button type="submit" name="consent" value="allow">Allow</button>
          <button type="submit" name="consent" value="deny">Deny</button>
        </form></body></html>"""
        response = HTMLResponse(html)
        response.set_cookie("csrf-cookie", csrf, httponly=True)
        return response

    def finish(data: dict[str, Any], did: str) -> Response:
        form = data["form"]
        code = secrets.token_urlsafe(12)
        state.codes[code] = {**data, "did": did}
        query = urlencode({"code": code, "state": form["state"], "iss": state.base})
        return RedirectResponse(f"{form['redirect_uri']}?{query}", status_code=303)

    async def sign_in(request: Request) -> Response:
        form = {k: str(v) for k, v in (await request.form()).items()}
        state.form_posts.append(form)
        data = state.par.get(form.get("request_uri", ""))
        if data is None or form.get("csrf") != data.get("csrf"):
            return HTMLResponse("bad request", status_code=400)
        if request.cookies.get("csrf-cookie") != data["csrf"]:
            return HTMLResponse("missing csrf cookie", status_code=400)
        account = state.accounts.get(form.get("username", ""))
        if account is None or account[1] != form.get("secret_word"):
            return HTMLResponse("wrong password", status_code=401)
        if form.get("consent") != "allow":
            query = urlencode(
                {"error": "access_denied", "state": data["form"]["state"], "iss": state.base}
            )
            return RedirectResponse(f"{data['form']['redirect_uri']}?{query}", status_code=303)
        if state.two_step_consent:
            data["did"] = account[0]
            return HTMLResponse(
                f"""<form method="post" action="/oauth/authorize/consent">
                <input type="hidden" name="request_uri" value="{form["request_uri"]}">
                <button name="consent" value="allow">Allow</button></form>"""
            )
        return finish(data, account[0])

    async def consent(request: Request) -> Response:
        form = {k: str(v) for k, v in (await request.form()).items()}
        state.form_posts.append(form)
        data = state.par[form["request_uri"]]
        return finish(data, data["did"])

    def issue(did: str, jkt: str, scope: str) -> dict[str, Any]:
        access = f"at-{secrets.token_urlsafe(16)}"
        refresh = f"rt-{secrets.token_urlsafe(16)}"
        state.refresh[refresh] = {"did": did, "jkt": jkt, "scope": scope}
        return {
            "access_token": access,
            "token_type": "DPoP",
            "refresh_token": refresh,
            "expires_in": 300,
            "scope": scope,
            "sub": did,
        }

    async def token(request: Request) -> Response:
        checked = dpop_check(request)
        if isinstance(checked, Response):
            return checked
        form = {k: str(v) for k, v in (await request.form()).items()}
        if "client_assertion" in form:
            state.assertions.append(form["client_assertion"])
        if form.get("grant_type") == "authorization_code":
            grant = state.codes.pop(form.get("code", ""), None)
            if grant is None:
                return oauth_error("invalid_grant")
            challenge = _b64url(hashlib.sha256(form.get("code_verifier", "").encode()).digest())
            if challenge != grant["form"]["code_challenge"]:
                return oauth_error("invalid_grant")
            if form.get("redirect_uri") != grant["form"]["redirect_uri"]:
                return oauth_error("invalid_grant")
            if checked["_jkt"] != grant["jkt"]:
                return oauth_error("invalid_dpop_proof")
            return JSONResponse(
                issue(grant["did"], grant["jkt"], grant["form"]["scope"]),
                headers={"DPoP-Nonce": state.nonce},
            )
        if form.get("grant_type") == "refresh_token":
            grant = state.refresh.pop(form.get("refresh_token", ""), None)
            if grant is None or form.get("refresh_token") in state.revoked:
                return oauth_error("invalid_grant")
            if checked["_jkt"] != grant["jkt"]:
                return oauth_error("invalid_dpop_proof")
            return JSONResponse(issue(grant["did"], grant["jkt"], grant["scope"]))
        return oauth_error("unsupported_grant_type")

    async def revoke(request: Request) -> Response:
        form = {k: str(v) for k, v in (await request.form()).items()}
        state.revoked.add(form.get("token", ""))
        state.refresh.pop(form.get("token", ""), None)
        return Response(status_code=200)

    return Starlette(
        routes=[
            Route("/.well-known/oauth-protected-resource", protected_resource),
            Route("/.well-known/oauth-authorization-server", as_metadata),
            Route("/oauth/par", par, methods=["POST"]),
            Route("/oauth/authorize", authorize_page, methods=["GET"]),
            Route("/oauth/authorize/sign-in", sign_in, methods=["POST"]),
            Route("/oauth/authorize/consent", consent, methods=["POST"]),
            Route("/oauth/token", token, methods=["POST"]),
            Route("/oauth/revoke", revoke, methods=["POST"]),
        ]
    )


@pytest.fixture
def fake_as() -> Iterator[FakeAsState]:
    state = FakeAsState()
    state.accounts["alice.test"] = ("did:plc:alicealicealicealice0000", "correct horse battery")
    with serve_in_thread(build_fake_as(state)) as url:
        state.base = url
        yield state
