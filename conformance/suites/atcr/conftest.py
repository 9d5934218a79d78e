"""Fixtures of the ATCR suite: the AppView and hold, accounts in their roles, AppView logins and
per-user registry clients.

Roles (docs/atcr.md, "Harness contracts"): ``a`` and ``b`` are hold crew and logged in to the
AppView (the first two such accounts of the profile), ``outsider`` is an account with
``hold_crew = false``, ``nologin`` one with ``atcr_login = false``. A test whose role is missing
is ``disabled``. Repositories are ``<handle>/<path chosen by the test>``; every path carries a
random suffix, so runs never collide on a shared registry.

``registry_url`` is the shared ``oci_registry_url`` (``conformance/suites/oci_fixtures.py``);
the per-user registry clients are built here because the OCI suite's clients push as one
identity, and ATCR checks need several users.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import httpx
import pytest

from conformance.clients.oci import RegistryAuth, RegistryClient
from conformance.clients.pds import PdsClient, Session
from conformance.clients.stratos import EnrollmentAttempt, ServiceLogin
from conformance.evidence import ExchangeRecorder
from conformance.plugin import disabled
from conformance.redact import Redactor
from conformance.scenarios.atcr import (
    AtcrUser,
    challenge_service,
    realm_of,
)
from conformance.suites.roles import RoleTable
from conformance.target import Account, TargetProfile

REGISTRY_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class AtcrMember:
    role: str
    user: AtcrUser
    session: Session = field(repr=False)  # a legacy PDS session (record deletes, service auth)
    account: Account


AtcrRoles = RoleTable[AtcrMember]


def assign_atcr_roles(accounts: tuple[Account, ...]) -> dict[str, Account]:
    """``a``/``b``: crew and logged in; ``outsider``: not crew; ``nologin``: never logged in."""
    roles: dict[str, Account] = {}
    regular = [a for a in accounts if a.hold_crew and a.atcr_login]
    for role, account in zip(("a", "b"), regular, strict=False):
        roles[role] = account
    outsiders = [a for a in accounts if not a.hold_crew]
    if outsiders:
        roles["outsider"] = outsiders[0]
    nologin = [a for a in accounts if not a.atcr_login]
    if nologin:
        roles["nologin"] = nologin[0]
    return roles


@pytest.fixture(scope="session")
def registry_url(oci_registry_url: str) -> str:
    """The AppView's base URL (the shared ``oci_registry_url``: disabled when not configured)."""
    return oci_registry_url


@pytest.fixture(scope="session")
def hold_url(target: TargetProfile) -> str:
    if target.atcr.hold is None:
        disabled("the target profile names no ATCR hold ([atcr] hold)")
    return target.atcr.hold.rstrip("/")


@pytest.fixture(scope="session")
def registry_service(registry_url: str, session_http: httpx.Client) -> str | None:
    """The ``service`` the registry's challenge names (sent back to the realm, as docker does)."""
    return challenge_service(session_http.get(f"{registry_url}/v2/"))


@pytest.fixture(scope="session")
def atcr_roles(target: TargetProfile, pds: PdsClient) -> AtcrRoles:
    members: dict[str, AtcrMember] = {}
    for role, account in assign_atcr_roles(target.accounts).items():
        password = target.password(account)
        session = pds.login(account.handle, password)
        user = AtcrUser(session.handle, session.did, password)
        members[role] = AtcrMember(role, user, session, account)
    return RoleTable(members, "ATCR", "docs/atcr.md")


@pytest.fixture(scope="session")
def appview_logins(
    atcr_roles: AtcrRoles, registry_url: str, session_http: httpx.Client, redactor: Redactor
) -> dict[str, EnrollmentAttempt]:
    """Each role with ``atcr_login`` logged in to the AppView once (OAuth through its PDS)."""
    logins: dict[str, EnrollmentAttempt] = {}
    for role, member in atcr_roles.members.items():
        if not member.account.atcr_login:
            continue
        logins[role] = ServiceLogin(session_http, redactor).login(
            f"{registry_url}/auth/oauth/login", {"handle": member.user.handle},
            member.user.handle, member.user.password,
        )
    return logins


@pytest.fixture(scope="session")
def logged_in(
    atcr_roles: AtcrRoles, appview_logins: dict[str, EnrollmentAttempt]
) -> Callable[[str], AtcrMember]:
    """``logged_in("a")``: the member, after checking its AppView login worked (setup error
    otherwise: pushes cannot be judged without it)."""

    def get(role: str) -> AtcrMember:
        member = atcr_roles[role]
        attempt = appview_logins.get(role)
        body = attempt.body if attempt is not None else None
        if attempt is None or not (isinstance(body, dict) and body.get("loggedIn") is True):
            final = attempt.final if attempt is not None else None
            raise RuntimeError(
                f"could not log {member.user.handle} in to the AppView: "
                + (f"{final.status_code} {final.text[:200]}" if final is not None else "no login")
            )
        return member

    return get


RegistryFactory = Callable[..., RegistryClient]


@pytest.fixture
def registry_for(
    registry_url: str, recorder: ExchangeRecorder, redactor: Redactor
) -> Iterator[RegistryFactory]:
    """``registry_for(user, timeout=…)``: a registry client answering challenges with that
    user's credentials (``None``: anonymous), recorded as the test's evidence."""
    clients: list[httpx.Client] = []

    def make(user: AtcrUser | None, timeout: float = REGISTRY_TIMEOUT_S) -> RegistryClient:
        auth = RegistryAuth(
            redactor,
            user.handle if user else None,
            user.password if user else None,
            default_realm=realm_of(registry_url),
        )
        client = httpx.Client(auth=auth, timeout=timeout, follow_redirects=False,
                              event_hooks=recorder.event_hooks())
        clients.append(client)
        return RegistryClient(client, registry_url)

    yield make
    for client in clients:
        client.close()
