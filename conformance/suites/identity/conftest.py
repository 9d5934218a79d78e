"""Fixtures of the identity suite: the PDS, its accounts, and an OAuth session on it.

Setup failures here (an account cannot be created, the OAuth login does not complete) raise
``XrpcCallFailed``/``OAuthFlowError``, which the plugin reports as ``error`` — the harness could not
run the check — rather than as a verdict on the requirement.
"""

from __future__ import annotations

import httpx
import pytest

from conformance.clients.dpop import DpopKey
from conformance.clients.oauth import OAuthClient, OAuthSession
from conformance.clients.pds import PdsClient, Session
from conformance.plugin import disabled
from conformance.provision import AccountCredentials, provision_accounts
from conformance.redact import Redactor
from conformance.scenarios.dpop import ProtectedEndpoint
from conformance.target import TargetProfile

# DPoP probes need a resource the token grants; getSession is one every PDS serves to OAuth clients.
PROTECTED_NSID = "com.atproto.server.getSession"
MIN_ACCOUNTS = 2


@pytest.fixture(scope="session")
def accounts(target: TargetProfile, pds: PdsClient, redactor: Redactor) -> list[AccountCredentials]:
    """At least two accounts on the PDS: those the profile gives, else provisioned ones."""
    given = [
        AccountCredentials(
            a.handle, pds.login(a.handle, target.password(a)).did, target.password(a)
        )
        for a in target.accounts
    ]
    if len(given) >= MIN_ACCOUNTS:
        return given
    if not target.provision.enabled:
        disabled(
            f"the identity suite needs {MIN_ACCOUNTS} accounts; the profile gives {len(given)}"
        )
    invite = (
        target.secret(target.provision.invite_code_env)
        if target.provision.invite_code_env
        else None
    )
    domain = target.provision.handle_domain
    assert domain is not None, "load_target requires handle_domain when provisioning"
    count = max(target.provision.count, MIN_ACCOUNTS)
    return provision_accounts(pds, count, domain, invite, redactor)


@pytest.fixture(scope="session")
def account(accounts: list[AccountCredentials]) -> AccountCredentials:
    return accounts[0]


@pytest.fixture(scope="session")
def other_account(accounts: list[AccountCredentials]) -> AccountCredentials:
    return accounts[1]


@pytest.fixture(scope="session")
def legacy_session(pds: PdsClient, account: AccountCredentials) -> Session:
    """A password session (createSession) of the first account."""
    return pds.login(account.handle, account.password)


@pytest.fixture(scope="session")
def oauth_client(session_http: httpx.Client, redactor: Redactor) -> OAuthClient:
    """The harness as an ATProto loopback (public) OAuth client."""
    return OAuthClient(session_http, redactor)


@pytest.fixture(scope="session")
def oauth_session(
    oauth_client: OAuthClient, pds_url: str, account: AccountCredentials
) -> OAuthSession:
    """A DPoP-bound OAuth session of the first account, obtained through PAR → form → token."""
    return oauth_client.login(pds_url, account.handle, account.password)


@pytest.fixture
def protected_endpoint(
    oauth_session: OAuthSession, pds_url: str, redactor: Redactor
) -> ProtectedEndpoint:
    """The PDS as a DPoP resource server: a method the session's token may call. Every proof
    and forged token the probes make is registered as a secret."""
    return ProtectedEndpoint(
        url=f"{pds_url.rstrip('/')}/xrpc/{PROTECTED_NSID}",
        method="GET",
        access_token=oauth_session.access_token,
        key=oauth_session.dpop_key,
        secret_sink=redactor.add,
    )


@pytest.fixture
def fresh_oauth_session(
    oauth_client: OAuthClient, pds_url: str, account: AccountCredentials
) -> OAuthSession:
    """A session of its own, for probes that revoke or use up tokens."""
    return oauth_client.login(pds_url, account.handle, account.password)


@pytest.fixture
def stranger_key() -> DpopKey:
    """A DPoP key no token is bound to."""
    return DpopKey.generate()
