"""DPoP at a resource server (DPOP-01..12): one small check per requirement (or named facet).

Each check takes what a ``conformance.scenarios.dpop`` probe returned and answers
``Failure | None``. Checks of negative cases first look at the probe set's *control* request: if
a correct request was refused, the rejections prove nothing and the check says so instead of
passing. Messages quote the probe's case descriptions and the response status / challenge /
error name only — never tokens, proofs or nonces.
"""

from __future__ import annotations

from collections.abc import Iterable

import httpx

from conformance.checks.base import Failure
from conformance.checks.common import control_failure
from conformance.scenarios.base import NegativeProbes, Probe, describe_response, dpop_challenge
from conformance.scenarios.dpop import (
    ConcurrencyProbes,
    NonceChallengeProbes,
    NonceRotationProbes,
    ReplayProbes,
    is_success,
    nonce_of,
)

INVALID_DPOP_PROOF = "invalid_dpop_proof"
USE_DPOP_NONCE = "use_dpop_nonce"
INVALID_TOKEN = "invalid_token"  # noqa: S105 (an OAuth error name)


def rejection_problem(probe: Probe, *, error: str | None = None) -> str | None:
    """Why ``probe`` was not rejected as required (401, and ``WWW-Authenticate: DPoP
    error="<error>"`` when ``error`` is given), or None when it was."""
    response = probe.response
    expected = "401" if error is None else f'401 with WWW-Authenticate: DPoP error="{error}"'
    if response.status_code != 401:
        return f"{probe.case}: expected {expected}, got {describe_response(response)}"
    if error is None:
        return None
    challenge = dpop_challenge(response)
    if challenge is None or challenge.params.get("error") != error:
        return f"{probe.case}: expected {expected}, got {describe_response(response)}"
    return None


def _judge_rejections(
    requirement: str, title: str, probes: NegativeProbes, *, error: str | None
) -> Failure | None:
    if (failure := control_failure(requirement, probes.control)) is not None:
        return failure
    bad = [(p, problem) for p in probes.cases if (problem := rejection_problem(p, error=error))]
    if not bad:
        return None
    return Failure(
        requirement,
        title,
        "; ".join(problem for _, problem in bad),
        tuple(p.response for p, _ in bad),
    )


def _nonce_problems(
    probe: Probe, retry: Probe | None, *, refused_nonce: str | None
) -> Iterable[str]:
    yield from filter(None, [rejection_problem(probe, error=USE_DPOP_NONCE)])
    fresh = nonce_of(probe.response)
    if fresh is None:
        yield f"{probe.case}: the response carries no DPoP-Nonce header"
    elif refused_nonce is not None and fresh == refused_nonce:
        yield f"{probe.case}: the DPoP-Nonce handed out is the nonce that was just refused"
    if retry is not None and not is_success(retry.response):
        yield f"{retry.case}: expected 2xx, got {describe_response(retry.response)}"


# --- DPOP-01 ---------------------------------------------------------------------------------


def check_proof_presence(probes: NegativeProbes) -> Failure | None:
    """DPOP-01: no / several / unparsable DPoP headers → 401 ``invalid_dpop_proof``."""
    return _judge_rejections(
        "DPOP-01",
        "missing, duplicate or unparsable DPoP proof not rejected with invalid_dpop_proof",
        probes,
        error=INVALID_DPOP_PROOF,
    )


# --- DPOP-02 ---------------------------------------------------------------------------------


def check_nonce_challenge(probes: NonceChallengeProbes) -> Failure | None:
    """DPOP-02: a missing or unknown nonce → 401 ``use_dpop_nonce`` + a fresh ``DPoP-Nonce``;
    the retry with that nonce succeeds."""
    problems = [
        *_nonce_problems(probes.missing, probes.missing_retry, refused_nonce=None),
        *_nonce_problems(probes.stale, probes.stale_retry, refused_nonce=probes.stale_nonce),
    ]
    if not problems:
        return None
    responses = [probes.missing.response, probes.stale.response]
    responses += [p.response for p in (probes.missing_retry, probes.stale_retry) if p is not None]
    return Failure(
        "DPOP-02",
        "nonce challenge (use_dpop_nonce + DPoP-Nonce, then a successful retry) not followed",
        "; ".join(problems),
        tuple(responses),
    )


# --- DPOP-03 / 04 ----------------------------------------------------------------------------


def check_htm_htu_binding(probes: NegativeProbes) -> Failure | None:
    """DPOP-03: a proof for another method or URL → 401 ``invalid_dpop_proof``."""
    return _judge_rejections(
        "DPOP-03",
        "proof for another method or URL (htm/htu) not rejected with invalid_dpop_proof",
        probes,
        error=INVALID_DPOP_PROOF,
    )


def check_iat_window(probes: NegativeProbes) -> Failure | None:
    """DPOP-04: ``iat`` outside the acceptance window → 401 ``invalid_dpop_proof``."""
    return _judge_rejections(
        "DPOP-04",
        "proof with iat far outside the acceptance window not rejected with invalid_dpop_proof",
        probes,
        error=INVALID_DPOP_PROOF,
    )


# --- DPOP-05 ---------------------------------------------------------------------------------


def check_replay_rejected(probes: ReplayProbes) -> Failure | None:
    """DPOP-05: the first use of a proof succeeds, the identical proof again → 401."""
    if (failure := control_failure("DPOP-05", probes.first)) is not None:
        return failure
    problem = rejection_problem(probes.replay)
    if problem is None:
        return None
    return Failure(
        "DPOP-05",
        "replayed DPoP proof (same jti) accepted",
        problem,
        (probes.first.response, probes.replay.response),
    )


# --- DPOP-06 / 07 / 08 -----------------------------------------------------------------------


def check_ath_binding(probes: NegativeProbes) -> Failure | None:
    """DPOP-06: a proof whose ``ath`` is missing or hashes another token → 401."""
    return _judge_rejections(
        "DPOP-06", "proof with a missing or wrong ath accepted", probes, error=None
    )


def check_key_binding(probes: NegativeProbes) -> Failure | None:
    """DPOP-07: a proof by a key other than the token's ``cnf.jkt`` → 401."""
    return _judge_rejections(
        "DPOP-07",
        "token accepted with a proof from a key it is not bound to (cnf.jkt)",
        probes,
        error=None,
    )


def check_proof_type_and_alg(probes: NegativeProbes) -> Failure | None:
    """DPOP-08: ``typ`` other than ``dpop+jwt``, ``alg`` none / HMAC, private ``jwk`` → 401."""
    return _judge_rejections(
        "DPOP-08",
        "proof with a wrong typ, a non-asymmetric alg or a private jwk accepted",
        probes,
        error=None,
    )


# --- DPOP-09 ---------------------------------------------------------------------------------


def check_token_verified(probes: NegativeProbes) -> Failure | None:
    """DPOP-09: forged, foreign-issuer, unsigned or expired tokens → 401 ``invalid_token``."""
    return _judge_rejections(
        "DPOP-09",
        "forged, foreign or expired access token not rejected with invalid_token",
        probes,
        error=INVALID_TOKEN,
    )


# --- DPOP-10 ---------------------------------------------------------------------------------


def check_bearer_rejected(probes: NegativeProbes) -> Failure | None:
    """DPOP-10: the DPoP-bound token under the ``Bearer`` scheme → 401."""
    return _judge_rejections(
        "DPOP-10", "DPoP-bound access token accepted with the Bearer scheme", probes, error=None
    )


# --- DPOP-11 (SHOULD) ------------------------------------------------------------------------


def check_nonce_on_success(probes: NonceRotationProbes) -> Failure | None:
    """DPOP-11 (facet): a successful response carries ``DPoP-Nonce``."""
    if (failure := control_failure("DPOP-11", probes.success)) is not None:
        return failure
    if nonce_of(probes.success.response) is not None:
        return None
    return Failure(
        "DPOP-11",
        "successful response carries no DPoP-Nonce",
        f"{probes.success.case}: expected a DPoP-Nonce header on the 2xx response so clients can "
        f"rotate without a failed round trip, "
        f"got {describe_response(probes.success.response)} without one",
        (probes.success.response,),
    )


def check_previous_nonce_accepted(probes: NonceRotationProbes) -> Failure | None:
    """DPOP-11 (facet): right after a new nonce appears, the previous one is still accepted.

    Passes when no rotation was observed while watching (nothing to judge).
    """
    probe = probes.previous_nonce
    if probe is None or is_success(probe.response):
        return None
    return Failure(
        "DPOP-11",
        "previous nonce refused right after rotation (no grace period)",
        f"{probe.case}: expected 2xx, got {describe_response(probe.response)}",
        (probe.response,),
    )


def check_nonce_rotation(probes: NonceRotationProbes) -> Failure | None:
    """DPOP-11: both facets; the first Failure found."""
    return check_nonce_on_success(probes) or check_previous_nonce_accepted(probes)


# --- DPOP-12 ---------------------------------------------------------------------------------


def _attempt_problem(index: int, responses: tuple[httpx.Response, ...]) -> str | None:
    first, final = responses[0], responses[-1]
    if len(responses) == 1:
        if is_success(first):
            return None
        return (
            f"client {index}: expected 2xx or one use_dpop_nonce challenge, "
            f"got {describe_response(first)}"
        )
    if is_success(final):
        return None
    return (
        f"client {index}: still refused after its one use_dpop_nonce retry, "
        f"got {describe_response(final)}"
    )


def check_no_nonce_race(probes: ConcurrencyProbes) -> Failure | None:
    """DPOP-12: concurrent requests sharing a nonce all succeed within one nonce retry each."""
    if (failure := control_failure("DPOP-12", probes.control)) is not None:
        return failure
    bad = [
        (a, problem) for a in probes.attempts if (problem := _attempt_problem(a.index, a.responses))
    ]
    if not bad:
        return None
    return Failure(
        "DPOP-12",
        "concurrent requests sharing a nonce fail beyond one use_dpop_nonce retry (nonce race)",
        f"{len(bad)} of {len(probes.attempts)} concurrent clients failed: "
        + "; ".join(p for _, p in bad),
        tuple(r for a, _ in bad for r in a.responses),
    )
