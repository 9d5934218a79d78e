"""STR-RL-01..06: the header parsing, and each check against a correct fake Stratos (all pass)
and against one broken on purpose (exactly the intended requirement fails). The fake's window
is 12 writes per 2 s, so a whole run — fresh window, spend, 429, wait for the reset — takes a
few seconds over real HTTP."""

from __future__ import annotations

import email.utils
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import httpx
import pytest
from ratelimit_fakes import ENGINEERING, OWNER, PEER, FakeAuth, running_stratos

from conformance.checks.base import Failure
from conformance.checks.ratelimit import (
    check_import_over_limit,
    check_other_did_unaffected,
    check_rate_limit_enforced,
    check_rate_limit_headers,
    check_reads_not_counted,
    check_writes_resume,
)
from conformance.clients.xrpc import XrpcClient
from conformance.scenarios.base import Probe
from conformance.scenarios.ratelimit import (
    ImportProbes,
    RateLimitHeaders,
    RateLimitPolicy,
    RateLimitRun,
    no_progress,
    parse_retry_after,
    run_rate_limit,
    wait_seconds,
)
from conformance.scenarios.stratos_access import Viewer

CHECKS: dict[str, Callable[[RateLimitRun], Failure | None]] = {
    "STR-RL-01": check_rate_limit_enforced,
    "STR-RL-02": check_rate_limit_headers,
    "STR-RL-03": check_other_did_unaffected,
    "STR-RL-04": check_writes_resume,
    "STR-RL-05": check_reads_not_counted,
}


def _resp(
    status: int = 200, headers: dict[str, str] | None = None, body: object = None
) -> httpx.Response:
    return httpx.Response(
        status,
        json=body if body is not None else {},
        headers=headers,
        request=httpx.Request("POST", "http://127.0.0.1/xrpc/com.atproto.repo.createRecord"),
    )


# --- parsing ----------------------------------------------------------------------------------


def test_headers_parse() -> None:
    headers = RateLimitHeaders.parse(
        _resp(
            headers={
                "RateLimit-Limit": "300",
                "RateLimit-Remaining": "299",
                "RateLimit-Reset": "60",
                "RateLimit-Policy": "300;w=60",
            }
        )
    )
    assert (headers.limit, headers.remaining, headers.reset) == (300, 299, 60)
    assert headers.policy == RateLimitPolicy(300, 60.0, "300;w=60")
    assert str(headers.policy) == "300;w=60"
    assert headers.problems() == ()


def test_headers_missing_and_malformed() -> None:
    headers = RateLimitHeaders.parse(
        _resp(
            headers={
                "RateLimit-Limit": "lots",
                "RateLimit-Remaining": "400",
                "RateLimit-Policy": "300",
            }
        )
    )
    problems = headers.problems()
    assert "no RateLimit-Reset" in problems
    assert any("RateLimit-Limit 'lots' is malformed" in p for p in problems)
    assert any("RateLimit-Policy '300' is malformed" in p for p in problems)
    assert RateLimitHeaders.parse(_resp()).problems()[0] == "no RateLimit-Limit"


def test_headers_inconsistent() -> None:
    headers = RateLimitHeaders.parse(
        _resp(
            headers={
                "RateLimit-Limit": "100",
                "RateLimit-Remaining": "101",
                "RateLimit-Reset": "90",
                "RateLimit-Policy": "300;w=60",
            }
        )
    )
    problems = " | ".join(headers.problems())
    assert "not the quota" in problems and "exceeds" in problems and "longer than" in problems


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("300;w=60", (300, 60.0)),
        ('"default";q=300;w=60', (300, 60.0)),
        ("20;w=5, 1000;w=3600", (20, 5.0)),
        ("300", None),
        ("w=60", None),
        ("300;w=0", None),
        ("", None),
    ],
)
def test_policy_parse(value: str, expected: tuple[int, float] | None) -> None:
    policy = RateLimitPolicy.parse(value)
    assert (None if policy is None else (policy.quota, policy.window_s)) == expected


def test_policy_comparison() -> None:
    promised = RateLimitPolicy(300, 60.0)
    assert not RateLimitPolicy(20, 5.0).allows_more_than(promised)
    assert not RateLimitPolicy(300, 60.0).allows_more_than(promised)
    assert RateLimitPolicy(301, 60.0).allows_more_than(promised)
    assert RateLimitPolicy(300, 30.0).allows_more_than(promised)


def test_retry_after() -> None:
    assert parse_retry_after("17") == 17.0
    now = time.time()
    date = email.utils.formatdate(now + 30, usegmt=True)
    assert parse_retry_after(date, now) == pytest.approx(30, abs=1)
    assert parse_retry_after(email.utils.formatdate(now - 30, usegmt=True), now) == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


def test_wait_seconds_drives_the_progress_bar() -> None:
    advanced: list[float] = []
    descriptions: list[tuple[str, float | None]] = []

    @contextmanager
    def progress(description: str, total: float | None = None) -> Iterator[Callable[[float], None]]:
        descriptions.append((description, total))
        yield advanced.append

    waited = wait_seconds(0.3, progress, "waiting", step=0.1)
    assert waited >= 0.3
    assert descriptions == [("waiting", 0.3)]
    assert sum(advanced) == pytest.approx(0.3, abs=0.11)
    assert wait_seconds(0, no_progress, "nothing") == 0.0


# --- runs against the fake --------------------------------------------------------------------


def _run(http: httpx.Client, *faults: str, promised: RateLimitPolicy | None = None) -> RateLimitRun:
    with running_stratos(faults=faults) as (_, base):
        stratos = XrpcClient(base, http)
        owner = Viewer("owner", OWNER, FakeAuth(OWNER), frozenset({ENGINEERING}))
        peer = Viewer("peer", PEER, FakeAuth(PEER), frozenset({ENGINEERING}))
        return run_rate_limit(
            stratos, [owner, peer], promised=promised, batch_size=4, reads=3, other_writes=5
        )


def _verdicts(run: RateLimitRun) -> dict[str, Failure | None]:
    return {req: check(run) for req, check in CHECKS.items()}


@pytest.fixture(scope="module")
def good_run() -> RateLimitRun:
    with httpx.Client(timeout=15.0) as http:
        return _run(http)


def test_correct_service_passes_every_check(good_run: RateLimitRun) -> None:
    verdicts = _verdicts(good_run)
    assert verdicts == dict.fromkeys(CHECKS), verdicts
    run = good_run
    assert (run.limit, run.window_s, run.policy_source) == (12, 2.0, "RateLimit-Policy")
    assert run.accepted_ops == 12 and run.used_before == 0
    assert run.refused is not None and run.refused is run.extra[0]
    assert any(w.ops > 1 for w in run.spend), "batches were used"
    assert run.reads_midway and run.reads_limited
    assert [w.headers.remaining for w in run.spend][:3] == [11, 10, 9]
    assert run.after_reset and run.after_reset[-1].accepted
    assert run.advertised_reset_s is not None and run.advertised_reset_s <= 2


def _prewrite(stratos: XrpcClient, did: str, count: int) -> None:
    for _ in range(count):
        stratos.procedure(
            "com.atproto.repo.createRecord",
            {"repo": did, "collection": "zone.stratos.feed.post", "record": {"text": "x"}},
            auth=FakeAuth(did),
        )


def test_an_idle_did_is_driven_to_its_limit_without_waiting(http: httpx.Client) -> None:
    with running_stratos() as (_, base):
        stratos = XrpcClient(base, http)
        _prewrite(stratos, OWNER, 3)
        owner = Viewer("owner", OWNER, FakeAuth(OWNER))
        peer = Viewer("peer", PEER, FakeAuth(PEER))
        run = run_rate_limit(stratos, [owner, peer], batch_size=4, reads=2, other_writes=2)
    assert (run.limited, run.other) == ("peer", "owner")
    assert run.fresh_wait_s == 0.0 and run.used_before == 0 and run.accepted_ops == 12
    assert _verdicts(run) == dict.fromkeys(CHECKS)


def test_a_window_already_used_is_waited_out(http: httpx.Client) -> None:
    with running_stratos() as (_, base):
        stratos = XrpcClient(base, http)
        _prewrite(stratos, OWNER, 3)
        _prewrite(stratos, PEER, 9)
        owner = Viewer("owner", OWNER, FakeAuth(OWNER))
        peer = Viewer("peer", PEER, FakeAuth(PEER))
        run = run_rate_limit(stratos, [owner, peer], batch_size=4, reads=2, other_writes=2)
    assert run.fresh_wait_s > 0.5
    assert run.used_before == 0 and run.accepted_ops == 12
    assert _verdicts(run) == dict.fromkeys(CHECKS)


@pytest.mark.parametrize(
    ("faults", "requirement", "words"),
    [
        (("no-headers",), "STR-RL-02", "no RateLimit-Limit"),
        (("no-countdown",), "STR-RL-02", "count down by one"),
        (("over-limit",), "STR-RL-01", "more writes than the limit"),
        (("batch-counts-one",), "STR-RL-01", "each counted as one"),
        (("no-retry-after",), "STR-RL-01", "Retry-After"),
        (("no-error-name",), "STR-RL-01", "RateLimitExceeded"),
        (("shared-limiter",), "STR-RL-03", "blocks another DID"),
        (("slow-when-limited",), "STR-RL-03", "slows another DID"),
        (("never-resets",), "STR-RL-04", "still refused"),
        (("reads-counted",), "STR-RL-05", "reads are counted"),
        (("reads-refused-when-limited",), "STR-RL-05", "while the DID was write-limited"),
    ],
)
def test_broken_service_fails_exactly_one_requirement(
    http: httpx.Client, faults: tuple[str, ...], requirement: str, words: str
) -> None:
    run = _run(http, *faults, promised=RateLimitPolicy(12, 2.0))
    verdicts = _verdicts(run)
    failing = {req for req, failure in verdicts.items() if failure is not None}
    assert failing == {requirement}, verdicts
    failure = verdicts[requirement]
    assert failure is not None and failure.responses
    assert words in failure.title + failure.message, failure


def test_promise_exceeded_fails_rl01(good_run: RateLimitRun) -> None:
    from dataclasses import replace

    stricter = replace(good_run, promised=RateLimitPolicy(10, 2.0))
    failure = check_rate_limit_enforced(stricter)
    assert failure is not None and failure.requirement == "STR-RL-01"
    assert "promises" in failure.title
    looser = replace(good_run, promised=RateLimitPolicy(20, 2.0))
    assert check_rate_limit_enforced(looser) is None


# --- STR-RL-06 --------------------------------------------------------------------------------


def _import(status: int, body: object) -> ImportProbes:
    car = Probe("PDS sync.getRepo", _resp(200))
    return ImportProbes((), car, 312, None, Probe("importRepo", _resp(status, body=body)), 310)


def test_rl06_passes() -> None:
    assert check_import_over_limit(_import(200, {"imported": 312})) is None


@pytest.mark.parametrize(
    ("status", "body", "words"),
    [
        (429, {"error": "RateLimitExceeded"}, "per-record write limit"),
        (400, {"error": "InvalidCar"}, "was refused"),
        (200, {"imported": 300}, "whole repo"),
        (200, {"imported": "312"}, "whole repo"),
    ],
)
def test_rl06_fails(status: int, body: object, words: str) -> None:
    failure = check_import_over_limit(_import(status, body))
    assert failure is not None and failure.requirement == "STR-RL-06"
    assert words in failure.title
