"""The identity tier as the harness sees it: a PDS's accounts, sessions, repo and identity.

Every ``com.atproto.*`` method has a *raw* form (snake_case of its name) that returns the
``httpx.Response`` whatever the status, so checks can judge it. A few typed helpers (``signup``,
``login``, ``refresh``, ``app_password``, ``service_auth_token``) are for setup: they raise
``XrpcCallFailed`` when the PDS says no.

Passwords are registered with the Redactor when they are sent; tokens, app passwords and
service-auth JWTs when they are received (on any 2xx response of these methods).
"""

from __future__ import annotations

import json
from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from conformance.clients.xrpc import ParamValue, XrpcClient, expect_ok
from conformance.redact import Redactor

# Keys of PDS responses that carry secrets and are registered when seen in a 2xx body.
_SECRET_RESPONSE_KEYS = ("accessJwt", "refreshJwt", "password", "token")


class BearerAuth(httpx.Auth):
    """``Authorization: Bearer <token>`` (legacy sessions, service-auth JWTs)."""

    def __init__(self, token: str) -> None:
        self.token = token

    def __repr__(self) -> str:
        return "BearerAuth([redacted])"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self.token}"
        yield request


@dataclass(frozen=True)
class Session:
    """A legacy (createSession) session. ``repr`` never shows the tokens."""

    did: str
    handle: str
    access_jwt: str = field(repr=False)
    refresh_jwt: str = field(repr=False)

    def __repr__(self) -> str:
        return (
            f"Session(did={self.did!r}, handle={self.handle!r}, "
            "access_jwt='[redacted]', refresh_jwt='[redacted]')"
        )

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> Session:
        try:
            return cls(
                did=str(body["did"]),
                handle=str(body["handle"]),
                access_jwt=str(body["accessJwt"]),
                refresh_jwt=str(body["refreshJwt"]),
            )
        except KeyError as exc:
            raise ValueError(f"session response lacks {exc.args[0]!r}") from exc

    def auth(self) -> BearerAuth:
        return BearerAuth(self.access_jwt)

    def refresh_auth(self) -> BearerAuth:
        return BearerAuth(self.refresh_jwt)


AuthLike = httpx.Auth | Session | None


def _as_auth(auth: AuthLike) -> httpx.Auth | None:
    return auth.auth() if isinstance(auth, Session) else auth


def _drop_none(values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


class PdsClient:
    """Talks to one PDS through ``xrpc``; registers every secret it sees with ``redactor``."""

    def __init__(self, xrpc: XrpcClient, redactor: Redactor) -> None:
        self.xrpc = xrpc
        self.redactor = redactor

    def __repr__(self) -> str:
        return f"PdsClient({self.xrpc.base_url!r})"

    @property
    def base_url(self) -> str:
        return self.xrpc.base_url

    # --- plumbing -----------------------------------------------------------------------------

    def _register(self, response: httpx.Response) -> httpx.Response:
        if response.is_success and response.content:
            try:
                body = json.loads(response.content)
            except (ValueError, UnicodeDecodeError):
                return response
            if isinstance(body, dict):
                for key in _SECRET_RESPONSE_KEYS:
                    value = body.get(key)
                    if isinstance(value, str):
                        self.redactor.add(value)
        return response

    def query(
        self, nsid: str, params: Mapping[str, ParamValue] | None = None, *, auth: AuthLike = None
    ) -> httpx.Response:
        return self._register(self.xrpc.query(nsid, params, auth=_as_auth(auth)))

    def procedure(
        self,
        nsid: str,
        body: Any = None,
        *,
        auth: AuthLike = None,
        data: bytes | None = None,
        content_type: str | None = None,
    ) -> httpx.Response:
        return self._register(
            self.xrpc.procedure(
                nsid, body, data=data, content_type=content_type, auth=_as_auth(auth)
            )
        )

    # --- server: accounts, sessions, app passwords, service auth ------------------------------

    def describe_server(self) -> httpx.Response:
        return self.query("com.atproto.server.describeServer")

    def create_account(
        self,
        handle: str,
        password: str,
        *,
        email: str | None = None,
        invite_code: str | None = None,
        did: str | None = None,
        extra: Mapping[str, Any] | None = None,
        auth: AuthLike = None,
    ) -> httpx.Response:
        self.redactor.add(password)
        body = _drop_none(
            {
                "handle": handle,
                "password": password,
                "email": email,
                "inviteCode": invite_code,
                "did": did,
            }
        )
        body.update(extra or {})
        return self.procedure("com.atproto.server.createAccount", body, auth=auth)

    def create_session(self, identifier: str, password: str) -> httpx.Response:
        self.redactor.add(password)
        return self.procedure(
            "com.atproto.server.createSession", {"identifier": identifier, "password": password}
        )

    def refresh_session(self, refresh: Session | str) -> httpx.Response:
        token = refresh.refresh_jwt if isinstance(refresh, Session) else refresh
        self.redactor.add(token)
        return self.procedure("com.atproto.server.refreshSession", auth=BearerAuth(token))

    def get_session(self, auth: AuthLike) -> httpx.Response:
        return self.query("com.atproto.server.getSession", auth=auth)

    def delete_session(self, refresh: Session | str) -> httpx.Response:
        token = refresh.refresh_jwt if isinstance(refresh, Session) else refresh
        return self.procedure("com.atproto.server.deleteSession", auth=BearerAuth(token))

    def create_app_password(
        self, auth: AuthLike, name: str, *, privileged: bool | None = None
    ) -> httpx.Response:
        body = _drop_none({"name": name, "privileged": privileged})
        return self.procedure("com.atproto.server.createAppPassword", body, auth=auth)

    def get_service_auth(
        self, auth: AuthLike, aud: str, *, lxm: str | None = None, exp: int | None = None
    ) -> httpx.Response:
        return self.query(
            "com.atproto.server.getServiceAuth", {"aud": aud, "lxm": lxm, "exp": exp}, auth=auth
        )

    # typed setup helpers

    def signup(
        self,
        handle: str,
        password: str,
        *,
        email: str | None = None,
        invite_code: str | None = None,
    ) -> Session:
        response = self.create_account(handle, password, email=email, invite_code=invite_code)
        return Session.from_body(expect_ok(response))

    def login(self, identifier: str, password: str) -> Session:
        return Session.from_body(expect_ok(self.create_session(identifier, password)))

    def refresh(self, session: Session) -> Session:
        return Session.from_body(expect_ok(self.refresh_session(session)))

    def app_password(self, auth: AuthLike, name: str) -> str:
        return str(expect_ok(self.create_app_password(auth, name))["password"])

    def service_auth_token(
        self, auth: AuthLike, aud: str, *, lxm: str | None = None, exp: int | None = None
    ) -> str:
        return str(expect_ok(self.get_service_auth(auth, aud, lxm=lxm, exp=exp))["token"])

    # --- identity -----------------------------------------------------------------------------

    def resolve_handle(self, handle: str) -> httpx.Response:
        return self.query("com.atproto.identity.resolveHandle", {"handle": handle})

    def resolve_did(self, plc_url: str, did: str) -> httpx.Response:
        """``GET <plc>/<did>`` on a PLC-directory-compatible service."""
        return self.xrpc.http.get(f"{plc_url.rstrip('/')}/{did}")

    def well_known_atproto_did(self, pds_url: str, handle: str) -> httpx.Response:
        """``GET /.well-known/atproto-did`` on ``pds_url``, asking for ``handle`` via ``Host``."""
        return self.xrpc.http.get(
            f"{pds_url.rstrip('/')}/.well-known/atproto-did", headers={"Host": handle}
        )

    # --- repo ---------------------------------------------------------------------------------

    def create_record(
        self,
        auth: AuthLike,
        repo: str,
        collection: str,
        record: Mapping[str, Any],
        *,
        rkey: str | None = None,
        validate: bool | None = None,
        swap_commit: str | None = None,
    ) -> httpx.Response:
        body = _drop_none(
            {
                "repo": repo,
                "collection": collection,
                "rkey": rkey,
                "validate": validate,
                "record": dict(record),
                "swapCommit": swap_commit,
            }
        )
        return self.procedure("com.atproto.repo.createRecord", body, auth=auth)

    def put_record(
        self,
        auth: AuthLike,
        repo: str,
        collection: str,
        rkey: str,
        record: Mapping[str, Any],
        *,
        validate: bool | None = None,
        swap_record: str | None = None,
        swap_commit: str | None = None,
    ) -> httpx.Response:
        body = _drop_none(
            {
                "repo": repo,
                "collection": collection,
                "rkey": rkey,
                "validate": validate,
                "record": dict(record),
                "swapRecord": swap_record,
                "swapCommit": swap_commit,
            }
        )
        return self.procedure("com.atproto.repo.putRecord", body, auth=auth)

    def get_record(
        self,
        repo: str,
        collection: str,
        rkey: str,
        *,
        cid: str | None = None,
        auth: AuthLike = None,
    ) -> httpx.Response:
        params = {"repo": repo, "collection": collection, "rkey": rkey, "cid": cid}
        return self.query("com.atproto.repo.getRecord", params, auth=auth)

    def list_records(
        self,
        repo: str,
        collection: str,
        *,
        limit: int | None = None,
        cursor: str | None = None,
        reverse: bool | None = None,
        auth: AuthLike = None,
    ) -> httpx.Response:
        params = {
            "repo": repo,
            "collection": collection,
            "limit": limit,
            "cursor": cursor,
            "reverse": reverse,
        }
        return self.query("com.atproto.repo.listRecords", params, auth=auth)

    def delete_record(
        self,
        auth: AuthLike,
        repo: str,
        collection: str,
        rkey: str,
        *,
        swap_record: str | None = None,
        swap_commit: str | None = None,
    ) -> httpx.Response:
        body = _drop_none(
            {
                "repo": repo,
                "collection": collection,
                "rkey": rkey,
                "swapRecord": swap_record,
                "swapCommit": swap_commit,
            }
        )
        return self.procedure("com.atproto.repo.deleteRecord", body, auth=auth)

    def apply_writes(
        self,
        auth: AuthLike,
        repo: str,
        writes: Sequence[Mapping[str, Any]],
        *,
        validate: bool | None = None,
        swap_commit: str | None = None,
    ) -> httpx.Response:
        """``writes`` are the lexicon's union members, e.g. ``write_create(collection, value)``."""
        body = _drop_none(
            {
                "repo": repo,
                "writes": [dict(w) for w in writes],
                "validate": validate,
                "swapCommit": swap_commit,
            }
        )
        return self.procedure("com.atproto.repo.applyWrites", body, auth=auth)

    def describe_repo(self, repo: str, *, auth: AuthLike = None) -> httpx.Response:
        return self.query("com.atproto.repo.describeRepo", {"repo": repo}, auth=auth)

    def upload_blob(self, auth: AuthLike, data: bytes, content_type: str) -> httpx.Response:
        return self.procedure(
            "com.atproto.repo.uploadBlob", data=data, content_type=content_type, auth=auth
        )

    # --- sync ---------------------------------------------------------------------------------

    def sync_get_repo(
        self, did: str, *, since: str | None = None, auth: AuthLike = None
    ) -> httpx.Response:
        return self.query("com.atproto.sync.getRepo", {"did": did, "since": since}, auth=auth)

    def sync_get_latest_commit(self, did: str, *, auth: AuthLike = None) -> httpx.Response:
        return self.query("com.atproto.sync.getLatestCommit", {"did": did}, auth=auth)

    def sync_get_record(
        self, did: str, collection: str, rkey: str, *, auth: AuthLike = None
    ) -> httpx.Response:
        params = {"did": did, "collection": collection, "rkey": rkey}
        return self.query("com.atproto.sync.getRecord", params, auth=auth)

    def sync_get_blob(self, did: str, cid: str, *, auth: AuthLike = None) -> httpx.Response:
        return self.query("com.atproto.sync.getBlob", {"did": did, "cid": cid}, auth=auth)

    def sync_list_blobs(
        self,
        did: str,
        *,
        since: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
        auth: AuthLike = None,
    ) -> httpx.Response:
        params = {"did": did, "since": since, "limit": limit, "cursor": cursor}
        return self.query("com.atproto.sync.listBlobs", params, auth=auth)


# --- applyWrites union members --------------------------------------------------------------------


def write_create(
    collection: str, value: Mapping[str, Any], rkey: str | None = None
) -> dict[str, Any]:
    return _drop_none(
        {
            "$type": "com.atproto.repo.applyWrites#create",
            "collection": collection,
            "rkey": rkey,
            "value": dict(value),
        }
    )


def write_update(collection: str, rkey: str, value: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "$type": "com.atproto.repo.applyWrites#update",
        "collection": collection,
        "rkey": rkey,
        "value": dict(value),
    }


def write_delete(collection: str, rkey: str) -> dict[str, Any]:
    return {"$type": "com.atproto.repo.applyWrites#delete", "collection": collection, "rkey": rkey}
