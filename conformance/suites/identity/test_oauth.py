"""PDS-06..PDS-11: the PDS's OAuth authorization server, probed by the harness as an ATProto
client (a loopback public client; a confidential client where the profile allows one).

Each test runs a ``conformance.scenarios.oauth`` probe and hands what came back to one
``conformance.checks.oauth`` check. Probes that need a code or a session sign in through the
AS's own form; when that setup fails the test is an *error* (the harness could not run the
check), not a verdict. Destructive probes (refresh reuse, revocation) use sessions of their own.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from conformance.checks.base import require
from conformance.checks.oauth import (
    check_access_token_claims,
    check_access_token_signature,
    check_as_nonce_challenge,
    check_authorization_page,
    check_authorization_redirect,
    check_client_assertion_iat,
    check_jwks_public,
    check_loopback_client,
    check_par_requires_dpop,
    check_pkce_s256_only,
    check_protected_resource,
    check_refresh_key_binding,
    check_refresh_single_use,
    check_revocation,
    check_server_metadata,
    check_token_requires_dpop,
    check_token_response,
    check_unknown_redirect_uri,
    check_unpushed_refused,
    check_unreachable_client,
    check_wrong_verifier,
    mentions_iat,
)
from conformance.clients.dpop import DpopKey
from conformance.clients.oauth import AuthServerInfo, OAuthClient, OAuthSession
from conformance.plugin import Measure, disabled
from conformance.provision import AccountCredentials
from conformance.redact import Redactor
from conformance.scenarios.oauth import (
    CLIENT_METADATA_PATH,
    AuthorizationProbes,
    DiscoveryProbes,
    TokenExchange,
    closed_loopback_url,
    hosted_confidential_client,
    probe_authorization,
    probe_client_assertion_iat,
    probe_discovery,
    probe_jwks,
    probe_loopback_client,
    probe_par_nonce,
    probe_par_without_dpop,
    probe_pkce_methods,
    probe_redirect_uri,
    probe_refresh_key_binding,
    probe_refresh_reuse,
    probe_revocation,
    probe_token_exchange,
    probe_token_without_dpop,
    probe_unpushed_authorization,
    probe_unreachable_client,
    probe_wrong_verifier,
)
from conformance.target import TargetProfile

RESOURCE_NSID = "com.atproto.server.getSession"
# Never resolves (RFC 6761 reserves .invalid): what a remote PDS gets as an unreachable client.
REMOTE_UNREACHABLE_CLIENT_ID = f"https://atconform-unreachable.invalid{CLIENT_METADATA_PATH}"


# --- module fixtures --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def auth_server(oauth_client: OAuthClient, pds_url: str) -> AuthServerInfo:
    """The PDS's authorization server, as discovery finds it (setup: errors, not verdicts)."""
    return oauth_client.discover(pds_url)


@pytest.fixture(scope="module")
def discovery(session_http: httpx.Client, pds_url: str) -> DiscoveryProbes:
    return probe_discovery(session_http, pds_url)


@pytest.fixture(scope="module")
def authorization(
    oauth_client: OAuthClient, auth_server: AuthServerInfo, account: AccountCredentials
) -> AuthorizationProbes:
    return probe_authorization(oauth_client, auth_server, account.handle, account.password)


@pytest.fixture(scope="module")
def token_exchange(
    oauth_client: OAuthClient, auth_server: AuthServerInfo, account: AccountCredentials
) -> TokenExchange:
    return probe_token_exchange(oauth_client, auth_server, account.handle, account.password)


@pytest.fixture
def confidential_client(
    target: TargetProfile, http: httpx.Client, redactor: Redactor
) -> Iterator[OAuthClient]:
    """A private_key_jwt client whose metadata document and JWKS the harness serves on
    loopback (only a PDS on this machine can fetch them)."""
    if not target.confidential_client_available:
        disabled(
            "no confidential client for this target: set oauth.confidential_client_metadata_url "
            "and oauth.confidential_client_key_env in the profile"
        )
    if not target.embedded:
        disabled(
            "confidential-client checks against a remote PDS (a published client metadata "
            "document) are not supported yet; the harness can only host one on loopback"
        )
    with hosted_confidential_client(http, redactor) as client:
        yield client


# --- PDS-06 metadata --------------------------------------------------------------------------


@pytest.mark.requirement("PDS-06")
def test_authorization_server_metadata(discovery: DiscoveryProbes) -> None:
    require(check_server_metadata(discovery))


@pytest.mark.requirement("PDS-06")
def test_protected_resource_names_one_server(discovery: DiscoveryProbes) -> None:
    require(check_protected_resource(discovery))


@pytest.mark.requirement("PDS-06")
def test_jwks_holds_public_keys_only(discovery: DiscoveryProbes) -> None:
    require(check_jwks_public(discovery))


# --- PDS-07 PAR and DPoP ----------------------------------------------------------------------


@pytest.mark.requirement("PDS-07")
def test_unpushed_authorization_request_refused(
    oauth_client: OAuthClient, auth_server: AuthServerInfo
) -> None:
    require(check_unpushed_refused(probe_unpushed_authorization(oauth_client, auth_server)))


@pytest.mark.requirement("PDS-07")
def test_par_without_dpop_refused(oauth_client: OAuthClient, auth_server: AuthServerInfo) -> None:
    require(check_par_requires_dpop(probe_par_without_dpop(oauth_client, auth_server)))


@pytest.mark.requirement("PDS-07")
def test_token_request_without_dpop_refused(
    oauth_client: OAuthClient, auth_server: AuthServerInfo, account: AccountCredentials
) -> None:
    probes = probe_token_without_dpop(oauth_client, auth_server, account.handle, account.password)
    require(check_token_requires_dpop(probes))


@pytest.mark.requirement("PDS-07")
def test_first_dpop_request_gets_nonce(
    oauth_client: OAuthClient, auth_server: AuthServerInfo
) -> None:
    require(check_as_nonce_challenge(probe_par_nonce(oauth_client, auth_server)))


# --- PDS-08 PKCE ------------------------------------------------------------------------------


@pytest.mark.requirement("PDS-08")
def test_only_s256_accepted(oauth_client: OAuthClient, auth_server: AuthServerInfo) -> None:
    require(check_pkce_s256_only(probe_pkce_methods(oauth_client, auth_server)))


@pytest.mark.requirement("PDS-08")
def test_wrong_verifier_refused(
    oauth_client: OAuthClient, auth_server: AuthServerInfo, account: AccountCredentials
) -> None:
    probes = probe_wrong_verifier(oauth_client, auth_server, account.handle, account.password)
    require(check_wrong_verifier(probes))


# --- PDS-09 authorization page ----------------------------------------------------------------


@pytest.mark.requirement("PDS-09")
def test_authorization_page_is_an_html_form(authorization: AuthorizationProbes) -> None:
    require(check_authorization_page(authorization))


@pytest.mark.requirement("PDS-09")
def test_authorization_redirect_carries_code_state_iss(
    authorization: AuthorizationProbes, auth_server: AuthServerInfo
) -> None:
    require(check_authorization_redirect(authorization, auth_server.issuer))


# --- PDS-10 tokens ----------------------------------------------------------------------------


@pytest.mark.requirement("PDS-10")
def test_token_response(token_exchange: TokenExchange, account: AccountCredentials) -> None:
    require(check_token_response(token_exchange, account.did))


@pytest.mark.requirement("PDS-10")
def test_access_token_claims(
    token_exchange: TokenExchange, account: AccountCredentials, auth_server: AuthServerInfo
) -> None:
    require(check_access_token_claims(token_exchange, account.did, auth_server.issuer))


@pytest.mark.requirement("PDS-10")
def test_access_token_verifies_with_jwks(
    token_exchange: TokenExchange, http: httpx.Client, auth_server: AuthServerInfo
) -> None:
    require(check_access_token_signature(token_exchange, probe_jwks(http, auth_server)))


@pytest.mark.requirement("PDS-10")
def test_refresh_token_single_use(
    oauth_client: OAuthClient, fresh_oauth_session: OAuthSession
) -> None:
    require(check_refresh_single_use(probe_refresh_reuse(oauth_client, fresh_oauth_session)))


@pytest.mark.requirement("PDS-10")
def test_refresh_token_bound_to_dpop_key(
    oauth_client: OAuthClient,
    fresh_oauth_session: OAuthSession,
    stranger_key: DpopKey,
    pds_url: str,
    account: AccountCredentials,
) -> None:
    control = oauth_client.login(pds_url, account.handle, account.password)
    probes = probe_refresh_key_binding(oauth_client, fresh_oauth_session, control, stranger_key)
    require(check_refresh_key_binding(probes))


@pytest.mark.requirement("PDS-10")
def test_revocation(
    oauth_client: OAuthClient, fresh_oauth_session: OAuthSession, pds_url: str
) -> None:
    resource = f"{pds_url.rstrip('/')}/xrpc/{RESOURCE_NSID}"
    require(check_revocation(probe_revocation(oauth_client, fresh_oauth_session, resource)))


# --- PDS-11 client metadata -------------------------------------------------------------------


@pytest.mark.requirement("PDS-11")
def test_unknown_redirect_uri_refused(
    oauth_client: OAuthClient, auth_server: AuthServerInfo
) -> None:
    require(check_unknown_redirect_uri(probe_redirect_uri(oauth_client, auth_server)))


@pytest.mark.requirement("PDS-11")
def test_unreachable_client_metadata_refused(
    oauth_client: OAuthClient, auth_server: AuthServerInfo, target: TargetProfile
) -> None:
    client_id = closed_loopback_url() if target.embedded else REMOTE_UNREACHABLE_CLIENT_ID
    require(
        check_unreachable_client(probe_unreachable_client(oauth_client, auth_server, client_id))
    )


@pytest.mark.requirement("PDS-11")
def test_loopback_client_accepted(oauth_client: OAuthClient, auth_server: AuthServerInfo) -> None:
    require(check_loopback_client(probe_loopback_client(oauth_client, auth_server)))


@pytest.mark.requirement("PDS-11")
def test_confidential_client_assertion_iat(
    confidential_client: OAuthClient, auth_server: AuthServerInfo, measure: Measure
) -> None:
    probes = probe_client_assertion_iat(confidential_client, auth_server)
    future = probes.cases[0]
    if future.response.status_code >= 400:
        measure(
            "client-assertion-iat-error-mentions-iat",
            "yes" if mentions_iat(future) else "no",
            note="whether the refusal's error_description names the iat check",
        )
    require(check_client_assertion_iat(probes))
