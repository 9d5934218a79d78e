"""``com.atproto.server.*``: accounts, sessions, app passwords, service auth."""

from __future__ import annotations

from typing import Any

from ...common.errors import XrpcError
from ...common.xrpc import XrpcRequest, XrpcRouter
from ..caller import Caller
from ..context import Pds
from ..service_auth import issue_service_token


def register(router: XrpcRouter, pds: Pds) -> None:
    def session_output(account_did: str, tokens: Any) -> dict[str, Any]:
        account = pds.accounts.by_did(account_did)
        assert account is not None
        return {
            "accessJwt": tokens.access_jwt,
            "refreshJwt": tokens.refresh_jwt,
            "handle": account.handle,
            "did": account.did,
            "didDoc": pds.accounts.did_document(account),
            **({"email": account.email} if account.email else {}),
            "active": True,
        }

    @router.query("com.atproto.server.describeServer")
    def describe_server(req: XrpcRequest) -> dict[str, Any]:
        return {
            "did": pds.config.service_did,
            "availableUserDomains": list(pds.config.handle_domains),
            "inviteCodeRequired": pds.config.invite_code is not None,
        }

    @router.procedure("com.atproto.server.createAccount", auth="none")
    def create_account(req: XrpcRequest) -> dict[str, Any]:
        body = req.body
        account = pds.accounts.create(
            handle=body["handle"],
            password=body.get("password") or "",
            email=body.get("email"),
            invite_code=body.get("inviteCode"),
        )
        tokens = pds.sessions.issue(account, None, privileged=True)
        return session_output(account.did, tokens)

    @router.procedure("com.atproto.server.createSession", auth="none")
    def create_session(req: XrpcRequest) -> dict[str, Any]:
        login = pds.accounts.login(req.body["identifier"], req.body["password"])
        if login is None:
            raise XrpcError(401, "AuthenticationRequired", "Invalid identifier or password")
        tokens = pds.sessions.issue(login.account, login.app_password, login.privileged)
        return session_output(login.account.did, tokens)

    @router.procedure("com.atproto.server.refreshSession", auth="none")
    def refresh_session(req: XrpcRequest) -> dict[str, Any]:
        account, tokens = pds.sessions.rotate(_bearer_token(req))
        return session_output(account.did, tokens)

    @router.procedure("com.atproto.server.deleteSession", auth="none")
    def delete_session(req: XrpcRequest) -> None:
        pds.sessions.revoke(_bearer_token(req))

    @router.query("com.atproto.server.getSession", auth="required")
    def get_session(req: XrpcRequest) -> dict[str, Any]:
        caller: Caller = req.principal
        account = pds.accounts.by_did(caller.did)
        if account is None:
            raise XrpcError(401, "InvalidToken", "Account no longer exists")
        return {
            "handle": account.handle,
            "did": account.did,
            "didDoc": pds.accounts.did_document(account),
            **({"email": account.email} if account.email else {}),
            "active": True,
        }

    @router.procedure("com.atproto.server.createAppPassword", auth="required")
    def create_app_password(req: XrpcRequest) -> dict[str, Any]:
        caller: Caller = req.principal
        if not caller.full_access:
            raise XrpcError(
                401, "AuthRequired", "App passwords can only be created with a full session"
            )
        return pds.accounts.create_app_password(
            caller.did, req.body["name"], bool(req.body.get("privileged", False))
        )

    @router.query("com.atproto.server.listAppPasswords", auth="required")
    def list_app_passwords(req: XrpcRequest) -> dict[str, Any]:
        caller: Caller = req.principal
        if not caller.full_access:
            raise XrpcError(
                401, "AuthRequired", "App passwords can only be listed with a full session"
            )
        return {"passwords": pds.accounts.list_app_passwords(caller.did)}

    @router.procedure("com.atproto.server.revokeAppPassword", auth="required")
    def revoke_app_password(req: XrpcRequest) -> None:
        caller: Caller = req.principal
        if not caller.full_access:
            raise XrpcError(
                401, "AuthRequired", "App passwords can only be revoked with a full session"
            )
        pds.accounts.revoke_app_password(caller.did, req.body["name"])

    @router.query("com.atproto.server.getServiceAuth", auth="required")
    def get_service_auth(req: XrpcRequest) -> dict[str, Any]:
        caller: Caller = req.principal
        account = pds.accounts.by_did(caller.did)
        if account is None:
            raise XrpcError(401, "InvalidToken", "Account no longer exists")
        token = issue_service_token(
            account, req.params["aud"], req.params.get("exp"), req.params.get("lxm"), pds.clock
        )
        return {"token": token}


def _bearer_token(req: XrpcRequest) -> str:
    scheme, _, token = (req.http.headers.get("authorization") or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise XrpcError(401, "AuthRequired", "A refresh token is required (Authorization: Bearer)")
    return token.strip()
