"""DPOP-01..12: the PDS as a DPoP resource server (RFC 9449 + the ATProto profile).

The tests are the shared ones (``conformance/suites/dpop_tests.py``), run against the
``protected_endpoint`` of this suite's conftest: ``getSession`` with an OAuth session's token.
"""

from __future__ import annotations

from conformance.suites.dpop_tests import (  # noqa: F401 - collected by pytest from here
    test_ath_must_hash_the_presented_token,
    test_concurrent_requests_sharing_a_nonce_do_not_race,
    test_dpop_bound_token_as_bearer_is_refused,
    test_forged_foreign_or_expired_tokens_are_refused,
    test_htm_and_htu_must_match_the_request,
    test_iat_outside_the_window_is_refused,
    test_missing_duplicate_or_unparsable_proof_is_refused,
    test_missing_or_stale_nonce_gets_a_fresh_one,
    test_proof_key_must_match_the_token_binding,
    test_proof_type_and_algorithm_are_enforced,
    test_replayed_proof_is_refused,
    test_successful_responses_carry_a_nonce_and_old_nonces_have_grace,
)
