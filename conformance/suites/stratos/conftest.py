"""Fixtures of the Stratos suite: the service, accounts in their roles, enrolled and logged in.

Roles (docs/stratos.md): ``owner`` and ``peer`` share a boundary, ``outsider`` shares none with the
owner, ``denied`` is not on the allowlist, ``spare`` (optional) is enrollable and free for
destructive tests. Roles come from the profile's accounts (``boundaries``, ``allowlisted``); a
test whose role is missing is ``disabled``. Every account logs in to its PDS with OAuth (DPoP);
the same session's token and key are presented to Stratos and its AppView, as a client would.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import httpx
import pytest

from conformance.clients.dpop import DpopAuth
from conformance.clients.oauth import OAuthClient, OAuthSession
from conformance.clients.pds import PdsClient
from conformance.clients.stratos import EnrollmentAttempt, StratosEnroller
from conformance.clients.xrpc import XrpcClient
from conformance.plugin import disabled
from conformance.redact import Redactor
from conformance.suites.roles import RoleTable
from conformance.target import Account, TargetProfile

ROLES = ("owner", "peer", "outsider", "denied", "spare")


@dataclass(frozen=True)
class StratosAccount:
    role: str
    handle: str
    did: str
    password: str = field(repr=False)
    boundaries: tuple[str, ...]  # bare names, as the profile lists them
    session: OAuthSession = field(repr=False)

    def auth(self, *, max_nonce_retries: int = 1) -> DpopAuth:
        """DPoP auth with this account's PDS-issued token (nonces shared per origin)."""
        return self.session.auth(max_nonce_retries=max_nonce_retries)


StratosRoles = RoleTable[StratosAccount]


def assign_roles(accounts: Sequence[Account]) -> dict[str, Account]:
    """Pick owner/peer/outsider/denied/spare from the profile's accounts by their boundaries."""
    allowed = [a for a in accounts if a.allowlisted and a.boundaries]
    roles: dict[str, Account] = {}
    denied = [a for a in accounts if not a.allowlisted]
    if denied:
        roles["denied"] = denied[0]
    for owner in allowed:
        peers = [a for a in allowed if a is not owner and set(a.boundaries) & set(owner.boundaries)]
        outsiders = [a for a in allowed if not set(a.boundaries) & set(owner.boundaries)]
        if peers and outsiders:
            roles |= {"owner": owner, "peer": peers[0], "outsider": outsiders[0]}
            break
    else:
        if allowed:
            roles["owner"] = allowed[0]
    used = {id(a) for a in roles.values()}
    spares = [a for a in allowed if id(a) not in used]
    if spares:
        roles["spare"] = spares[0]
    return roles


@pytest.fixture(scope="session")
def stratos_url(target: TargetProfile) -> str:
    if target.stratos.url is None:
        disabled("the target profile names no Stratos ([stratos] url)")
    return target.stratos.url.rstrip("/")


@pytest.fixture(scope="session")
def appview_url(target: TargetProfile) -> str:
    if target.stratos.appview is None:
        disabled("the target profile names no Stratos AppView ([stratos] appview)")
    return target.stratos.appview.rstrip("/")


@pytest.fixture(scope="session")
def service_did(target: TargetProfile, stratos_url: str, session_http: httpx.Client) -> str:
    """The service DID from the profile, else the one the service publishes."""
    if target.stratos.service_did:
        return target.stratos.service_did
    document = session_http.get(f"{stratos_url}/.well-known/did.json")
    if document.status_code != 200:
        raise RuntimeError(
            f"cannot read {stratos_url}/.well-known/did.json ({document.status_code})"
        )
    return str(document.json()["id"])


@pytest.fixture(scope="session")
def stratos(stratos_url: str, session_http: httpx.Client) -> XrpcClient:
    return XrpcClient(stratos_url, session_http)


@pytest.fixture(scope="session")
def oauth_client(session_http: httpx.Client, redactor: Redactor) -> OAuthClient:
    return OAuthClient(session_http, redactor)


@pytest.fixture(scope="session")
def roles(
    target: TargetProfile, pds: PdsClient, oauth_client: OAuthClient, pds_url: str
) -> StratosRoles:
    """Every role's account, logged in to its PDS with OAuth."""
    out: dict[str, StratosAccount] = {}
    for role, account in assign_roles(target.accounts).items():
        password = target.password(account)
        session = oauth_client.login(pds_url, account.handle, password)
        out[role] = StratosAccount(
            role, account.handle, session.did, password, account.boundaries, session
        )
    return RoleTable(out, "Stratos", "docs/stratos.md")


@pytest.fixture(scope="session")
def enroller(session_http: httpx.Client, redactor: Redactor) -> StratosEnroller:
    return StratosEnroller(session_http, redactor)


@pytest.fixture(scope="session")
def enrolled(
    roles: StratosRoles, enroller: StratosEnroller, stratos_url: str
) -> dict[str, EnrollmentAttempt]:
    """Enrol every enrollable role once per run, through the OAuth flow; their attempts."""
    attempts: dict[str, EnrollmentAttempt] = {}
    for role in ("owner", "peer", "outsider", "spare"):
        account = roles.get(role)
        if account is None:
            continue
        attempt = enroller.enroll(stratos_url, account.handle, account.password, account.boundaries)
        if not attempt.enrolled:
            raise RuntimeError(
                f"could not enrol the {role} account ({account.handle}): "
                f"{attempt.final.status_code} {attempt.final.text[:300]}"
            )
        attempts[role] = attempt
    return attempts
