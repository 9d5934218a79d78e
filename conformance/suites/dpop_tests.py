"""DPOP-01..12 as suite tests, shared by every profile whose target is a DPoP resource server.

A suite imports these functions into its own ``test_dpop.py`` and provides a
``protected_endpoint`` fixture (a method the target protects, with a token bound to a key);
pytest collects them there. A suite with extra, target-specific probes for one requirement
defines that test itself instead of importing it.
"""

from __future__ import annotations

import httpx
import pytest

from conformance.checks import dpop as checks
from conformance.checks.base import require
from conformance.plugin import Measure
from conformance.scenarios import dpop as probes
from conformance.scenarios.dpop import ProtectedEndpoint


@pytest.mark.requirement("DPOP-01")
def test_missing_duplicate_or_unparsable_proof_is_refused(
    http: httpx.Client, protected_endpoint: ProtectedEndpoint
) -> None:
    require(checks.check_proof_presence(probes.probe_proof_presence(http, protected_endpoint)))


@pytest.mark.requirement("DPOP-02")
def test_missing_or_stale_nonce_gets_a_fresh_one(
    http: httpx.Client, protected_endpoint: ProtectedEndpoint
) -> None:
    require(checks.check_nonce_challenge(probes.probe_nonce_challenge(http, protected_endpoint)))


@pytest.mark.requirement("DPOP-03")
def test_htm_and_htu_must_match_the_request(
    http: httpx.Client, protected_endpoint: ProtectedEndpoint
) -> None:
    require(checks.check_htm_htu_binding(probes.probe_htm_htu(http, protected_endpoint)))


@pytest.mark.requirement("DPOP-04")
def test_iat_outside_the_window_is_refused(
    http: httpx.Client, protected_endpoint: ProtectedEndpoint
) -> None:
    window = probes.probe_iat_window(http, protected_endpoint, offset_seconds=300)
    require(checks.check_iat_window(window))


@pytest.mark.requirement("DPOP-05")
def test_replayed_proof_is_refused(
    http: httpx.Client, protected_endpoint: ProtectedEndpoint
) -> None:
    require(checks.check_replay_rejected(probes.probe_replay(http, protected_endpoint)))


@pytest.mark.requirement("DPOP-06")
def test_ath_must_hash_the_presented_token(
    http: httpx.Client, protected_endpoint: ProtectedEndpoint
) -> None:
    require(checks.check_ath_binding(probes.probe_ath(http, protected_endpoint)))


@pytest.mark.requirement("DPOP-07")
def test_proof_key_must_match_the_token_binding(
    http: httpx.Client, protected_endpoint: ProtectedEndpoint
) -> None:
    require(checks.check_key_binding(probes.probe_key_binding(http, protected_endpoint)))


@pytest.mark.requirement("DPOP-08")
def test_proof_type_and_algorithm_are_enforced(
    http: httpx.Client, protected_endpoint: ProtectedEndpoint
) -> None:
    found = probes.probe_proof_type_and_alg(http, protected_endpoint)
    require(checks.check_proof_type_and_alg(found))


@pytest.mark.requirement("DPOP-09")
def test_forged_foreign_or_expired_tokens_are_refused(
    http: httpx.Client, protected_endpoint: ProtectedEndpoint, measure: Measure
) -> None:
    found = probes.probe_forged_and_rogue_tokens(http, protected_endpoint)
    measure(
        "rogue issuer documents fetched",
        found.rogue_fetches,
        note="requests the target made to the rogue authorization server (0 is ideal: the "
        "issuer check should come before any fetch)",
    )
    require(checks.check_token_verified(found.probes))


@pytest.mark.requirement("DPOP-10")
def test_dpop_bound_token_as_bearer_is_refused(
    http: httpx.Client, protected_endpoint: ProtectedEndpoint
) -> None:
    require(checks.check_bearer_rejected(probes.probe_bearer_scheme(http, protected_endpoint)))


@pytest.mark.requirement("DPOP-11")
def test_successful_responses_carry_a_nonce_and_old_nonces_have_grace(
    http: httpx.Client, protected_endpoint: ProtectedEndpoint
) -> None:
    require(checks.check_nonce_rotation(probes.probe_nonce_rotation(http, protected_endpoint)))


@pytest.mark.requirement("DPOP-12")
def test_concurrent_requests_sharing_a_nonce_do_not_race(
    http: httpx.Client, protected_endpoint: ProtectedEndpoint
) -> None:
    race = probes.probe_concurrent_nonce(http, protected_endpoint, clients=10)
    require(checks.check_no_nonce_race(race))
