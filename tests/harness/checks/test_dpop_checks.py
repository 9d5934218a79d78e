"""DPOP-01..12 and CLOCK-02: each check passes against a conforming resource server and returns a
Failure with exactly its requirement ID against a server that breaks that one rule (real HTTP)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

import httpx
import pytest
from fake_resource_server import FakeResourceServer, Running

from conformance.checks.base import CheckFailed, Failure, require
from conformance.checks.clock import check_iat_skew
from conformance.checks.dpop import (
    check_ath_binding,
    check_bearer_rejected,
    check_htm_htu_binding,
    check_iat_window,
    check_key_binding,
    check_no_nonce_race,
    check_nonce_challenge,
    check_nonce_on_success,
    check_nonce_rotation,
    check_previous_nonce_accepted,
    check_proof_presence,
    check_proof_type_and_alg,
    check_replay_rejected,
    check_token_verified,
)
from conformance.scenarios.clock import probe_iat_skew
from conformance.scenarios.dpop import (
    ProtectedEndpoint,
    probe_ath,
    probe_bearer_scheme,
    probe_concurrent_nonce,
    probe_forged_tokens,
    probe_htm_htu,
    probe_iat_window,
    probe_key_binding,
    probe_nonce_challenge,
    probe_nonce_rotation,
    probe_proof_presence,
    probe_proof_type_and_alg,
    probe_replay,
)


@dataclass(frozen=True)
class Requirement:
    id: str
    probe: Callable[[httpx.Client, ProtectedEndpoint], Any]
    check: Callable[[Any], Failure | None]
    faults: tuple[str, ...]  # misbehaviours that must make this check fail


REQUIREMENTS = (
    Requirement(
        "DPOP-01",
        probe_proof_presence,
        check_proof_presence,
        ("accept_missing_proof", "wrong_error_name"),
    ),
    Requirement(
        "DPOP-02",
        probe_nonce_challenge,
        check_nonce_challenge,
        ("no_nonce_header", "no_nonce_check"),
    ),
    Requirement("DPOP-03", probe_htm_htu, check_htm_htu_binding, ("ignore_htu",)),
    Requirement("DPOP-04", probe_iat_window, check_iat_window, ("ignore_iat",)),
    Requirement("DPOP-05", probe_replay, check_replay_rejected, ("allow_replay",)),
    Requirement("DPOP-06", probe_ath, check_ath_binding, ("ignore_ath",)),
    Requirement("DPOP-07", probe_key_binding, check_key_binding, ("ignore_jkt",)),
    Requirement("DPOP-08", probe_proof_type_and_alg, check_proof_type_and_alg, ("accept_typ_jwt",)),
    Requirement("DPOP-09", probe_forged_tokens, check_token_verified, ("accept_forged_token",)),
    Requirement("DPOP-10", probe_bearer_scheme, check_bearer_rejected, ("accept_bearer",)),
    Requirement(
        "DPOP-11",
        partial(probe_nonce_rotation, watch_seconds=3.0, interval=0.2),
        check_nonce_rotation,
        ("no_nonce_on_success", "no_nonce_grace"),
    ),
    Requirement("DPOP-12", probe_concurrent_nonce, check_no_nonce_race, ("nonce_race",)),
    Requirement("CLOCK-02", probe_iat_skew, check_iat_skew, ("iat_too_strict", "ignore_iat")),
)
BY_ID = {r.id: r for r in REQUIREMENTS}


def _assert_secret_free(failure: Failure, endpoint: ProtectedEndpoint) -> None:
    for text in (failure.title, failure.message):
        assert endpoint.access_token not in text
        for response in failure.responses:
            for proof in response.request.headers.get_list("dpop"):
                assert proof not in text


@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize("req", REQUIREMENTS, ids=lambda r: r.id)
def test_check_passes_against_conforming_server(
    req: Requirement, method: str, running: Running, http: httpx.Client
) -> None:
    with running() as (server, base):
        endpoint = server.endpoint(base, method)
        failure = req.check(req.probe(http, endpoint))
    assert failure is None, failure
    require(failure)


@pytest.mark.parametrize(
    ("req", "fault"),
    [(r, fault) for r in REQUIREMENTS for fault in r.faults],
    ids=lambda v: v.id if isinstance(v, Requirement) else v,
)
def test_check_fails_against_broken_server(
    req: Requirement, fault: str, running: Running, http: httpx.Client
) -> None:
    with running(fault) as (server, base):
        endpoint = server.endpoint(base)
        failure = req.check(req.probe(http, endpoint))
    assert failure is not None, f"{req.id} check passed against a server with {fault}"
    assert failure.requirement == req.id
    assert failure.title and failure.message and failure.responses
    _assert_secret_free(failure, endpoint)
    with pytest.raises(CheckFailed) as raised:
        require(failure)
    assert raised.value.failure is failure


# Which checks each misbehaviour trips when *all* of them run: the fault's own requirement and
# nothing else, except where one broken rule necessarily breaks others (noted).
FAULT_MATRIX = {
    None: set(),
    "accept_missing_proof": {"DPOP-01"},
    # the wrong error name is on every invalid_dpop_proof; 06/07/08 only require a 401
    "wrong_error_name": {"DPOP-01", "DPOP-03", "DPOP-04"},
    "no_nonce_check": {"DPOP-02"},
    "ignore_htu": {"DPOP-03"},
    "ignore_iat": {"DPOP-04", "CLOCK-02"},
    "iat_too_strict": {"CLOCK-02"},
    "allow_replay": {"DPOP-05"},
    "ignore_ath": {"DPOP-06"},
    "ignore_jkt": {"DPOP-07"},
    "accept_typ_jwt": {"DPOP-08"},
    "accept_forged_token": {"DPOP-09"},
    "accept_bearer": {"DPOP-10"},
    "no_nonce_on_success": {"DPOP-11"},
    # a new nonce on every request, no grace: the previous nonce is refused too
    "nonce_race": {"DPOP-11", "DPOP-12"},
    "clock_skew": set(),
}


@pytest.mark.parametrize("fault", list(FAULT_MATRIX), ids=lambda f: f or "conforming")
def test_each_fault_trips_exactly_its_requirements(
    fault: str | None, running: Running, http: httpx.Client
) -> None:
    with running(fault) as (server, base):
        failed = set()
        for req in REQUIREMENTS:
            failure = req.check(req.probe(http, server.endpoint(base)))
            if failure is not None:
                assert failure.requirement == req.id
                failed.add(req.id)
    assert failed == FAULT_MATRIX[fault]


NEGATIVE = (
    "DPOP-01",
    "DPOP-03",
    "DPOP-04",
    "DPOP-05",
    "DPOP-06",
    "DPOP-07",
    "DPOP-08",
    "DPOP-09",
    "DPOP-10",
    "DPOP-11",
    "DPOP-12",
)


@pytest.mark.parametrize("req_id", NEGATIVE)
def test_server_rejecting_everything_does_not_pass_negative_probes(
    req_id: str, running: Running, http: httpx.Client
) -> None:
    req = BY_ID[req_id]
    with running("reject_all") as (server, base):
        failure = req.check(req.probe(http, server.endpoint(base)))
    assert failure is not None
    assert failure.requirement == req_id
    assert "correct request was refused" in failure.title
    assert all(r.status_code == 401 for r in failure.responses)


def test_nonce_rotation_not_observed_is_not_a_failure(running: Running, http: httpx.Client) -> None:
    # Real servers rotate every few minutes: watching briefly sees no rotation.
    with running(nonce_interval=3600.0) as (server, base):
        probes = probe_nonce_rotation(http, server.endpoint(base), watch_seconds=0.5, interval=0.2)
    assert probes.previous_nonce is None
    assert len(probes.later) >= 1
    assert check_previous_nonce_accepted(probes) is None
    assert check_nonce_on_success(probes) is None


def test_nonce_rotation_observed_and_grace_honoured(running: Running, http: httpx.Client) -> None:
    with running(nonce_interval=0.5) as (server, base):
        probes = probe_nonce_rotation(http, server.endpoint(base), watch_seconds=3.0, interval=0.1)
    assert probes.previous_nonce is not None
    assert probes.previous_nonce.response.status_code == 200


def test_no_grace_is_reported_as_the_grace_facet(running: Running, http: httpx.Client) -> None:
    with running("no_nonce_grace", nonce_interval=0.5) as (server, base):
        probes = probe_nonce_rotation(http, server.endpoint(base), watch_seconds=3.0, interval=0.1)
    assert check_nonce_on_success(probes) is None
    failure = check_previous_nonce_accepted(probes)
    assert failure is not None and failure.requirement == "DPOP-11"
    assert "grace" in failure.title


def test_nonce_race_makes_clients_fail_after_their_retry(
    running: Running, http: httpx.Client
) -> None:
    with running("nonce_race") as (server, base):
        probes = probe_concurrent_nonce(http, server.endpoint(base), clients=10)
    failed = [a for a in probes.attempts if a.responses[-1].status_code != 200]
    assert len(failed) >= 5
    assert all(len(a.responses) <= 2 for a in probes.attempts)
    failure = check_no_nonce_race(probes)
    assert failure is not None and f"{len(failed)} of 10" in failure.message


def test_conforming_concurrency_needs_no_retry_beyond_one(
    running: Running, http: httpx.Client
) -> None:
    with running() as (server, base):
        probes = probe_concurrent_nonce(http, server.endpoint(base), clients=10)
    assert len(probes.attempts) == 10
    assert all(a.responses[-1].status_code == 200 for a in probes.attempts)


def test_wrong_error_name_is_reported_with_the_name(running: Running, http: httpx.Client) -> None:
    with running("wrong_error_name") as (server, base):
        failure = check_proof_presence(probe_proof_presence(http, server.endpoint(base)))
    assert failure is not None
    assert 'error="invalid_request"' in failure.message
    assert 'expected 401 with WWW-Authenticate: DPoP error="invalid_dpop_proof"' in failure.message


def test_forged_token_failure_names_each_accepted_token(
    running: Running, http: httpx.Client
) -> None:
    with running("accept_forged_token") as (server, base):
        failure = check_token_verified(probe_forged_tokens(http, server.endpoint(base)))
    assert failure is not None
    for fragment in ("sub changed", "not the user's authorization server", "alg 'none'", "expired"):
        assert fragment in failure.message


def test_probes_present_a_nonce_so_rejections_are_about_the_defect(
    running: Running, http: httpx.Client
) -> None:
    with running() as (server, base):
        probes = probe_htm_htu(http, server.endpoint(base))
    for probe in probes.cases:
        assert 'error="invalid_dpop_proof"' in probe.response.headers["www-authenticate"]


def test_nonce_challenge_retry_uses_the_handed_out_nonce(
    running: Running, http: httpx.Client
) -> None:
    with running() as (server, base):
        probes = probe_nonce_challenge(http, server.endpoint(base))
    assert probes.missing.response.status_code == 401
    assert probes.missing_retry is not None and probes.missing_retry.response.status_code == 200
    assert probes.stale_retry is not None and probes.stale_retry.response.status_code == 200


def test_fake_server_rejects_unknown_misbehaviour() -> None:
    with pytest.raises(ValueError):
        FakeResourceServer("no_such_fault")


def test_secret_sink_receives_every_token_and_proof_sent(
    running: Running, http: httpx.Client
) -> None:
    registered: list[str] = []
    with running() as (server, base):
        endpoint = replace(server.endpoint(base), secret_sink=registered.append)
        probes = probe_forged_tokens(http, endpoint)
        presence = probe_proof_presence(http, endpoint)
    assert endpoint.access_token in registered
    sent = [p.response.request for p in (*probes.cases, *presence.cases)]
    for request in sent:
        for value in request.headers.get_list("dpop"):
            assert (value in registered) == (value != "not-a-jwt!")
        token = request.headers["authorization"].split(" ", 1)[1]
        assert token in registered
    assert "not-a-jwt!" not in registered
    assert "secret_sink" not in repr(endpoint) and endpoint.access_token not in repr(endpoint)
