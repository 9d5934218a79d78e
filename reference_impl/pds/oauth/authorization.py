"""The authorization-server flows: PAR, the sign-in/consent decision, the token endpoint and
revocation. Framework-free; the Starlette adapter in :mod:`.routes` feeds it parsed forms,
resolved clients and verified DPoP proofs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from ...common.dpop import Clock, DpopError, DpopVerifier, VerifiedProof
from .client_auth import ClientAuthenticator
from .clients import Client, parse_scope, redirect_uri_allowed
from .config import OAuthConfig
from .errors import (
    OAuthError,
    invalid_grant,
    invalid_request,
    invalid_scope,
)
from .pkce import challenge_problem, verifier_matches
from .ports import AccountDirectory
from .store import CodeRecord, OAuthStore, SessionRecord
from .tokens import AccessTokenCodec, InvalidAccessToken, new_secret, secret_hash

REQUEST_URI_PREFIX = "urn:ietf:params:oauth:request_uri:"
_MAX_STATE_CHARS = 2048
_MAX_HINT_CHARS = 256


@dataclass(frozen=True)
class PushedRequest:
    request_uri: str
    expires_in: int


@dataclass(frozen=True)
class PendingAuthorization:
    """What the sign-in/consent page shows and posts back."""

    request_uri: str
    client_id: str
    client_name: str | None
    scope: tuple[str, ...]
    redirect_uri: str
    login_hint: str | None


@dataclass(frozen=True)
class Redirect:
    location: str


@dataclass(frozen=True)
class SignInFailed:
    """Re-show the page with ``message``; no redirect."""

    pending: PendingAuthorization
    message: str
    status: int
    identifier: str


def _with_query(uri: str, params: Mapping[str, str | None]) -> str:
    parts = urlsplit(uri)
    query = parse_qsl(parts.query, keep_blank_values=True)
    query.extend((k, v) for k, v in params.items() if v is not None)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), ""))


class AuthorizationServer:
    def __init__(
        self,
        config: OAuthConfig,
        store: OAuthStore,
        accounts: AccountDirectory,
        clock: Clock,
        dpop: DpopVerifier,
        tokens: AccessTokenCodec,
        client_auth: ClientAuthenticator,
    ) -> None:
        self.config = config
        self._store = store
        self._accounts = accounts
        self._clock = clock
        self._dpop = dpop
        self._tokens = tokens
        self._client_auth = client_auth

    def current_nonce(self) -> str:
        return self._dpop.nonces.current()

    def check_dpop(self, dpop_headers: list[str], path: str) -> VerifiedProof:
        """PAR and token requests must carry a DPoP proof with a server nonce (400 otherwise)."""
        try:
            # The proof names the URL the client was given: the issuer's, not the bind address.
            return self._dpop.verify(dpop_headers, "POST", self.config.url(path), access_token=None)
        except DpopError as exc:
            raise OAuthError(
                400, exc.error, exc.description, {"DPoP-Nonce": self.current_nonce()}
            ) from exc

    # -- PAR ---------------------------------------------------------------------------------

    def push(self, form: Mapping[str, str], client: Client, proof: VerifiedProof) -> PushedRequest:
        auth_method = self._client_auth.authenticate(client, form)
        meta = client.metadata

        if "request" in form:
            raise OAuthError(400, "request_not_supported", "request objects are not supported")
        if "request_uri" in form:
            raise invalid_request("request_uri must not be pushed")
        response_type = form.get("response_type")
        if not response_type:
            raise invalid_request("response_type is required")
        if response_type != "code" or "code" not in meta.response_types:
            raise OAuthError(
                400, "unsupported_response_type", "only response_type=code is supported"
            )
        if form.get("response_mode", "query") != "query":
            raise invalid_request("only response_mode=query is supported")

        redirect_uri = form.get("redirect_uri")
        if not redirect_uri:
            if len(meta.redirect_uris) != 1:
                raise invalid_request("redirect_uri is required (the client registered several)")
            redirect_uri = meta.redirect_uris[0]
        elif not redirect_uri_allowed(meta, redirect_uri):
            raise invalid_request(
                "redirect_uri is not one of the client's registered redirect_uris"
            )

        problem = challenge_problem(form.get("code_challenge"), form.get("code_challenge_method"))
        if problem:
            raise invalid_request(problem)

        scope = self._requested_scope(form.get("scope"), client)

        state = form.get("state")
        if state is not None and len(state) > _MAX_STATE_CHARS:
            raise invalid_request("state is too long")
        login_hint = form.get("login_hint") or None
        if login_hint is not None and len(login_hint) > _MAX_HINT_CHARS:
            raise invalid_request("login_hint is too long")
        dpop_jkt = form.get("dpop_jkt")
        if dpop_jkt is not None and dpop_jkt != proof.jkt:
            raise OAuthError(
                400, "invalid_dpop_proof", "dpop_jkt does not match the DPoP proof key"
            )

        request_uri = REQUEST_URI_PREFIX + new_secret("req-")
        now = self._clock()
        params: dict[str, Any] = {
            "redirect_uri": redirect_uri,
            "scope": " ".join(scope),
            "state": state,
            "code_challenge": form["code_challenge"],
            "login_hint": login_hint,
            "client_name": meta.client_name,
        }
        self._store.save_par(
            secret_hash(request_uri),
            client.client_id,
            auth_method,
            proof.jkt,
            params,
            now,
            now + self.config.par_ttl_s,
        )
        return PushedRequest(request_uri=request_uri, expires_in=self.config.par_ttl_s)

    def _requested_scope(self, raw: str | None, client: Client) -> tuple[str, ...]:
        declared = client.metadata.scope
        if raw is None or not raw.strip():
            if declared is None:
                raise invalid_scope("scope is required and must include atproto")
            raw = " ".join(sorted(declared, key=lambda s: (s != "atproto", s)))
        try:
            scope = parse_scope(raw)
        except ValueError as exc:
            raise invalid_scope(str(exc)) from exc
        if "atproto" not in scope:
            raise invalid_scope("scope must include atproto")
        if declared is not None and not set(scope) <= declared:
            raise invalid_scope("scope asks for values the client metadata does not declare")
        return scope

    # -- authorize page and decision -----------------------------------------------------------

    def pending(self, client_id: str | None, request_uri: str | None) -> PendingAuthorization:
        """The pushed request behind an authorize URL; OAuthError when there is none.

        These errors are shown to the user, never redirected: without a live pushed request
        there is no redirect_uri the server has checked, and redirecting to an unchecked one
        would make this an open redirector.
        """
        if not request_uri:
            raise invalid_request(
                "authorization requests must be pushed first (PAR); request_uri is required"
            )
        if not client_id:
            raise invalid_request("client_id is required")
        record = None
        if request_uri.startswith(REQUEST_URI_PREFIX):
            record = self._store.get_par(secret_hash(request_uri))
        if record is None or record.consumed_at is not None or record.expires_at <= self._clock():
            raise invalid_request("unknown, used or expired request_uri")
        if record.client_id != client_id:
            raise invalid_request("client_id does not match the pushed request")
        params = record.params
        return PendingAuthorization(
            request_uri=request_uri,
            client_id=client_id,
            client_name=params.get("client_name"),
            scope=tuple(params["scope"].split(" ")),
            redirect_uri=params["redirect_uri"],
            login_hint=params.get("login_hint"),
        )

    def decide(self, form: Mapping[str, str]) -> Redirect | SignInFailed:
        request_uri = form.get("request_uri")
        pending = self.pending(form.get("client_id"), request_uri)
        assert request_uri is not None
        record = self._store.get_par(secret_hash(request_uri))
        assert record is not None
        state = record.params.get("state")
        consent = form.get("consent")
        identifier = (form.get("handle") or "").strip()

        if consent == "deny":
            if not self._store.consume_par(secret_hash(request_uri), self._clock()):
                raise invalid_request("unknown, used or expired request_uri")
            return Redirect(
                _with_query(
                    pending.redirect_uri,
                    {
                        "error": "access_denied",
                        "error_description": "The user denied the request",
                        "state": state,
                        "iss": self.config.issuer,
                    },
                )
            )
        if consent != "allow":
            raise invalid_request("consent must be allow or deny")

        password = form.get("password") or ""
        if not identifier or not password:
            return SignInFailed(pending, "Enter your handle and password.", 400, identifier)
        account = self._accounts.authenticate(identifier, password)
        if account is None:
            return SignInFailed(pending, "Wrong handle or password.", 401, identifier)

        now = self._clock()
        if not self._store.consume_par(secret_hash(request_uri), now):
            raise invalid_request("unknown, used or expired request_uri")
        code = new_secret("cod-")
        self._store.save_code(
            secret_hash(code),
            CodeRecord(
                client_id=record.client_id,
                client_auth_method=record.client_auth_method,
                did=account.did,
                redirect_uri=pending.redirect_uri,
                code_challenge=record.params["code_challenge"],
                scope=record.params["scope"],
                dpop_jkt=record.dpop_jkt,
                expires_at=now + self.config.code_ttl_s,
                session_id=None,
            ),
            now,
        )
        return Redirect(
            _with_query(
                pending.redirect_uri, {"code": code, "state": state, "iss": self.config.issuer}
            )
        )

    # -- token endpoint ------------------------------------------------------------------------

    def token(
        self, form: Mapping[str, str], client: Client, proof: VerifiedProof
    ) -> dict[str, Any]:
        grant_type = form.get("grant_type")
        if not grant_type:
            raise invalid_request("grant_type is required")
        if grant_type not in ("authorization_code", "refresh_token"):
            raise OAuthError(
                400, "unsupported_grant_type", f"grant_type {grant_type} is not supported"
            )
        if grant_type not in client.metadata.grant_types:
            raise OAuthError(
                400, "unauthorized_client", f"client may not use grant_type {grant_type}"
            )
        auth_method = self._client_auth.authenticate(client, form)
        if grant_type == "authorization_code":
            return self._exchange_code(form, client, auth_method, proof)
        return self._refresh(form, client, auth_method, proof)

    def _exchange_code(
        self, form: Mapping[str, str], client: Client, auth_method: str, proof: VerifiedProof
    ) -> dict[str, Any]:
        code = form.get("code")
        redirect_uri = form.get("redirect_uri")
        if not code:
            raise invalid_request("code is required")
        if not redirect_uri:
            raise invalid_request("redirect_uri is required")
        now = self._clock()
        self._store.purge(now)
        taken = self._store.take_code(secret_hash(code), now)
        if taken is None:
            raise invalid_grant("unknown authorization code")
        record, first_use = taken
        if not first_use:
            # RFC 6749 §4.1.2: a replayed code revokes what it was first exchanged for.
            if record.session_id is not None:
                self._store.revoke_session(record.session_id, now)
            raise invalid_grant("authorization code was already used")
        if record.expires_at <= now:
            raise invalid_grant("authorization code expired")
        if record.client_id != client.client_id:
            raise invalid_grant("authorization code was issued to another client")
        if record.client_auth_method != auth_method:
            raise invalid_grant(
                "client authentication method differs from the authorization request"
            )
        if record.redirect_uri != redirect_uri:
            raise invalid_grant("redirect_uri does not match the authorization request")
        if not verifier_matches(form.get("code_verifier"), record.code_challenge):
            raise invalid_grant("code_verifier does not match the code_challenge")
        if record.dpop_jkt != proof.jkt:
            raise invalid_grant("DPoP key differs from the one used for the pushed request")
        if self._accounts.get(record.did) is None:
            raise invalid_grant("the account no longer exists")

        session = SessionRecord(
            session_id=new_secret("ses-"),
            did=record.did,
            client_id=record.client_id,
            client_auth_method=auth_method,
            scope=record.scope,
            dpop_jkt=proof.jkt,
            revoked_at=None,
        )
        access_jti = new_secret("at-")
        refresh = new_secret("ref-") if "refresh_token" in client.metadata.grant_types else None
        self._store.create_session(
            session,
            secret_hash(code),
            secret_hash(refresh) if refresh else None,
            now + self.config.refresh_token_ttl_s,
            access_jti,
            now + self.config.access_token_ttl_s,
            now,
        )
        return self._token_body(session, access_jti, refresh, now)

    def _refresh(
        self, form: Mapping[str, str], client: Client, auth_method: str, proof: VerifiedProof
    ) -> dict[str, Any]:
        presented = form.get("refresh_token")
        if not presented:
            raise invalid_request("refresh_token is required")
        now = self._clock()
        old_hash = secret_hash(presented)
        record = self._store.get_refresh(old_hash)
        if record is None:
            raise invalid_grant("unknown refresh token")
        session = record.session
        if record.used_at is not None:
            # A spent refresh token coming back means it leaked: end the whole session.
            self._store.revoke_session(session.session_id, now)
            raise invalid_grant("refresh token was already used; the session is revoked")
        if session.revoked_at is not None:
            raise invalid_grant("the session was revoked")
        if record.expires_at <= now:
            raise invalid_grant("refresh token expired")
        if session.client_id != client.client_id:
            raise invalid_grant("refresh token was issued to another client")
        if session.client_auth_method != auth_method:
            raise invalid_grant("client authentication method differs from the session's")
        # Checked before the token is spent: a thief without the key cannot burn it.
        if session.dpop_jkt != proof.jkt:
            raise invalid_grant("DPoP key differs from the one the session is bound to")
        if "scope" in form:
            try:
                asked = set(parse_scope(form["scope"]))
            except ValueError as exc:
                raise invalid_scope(str(exc)) from exc
            if not asked <= set(session.scope.split(" ")):
                raise invalid_scope("refresh may not widen the granted scope")
        if self._accounts.get(session.did) is None:
            raise invalid_grant("the account no longer exists")

        access_jti = new_secret("at-")
        refresh = new_secret("ref-")
        rotated = self._store.rotate_refresh(
            old_hash,
            session.session_id,
            secret_hash(refresh),
            now + self.config.refresh_token_ttl_s,
            access_jti,
            now + self.config.access_token_ttl_s,
            now,
        )
        if not rotated:
            # Lost a race with another redemption of the same token: treat it as reuse.
            self._store.revoke_session(session.session_id, now)
            raise invalid_grant("refresh token was already used; the session is revoked")
        return self._token_body(session, access_jti, refresh, now)

    def _token_body(
        self, session: SessionRecord, access_jti: str, refresh: str | None, now: float
    ) -> dict[str, Any]:
        ttl = self.config.access_token_ttl_s
        access = self._tokens.issue(
            sub=session.did,
            scope=session.scope,
            client_id=session.client_id,
            jkt=session.dpop_jkt,
            jti=access_jti,
            now=now,
            ttl_s=ttl,
        )
        body: dict[str, Any] = {
            "access_token": access,
            "token_type": "DPoP",
            "expires_in": ttl,
            "scope": session.scope,
            "sub": session.did,
        }
        if refresh is not None:
            body["refresh_token"] = refresh
        return body

    # -- revocation ----------------------------------------------------------------------------

    def revoke(self, form: Mapping[str, str]) -> None:
        """RFC 7009: revoke the session behind an access or refresh token.

        Unknown or invalid tokens are not an error (§2.2): the answer must not reveal whether
        a token existed.
        """
        token = form.get("token")
        if not token:
            raise invalid_request("token is required")
        now = self._clock()
        if self._tokens.is_ours(token):
            try:
                claims = self._tokens.decode(token, now, check_expiry=False)
            except InvalidAccessToken:
                return
            session = self._store.session_of_access_token(claims.jti)
            if session is not None:
                self._store.revoke_session(session.session_id, now)
            return
        record = self._store.get_refresh(secret_hash(token))
        if record is not None:
            self._store.revoke_session(record.session.session_id, now)
