"""Token auth over HTTP (docs/atcr.md, "Token auth"): the Bearer challenge, the per-request
token check with its 401-vs-403 rule, and the ``/auth/token`` and ``/auth/jwks`` endpoints."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from ..ports import Caller, CredentialChecker, Owner, OwnerResolver
from .errors import RegistryError, error_response
from .names import RepositoryName
from .tokens import TokenIssuer, decide_access, format_scope, parse_scopes

# DELETE is allowed with either action: CNCF Distribution asks for ``delete``, while several
# clients only ever request ``pull,push``; both are granted on the same condition.
_SATISFIES = {"pull": ("pull",), "push": ("push",), "delete": ("delete", "push")}
_CHALLENGE_ACTIONS = {"pull": ("pull",), "push": ("pull", "push"), "delete": ("delete",)}
MAX_BASIC_HEADER = 4096


@dataclass(frozen=True)
class Challenge:
    """Builds ``WWW-Authenticate`` headers; ``with_realm`` False is the fault
    ``no-www-authenticate-realm``."""

    realm: str
    service: str
    with_realm: bool = True

    def header(
        self, name: RepositoryName | None = None, action: str | None = None
    ) -> dict[str, str]:
        parts = [f'realm="{self.realm}"'] if self.with_realm else []
        parts.append(f'service="{self.service}"')
        if name is not None and action is not None:
            parts.append(f'scope="{format_scope(str(name), _CHALLENGE_ACTIONS[action])}"')
        return {"WWW-Authenticate": "Bearer " + ",".join(parts)}


@dataclass(frozen=True)
class RequestAuth:
    """Checks the registry token of one ``/v2/`` request."""

    issuer: TokenIssuer
    challenge: Challenge
    skip_namespace_check: bool = False  # fault ``push-other-namespace``

    def caller(
        self, request: Request, name: RepositoryName | None = None, action: str | None = None
    ) -> Caller:
        """The token's caller if it may do ``action`` on ``name`` (any valid token for the
        base endpoint); else 401 with a challenge, or 403 for a known user lacking the right."""
        challenge = self.challenge.header(name, action)
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise RegistryError("UNAUTHORIZED", "authentication required", headers=challenge)
        try:
            caller = self.issuer.verify(token.strip())
        except ValueError as exc:
            raise RegistryError("UNAUTHORIZED", str(exc), headers=challenge) from None
        if name is None or action is None:
            return caller
        if any(caller.may(str(name), granted) for granted in _SATISFIES[action]):
            return caller
        detail = [{"Type": "repository", "Name": str(name), "Action": action}]
        if caller.did is None:
            # An anonymous caller may still get the right by authenticating: ask it to.
            raise RegistryError(
                "UNAUTHORIZED", "authentication required", detail, headers=challenge
            )
        raise RegistryError("DENIED", f"requested access to {name} is denied", detail)

    def check_namespace(self, caller: Caller, owner: Owner, name: RepositoryName) -> None:
        """Writes only into the caller's own namespace, whatever a token says (defence in depth
        behind the grant decision)."""
        if self.skip_namespace_check or caller.did == owner.did:
            return
        raise RegistryError(
            "DENIED",
            f"{caller.did or 'anonymous'} may not write to {name}: it belongs to {owner.did}",
        )


def parse_basic(header: str) -> tuple[str, str]:
    """``Basic base64(id:password)`` -> (id, password); RegistryError 401 when malformed."""
    scheme, _, value = header.partition(" ")
    try:
        if scheme.lower() != "basic" or len(header) > MAX_BASIC_HEADER:
            raise ValueError
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise RegistryError("UNAUTHORIZED", "malformed Basic credentials") from None
    identifier, password = _split_user_pass(decoded)
    if not identifier or not password:
        raise RegistryError("UNAUTHORIZED", "Basic credentials need <handle or DID>:<password>")
    return identifier, password


def _split_user_pass(decoded: str) -> tuple[str, str]:
    """RFC 7617 user-ids have no ``:``, but a DID does (docs/atcr.md lets users log in with
    one). ``did:plc`` has exactly three segments; other DID methods take everything up to the
    last ``:`` (app passwords contain none); handles end at the first ``:``."""
    if decoded.startswith("did:plc:"):
        parts = decoded.split(":", 3)
        return (":".join(parts[:3]), parts[3]) if len(parts) == 4 else (decoded, "")
    if decoded.startswith("did:"):
        identifier, _, password = decoded.rpartition(":")
        return identifier, password
    identifier, _, password = decoded.partition(":")
    return identifier, password


@dataclass(frozen=True)
class TokenEndpoint:
    """``GET /auth/token`` (Docker token auth) and the OAuth2 password-grant ``POST`` form some
    clients (containerd) try first; both answer the same token body."""

    issuer: TokenIssuer
    owners: OwnerResolver
    credentials: CredentialChecker
    push_anywhere: bool = False  # fault ``push-other-namespace``

    async def get(self, request: Request) -> Response:
        try:
            header = request.headers.get("authorization")
            identity = parse_basic(header) if header else None
            return await self._answer(identity, request.query_params.getlist("scope"))
        except Exception as exc:  # the one mapping; never a traceback
            return error_response(exc)

    async def post(self, request: Request) -> Response:
        try:
            try:
                form = await request.form()
            except Exception:
                raise RegistryError("UNSUPPORTED", "expected a form body", status=400) from None
            grant = form.get("grant_type")
            if grant != "password":
                raise RegistryError("UNSUPPORTED", f"unsupported grant_type {grant!r}", status=400)
            identifier, password = form.get("username"), form.get("password")
            if not isinstance(identifier, str) or not isinstance(password, str):
                raise RegistryError("UNAUTHORIZED", "username and password are required")
            if not identifier or not password:
                raise RegistryError("UNAUTHORIZED", "username and password are required")
            scopes = [s for s in form.getlist("scope") if isinstance(s, str)]
            return await self._answer((identifier, password), scopes)
        except Exception as exc:
            return error_response(exc)

    async def _answer(self, identity: tuple[str, str] | None, scopes: Sequence[str]) -> Response:
        did = await self.credentials.check(*identity) if identity else None
        access = await decide_access(
            parse_scopes(scopes), did, self.owners, push_anywhere=self.push_anywhere
        )
        return JSONResponse(self.issuer.issue(did, access).body())


def auth_routes(endpoint: TokenEndpoint) -> list[BaseRoute]:
    async def jwks(request: Request) -> Response:
        return JSONResponse(endpoint.issuer.jwks())

    return [
        Route("/auth/token", endpoint.get, methods=["GET"]),
        Route("/auth/token", endpoint.post, methods=["POST"], name="auth_token_form"),
        Route("/auth/jwks", jwks, methods=["GET"]),
    ]
