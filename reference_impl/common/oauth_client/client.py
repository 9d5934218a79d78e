"""A confidential ATProto OAuth client of users' PDSes, and DPoP-authenticated calls with the
sessions it holds.

Login: ``begin(handle)`` resolves the handle to its PDS and authorization server, pushes the
authorization request (PAR: PKCE S256, DPoP with a per-session P-256 key, a ``private_key_jwt``
assertion) and returns the URL to send the browser to; ``complete(code, state, iss)`` checks the
callback and exchanges the code. Afterwards ``request(did, ...)`` calls the user's PDS with
``Authorization: DPoP`` and a proof carrying ``ath``.

Every call for one DID — requests, refreshes, forgetting — runs under that DID's lock. That is
what makes the client safe under concurrency (ATCR-CONC-01, DPOP-12): a nonce learnt by one call
is used by the next instead of both failing, and a single-use refresh token is spent exactly
once (two concurrent refreshes would have the authorization server revoke the session).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any
from urllib.parse import urlencode

import httpx

from ...primitives.keys import SigningKey, generate_signing_key
from ..dpop import b64url
from ..sqlite import Database
from .errors import LoginFailed, NoSession, OAuthClientError, UpstreamError
from .identity import ClientIdentity
from .locks import KeyedLocks
from .proofs import dpop_proof, oauth_error, token_rejected, wants_nonce
from .resolve import IdentityResolver, origin_of
from .store import OAuthClientStore, PendingLogin, Session

log = logging.getLogger("reference_impl.oauth_client")

Clock = Callable[[], float]
FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
DEFAULT_TIMEOUT_S = 15.0


def _json_body(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _describe(response: httpx.Response) -> str:
    """An OAuth/XRPC error as text for logs and user-facing messages (no secrets in bodies)."""
    body = _json_body(response)
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        detail = body.get("error_description") or body.get("message") or ""
        return f"HTTP {response.status_code} {body['error']}: {str(detail)[:200]}".rstrip(": ")
    return f"HTTP {response.status_code}"


def _pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    return verifier, b64url(hashlib.sha256(verifier.encode("ascii")).digest())


class OAuthClient:
    def __init__(
        self,
        http: httpx.AsyncClient,
        db: Database,
        identity: ClientIdentity,
        clock: Clock,
        resolver: IdentityResolver,
        *,
        pending_ttl_s: float = 600,
        refresh_margin_s: float = 10,
    ) -> None:
        self._http = http
        self._store = OAuthClientStore(db)
        self._identity = identity
        self._clock = clock
        self._resolver = resolver
        self._pending_ttl_s = pending_ttl_s
        self._refresh_margin_s = refresh_margin_s
        self._locks = KeyedLocks()
        # The newest DPoP-Nonce each origin (PDS, authorization server) gave us.
        self._nonces: dict[str, str] = {}

    @property
    def identity(self) -> ClientIdentity:
        return self._identity

    # -- login -------------------------------------------------------------------------------

    async def begin(
        self, handle: str, extra_state: Mapping[str, Any] | None = None
    ) -> tuple[str, str]:
        """Start a login; returns (authorization URL to send the browser to, state).

        Raises UnknownHandle, ResolutionError, UpstreamError or LoginFailed.
        """
        did = await self._resolver.resolve_handle(handle)
        info = await self._resolver.resolve_did(did)
        issuer = await self._resolver.authorization_server_of(info.pds_url)
        server = await self._resolver.authorization_server_metadata(issuer)

        dpop_key = generate_signing_key("p256")
        verifier, challenge = _pkce_pair()
        state = secrets.token_urlsafe(24)
        form = {
            "client_id": self._identity.client_id,
            "response_type": "code",
            "redirect_uri": self._identity.redirect_uri,
            "scope": self._identity.scope,
            "state": state,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "login_hint": info.handle or did,
        }
        response = await self._post_to_server(server.par_endpoint, issuer, dpop_key, form)
        body = _json_body(response) if response.status_code in (200, 201) else None
        request_uri = body.get("request_uri") if isinstance(body, dict) else None
        if not isinstance(request_uri, str) or not request_uri:
            raise LoginFailed(f"the authorization server refused the login: {_describe(response)}")

        now = self._clock()
        pending = PendingLogin(
            did=did,
            handle=info.handle or handle,
            pds_url=info.pds_url,
            issuer=issuer,
            token_endpoint=server.token_endpoint,
            revocation_endpoint=server.revocation_endpoint,
            pkce_verifier=verifier,
            dpop_key=dpop_key,
            extra_state=dict(extra_state or {}),
            expires_at=now + self._pending_ttl_s,
        )
        await asyncio.to_thread(self._store.save_pending, state, pending, now)
        query = urlencode({"client_id": self._identity.client_id, "request_uri": request_uri})
        separator = "&" if "?" in server.authorization_endpoint else "?"
        return f"{server.authorization_endpoint}{separator}{query}", state

    async def complete(self, code: str | None, state: str | None, iss: str | None) -> Session:
        """Finish a login from the callback's parameters; the session is stored (replacing any
        earlier one of that DID). Raises LoginFailed or UpstreamError."""
        if not state:
            raise LoginFailed("the callback carries no state")
        pending = await asyncio.to_thread(self._store.take_pending, state, self._clock())
        if pending is None:
            raise LoginFailed("unknown, used or expired state")
        if not code:
            raise LoginFailed("the callback carries no code")
        # RFC 9207: the response must come from the server we sent the user to (mix-up attack).
        if not iss or iss.rstrip("/") != pending.issuer.rstrip("/"):
            raise LoginFailed("the callback's iss is not the authorization server of this login")
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": self._identity.redirect_uri,
            "code_verifier": pending.pkce_verifier,
            "client_id": self._identity.client_id,
        }
        response = await self._post_to_server(
            pending.token_endpoint, pending.issuer, pending.dpop_key, form
        )
        if response.status_code != 200:
            raise LoginFailed(f"the code exchange failed: {_describe(response)}")
        session = self._session_from_tokens(
            response,
            did=pending.did,
            handle=pending.handle,
            pds_url=pending.pds_url,
            issuer=pending.issuer,
            token_endpoint=pending.token_endpoint,
            revocation_endpoint=pending.revocation_endpoint,
            dpop_key=pending.dpop_key,
            previous_refresh=None,
            error=LoginFailed,
        )
        async with self._locks.hold(session.did):
            previous = await asyncio.to_thread(self._store.load_session, session.did)
            await asyncio.to_thread(self._store.save_session, session, self._clock())
        if previous is not None:
            # A second login replaces the session; the old one should not stay alive at the AS.
            await self._revoke(previous)
        log.info("OAuth login completed for %s", session.did)
        return replace(session, extra_state=pending.extra_state)

    # -- sessions ------------------------------------------------------------------------------

    async def session(self, did: str) -> Session | None:
        return await asyncio.to_thread(self._store.load_session, did)

    async def forget(
        self, did: str, *, revoke: bool = True, logged_in_before: float | None = None
    ) -> bool:
        """Drop the session of ``did`` (and, best effort, revoke it at the authorization
        server). Returns whether there was one.

        ``logged_in_before`` (a time on this client's clock) spares a session from a login made
        at or after it: a queued "forget" for a user who left must not end the session of
        their new enrolment.
        """
        async with self._locks.hold(did):
            session = await asyncio.to_thread(self._store.load_session, did)
            if session is None:
                return False
            deleted = await asyncio.to_thread(self._store.delete_session, did, logged_in_before)
            if not deleted:
                return False
        if revoke:
            await self._revoke(session)
        log.info("OAuth session of %s forgotten", did)
        return True

    async def _revoke(self, session: Session) -> None:
        """Best-effort RFC 7009 revocation of a session we no longer keep."""
        if session.revocation_endpoint is None:
            return
        token = session.refresh_token or session.access_token
        hint = "refresh_token" if session.refresh_token else "access_token"
        form = {"token": token, "token_type_hint": hint, "client_id": self._identity.client_id}
        try:
            await self._post_to_server(
                session.revocation_endpoint, session.issuer, session.dpop_key, form
            )
        except OAuthClientError as exc:
            log.warning("revoking a session of %s failed: %s", session.did, exc.message)

    # -- calls to the user's PDS -----------------------------------------------------------------

    async def request(
        self,
        did: str,
        method: str,
        url: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """A DPoP-authenticated request to the user's PDS, serialised per DID.

        One retry on ``use_dpop_nonce``; the access token is refreshed first when it has expired
        and once more if the PDS refuses it. Raises NoSession (log in again), UpstreamError
        (network), ValueError when ``url`` is not on the user's PDS (tokens go nowhere else).
        """
        async with self._locks.hold(did):
            session = await asyncio.to_thread(self._store.load_session, did)
            if session is None:
                raise NoSession(f"no OAuth session for {did}; log in again")
            if origin_of(url) != origin_of(session.pds_url):
                raise ValueError("DPoP-authenticated requests go only to the user's own PDS")
            refreshed = False
            if self._expired(session):
                session = await self._refresh(session)
                refreshed = True
            response = await self._send(session, method, url, json, params, content, headers)
            if not refreshed and token_rejected(response):
                session = await self._refresh(session)
                response = await self._send(session, method, url, json, params, content, headers)
            return response

    async def procedure(self, did: str, nsid: str, body: Any) -> httpx.Response:
        """``POST <user's PDS>/xrpc/<nsid>`` with a JSON body."""
        return await self.request(did, "POST", await self._xrpc_url(did, nsid), json=body)

    async def query(
        self, did: str, nsid: str, params: Mapping[str, Any] | None = None
    ) -> httpx.Response:
        """``GET <user's PDS>/xrpc/<nsid>?params``."""
        return await self.request(did, "GET", await self._xrpc_url(did, nsid), params=params)

    async def _xrpc_url(self, did: str, nsid: str) -> str:
        session = await self.session(did)
        if session is None:
            raise NoSession(f"no OAuth session for {did}; log in again")
        return f"{session.pds_url}/xrpc/{nsid}"

    def _expired(self, session: Session) -> bool:
        return (
            session.expires_at is not None
            and session.expires_at - self._refresh_margin_s <= self._clock()
        )

    async def _send(
        self,
        session: Session,
        method: str,
        url: str,
        json: Any,
        params: Mapping[str, Any] | None,
        content: bytes | None,
        headers: Mapping[str, str] | None,
    ) -> httpx.Response:
        origin = origin_of(url)
        response: httpx.Response | None = None
        for attempt in range(2):
            proof = dpop_proof(
                session.dpop_key,
                method,
                url,
                self._clock(),
                nonce=self._nonces.get(origin),
                access_token=session.access_token,
            )
            request_headers = {
                **(headers or {}),
                "Authorization": f"DPoP {session.access_token}",
                "DPoP": proof,
            }
            try:
                response = await self._http.request(
                    method,
                    url,
                    json=json,
                    params=params,
                    content=content,
                    headers=request_headers,
                    timeout=DEFAULT_TIMEOUT_S,
                    follow_redirects=False,
                )
            except httpx.HTTPError as exc:
                raise UpstreamError(f"{type(exc).__name__} calling {origin}") from exc
            self._remember_nonce(origin, response)
            if attempt == 0 and wants_nonce(response):
                continue
            break
        assert response is not None
        return response

    async def _refresh(self, session: Session) -> Session:
        """Spend the refresh token (single use) and store the new pair before anything else."""
        if session.refresh_token is None:
            await asyncio.to_thread(self._store.delete_session, session.did)
            raise NoSession(f"the session of {session.did} expired; log in again")
        form = {
            "grant_type": "refresh_token",
            "refresh_token": session.refresh_token,
            "client_id": self._identity.client_id,
        }
        response = await self._post_to_server(
            session.token_endpoint, session.issuer, session.dpop_key, form
        )
        if response.status_code != 200:
            if oauth_error(response) == "invalid_grant":
                # Revoked, expired or already spent: only a new login helps.
                await asyncio.to_thread(self._store.delete_session, session.did)
                raise NoSession(
                    f"the authorization server ended the session of {session.did}; log in again"
                )
            raise UpstreamError(f"refreshing the session failed: {_describe(response)}")
        new = self._session_from_tokens(
            response,
            did=session.did,
            handle=session.handle,
            pds_url=session.pds_url,
            issuer=session.issuer,
            token_endpoint=session.token_endpoint,
            revocation_endpoint=session.revocation_endpoint,
            dpop_key=session.dpop_key,
            previous_refresh=session.refresh_token,
            error=UpstreamError,
        )
        stored = await asyncio.to_thread(self._store.replace_tokens, session, new, self._clock())
        if not stored:
            raise NoSession(f"the session of {session.did} was replaced or removed meanwhile")
        return new

    def _session_from_tokens(
        self,
        response: httpx.Response,
        *,
        did: str,
        handle: str | None,
        pds_url: str,
        issuer: str,
        token_endpoint: str,
        revocation_endpoint: str | None,
        dpop_key: SigningKey,
        previous_refresh: str | None,
        error: type[OAuthClientError],
    ) -> Session:
        body = _json_body(response)
        if not isinstance(body, dict):
            raise error("the token response is not a JSON object")
        access_token = body.get("access_token")
        token_type = body.get("token_type")
        if not isinstance(access_token, str) or not access_token:
            raise error("the token response has no access_token")
        if not isinstance(token_type, str) or token_type.lower() != "dpop":
            raise error("the token response is not a DPoP-bound token")
        # The account must be the one the handle resolved to; an authorization server
        # answering for another DID is not trusted for this one.
        if body.get("sub") != did:
            raise error("the token response is for another account than the one resolved")
        scope = body.get("scope")
        if not isinstance(scope, str) or "atproto" not in scope.split(" "):
            raise error("the granted scope does not include atproto")
        refresh = body.get("refresh_token")
        expires_in = body.get("expires_in")
        expires_at = (
            self._clock() + float(expires_in)
            if isinstance(expires_in, int | float) and not isinstance(expires_in, bool)
            else None
        )
        return Session(
            did=did,
            handle=handle,
            pds_url=pds_url,
            issuer=issuer,
            token_endpoint=token_endpoint,
            revocation_endpoint=revocation_endpoint,
            scope=scope,
            access_token=access_token,
            refresh_token=refresh if isinstance(refresh, str) and refresh else previous_refresh,
            expires_at=expires_at,
            dpop_key=dpop_key,
        )

    # -- authorization server requests --------------------------------------------------------

    async def _post_to_server(
        self, url: str, issuer: str, dpop_key: SigningKey, form: Mapping[str, str]
    ) -> httpx.Response:
        """POST a form to a DPoP-protected AS endpoint with client authentication; one retry
        with the nonce the server hands out (PDS-07). Each attempt gets a fresh assertion and
        proof: the server remembers every ``jti``."""
        origin = origin_of(url)
        response: httpx.Response | None = None
        for attempt in range(2):
            now = self._clock()
            body = {**form, **self._identity.client_auth_fields(issuer, now)}
            proof = dpop_proof(dpop_key, "POST", url, now, nonce=self._nonces.get(origin))
            try:
                response = await self._http.post(
                    url,
                    content=urlencode(body).encode("ascii"),
                    headers={
                        "Content-Type": FORM_CONTENT_TYPE,
                        "Accept": "application/json",
                        "DPoP": proof,
                    },
                    timeout=DEFAULT_TIMEOUT_S,
                    follow_redirects=False,
                )
            except httpx.HTTPError as exc:
                raise UpstreamError(f"{type(exc).__name__} calling {origin}") from exc
            self._remember_nonce(origin, response)
            if attempt == 0 and wants_nonce(response):
                continue
            break
        assert response is not None
        return response

    def _remember_nonce(self, origin: str, response: httpx.Response) -> None:
        nonce = response.headers.get("dpop-nonce")
        if nonce and len(nonce) <= 512:
            self._nonces[origin] = nonce
