"""DPOP-01..12: Stratos as a DPoP resource server for tokens issued by the users' own PDSes.

The probes are the identity suite's, unchanged, pointed at an authenticated Stratos *read*
(``zone.stratos.enrollment.status`` for the owner: auth is optional there, but a presented
``Authorization`` that is invalid must be refused, and the caller's own ``boundaries`` appear
only to an authenticated caller) — never a write, which would spend the owner's rate budget.

The tests are the shared ones (``conformance/suites/dpop_tests.py``) except DPOP-03, which adds
a Stratos case: a proof whose ``htu`` is the user's PDS (the "requests go to the PDS" pitfall).
DPOP-09's rogue-issuer probe matters most here: Stratos verifies tokens remotely and must insist
that the issuer is the authorization server of the user's own PDS.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx
import pytest

from conformance.checks import dpop as checks
from conformance.checks.base import require
from conformance.clients.dpop import htu_of
from conformance.clients.oauth import OAuthClient, OAuthSession
from conformance.redact import Redactor
from conformance.scenarios import dpop as probes
from conformance.scenarios.base import NegativeProbes, Probe
from conformance.scenarios.dpop import DpopCaller, ProtectedEndpoint
from conformance.suites.dpop_tests import (  # noqa: F401 - collected by pytest from here
    test_ath_must_hash_the_presented_token,
    test_concurrent_requests_sharing_a_nonce_do_not_race,
    test_dpop_bound_token_as_bearer_is_refused,
    test_forged_foreign_or_expired_tokens_are_refused,
    test_iat_outside_the_window_is_refused,
    test_missing_duplicate_or_unparsable_proof_is_refused,
    test_missing_or_stale_nonce_gets_a_fresh_one,
    test_proof_key_must_match_the_token_binding,
    test_proof_type_and_algorithm_are_enforced,
    test_replayed_proof_is_refused,
    test_successful_responses_carry_a_nonce_and_old_nonces_have_grace,
)

if TYPE_CHECKING:
    from conformance.suites.stratos.conftest import StratosRoles

PROTECTED_NSID = "zone.stratos.enrollment.status"


@pytest.fixture(scope="module")
def owner_session(roles: StratosRoles, oauth_client: OAuthClient, pds_url: str) -> OAuthSession:
    """A fresh OAuth session of the owner for this module (tokens live ≤ 15 minutes)."""
    owner = roles["owner"]
    return oauth_client.login(pds_url, owner.handle, owner.password)


@pytest.fixture
def protected_endpoint(
    owner_session: OAuthSession, stratos_url: str, redactor: Redactor
) -> ProtectedEndpoint:
    """An authenticated Stratos read with the owner's PDS-issued token and DPoP key."""
    url = httpx.URL(f"{stratos_url}/xrpc/{PROTECTED_NSID}", params={"did": owner_session.did})
    return ProtectedEndpoint(
        url=str(url),
        method="GET",
        access_token=owner_session.access_token,
        key=owner_session.dpop_key,
        secret_sink=redactor.add,
    )


@pytest.mark.requirement("DPOP-03")
def test_htm_and_htu_must_match_the_stratos_request(
    http: httpx.Client, protected_endpoint: ProtectedEndpoint, pds_url: str
) -> None:
    shared = probes.probe_htm_htu(http, protected_endpoint)
    caller = DpopCaller(http, protected_endpoint)
    caller.prime()
    pds_htu = htu_of(f"{pds_url.rstrip('/')}/xrpc/{PROTECTED_NSID}")
    pitfall = Probe(
        "htu for the user's PDS origin instead of Stratos (the 'requests go to the PDS' pitfall)",
        caller.send_built(lambda n: [caller.proof(n, htu=pds_htu)]),
    )
    require(checks.check_htm_htu_binding(NegativeProbes(shared.control, (*shared.cases, pitfall))))
