"""CLOCK-01: offset measurement from HTTP Date headers and its warn/fail thresholds."""

from __future__ import annotations

import math

import httpx
from fake_resource_server import FakeResourceServer, serve_own_date

from conformance.checks.clock import FAIL, WARN, ClockFailure, check_clock_offset, check_clock_pair
from conformance.localserver import serve_in_thread
from conformance.scenarios.clock import (
    ClockOffset,
    ClockSample,
    measure_clock_offset,
    offset_from_samples,
)


def _measure(http: httpx.Client, fault: str | None, *, own_date: bool = True) -> ClockOffset:
    server = FakeResourceServer(fault)
    if own_date:
        served = serve_own_date(server.app(set_date=True))
    else:
        served = serve_in_thread(server.app())
    with served as base:
        return measure_clock_offset(http, f"{base}/health", samples=8)


def test_accurate_clock_passes(http: httpx.Client) -> None:
    offset = _measure(http, None)
    assert offset.samples == 8 and offset.consistent
    assert offset.low <= 0 <= offset.high
    assert abs(offset.estimate) < 0.75
    assert check_clock_offset(offset) is None


def test_uvicorn_stale_date_header_does_not_warn(http: httpx.Client) -> None:
    # uvicorn refreshes its Date once a second; date_lag keeps that from looking like skew
    offset = _measure(http, None, own_date=False)
    assert offset.samples == 8
    assert check_clock_offset(offset) is None


def test_clock_30s_ahead_fails(http: httpx.Client) -> None:
    offset = _measure(http, "clock_skew")
    assert 29.0 < offset.low <= offset.estimate <= offset.high < 32.5
    failure = check_clock_offset(offset)
    assert isinstance(failure, ClockFailure)
    assert failure.requirement == "CLOCK-01" and failure.severity == FAIL
    assert failure.offsets == (offset,)
    assert "ahead of" in failure.title and failure.responses


def test_clock_3s_ahead_warns(http: httpx.Client) -> None:
    offset = _measure(http, "clock_skew_small")
    failure = check_clock_offset(offset)
    assert isinstance(failure, ClockFailure)
    assert failure.requirement == "CLOCK-01" and failure.severity == WARN


def test_pairwise_offsets(http: httpx.Client) -> None:
    good = _measure(http, None)
    other_good = _measure(http, None, own_date=False)
    skewed = _measure(http, "clock_skew")
    assert check_clock_pair(good, other_good) is None
    failure = check_clock_pair(skewed, good)
    assert isinstance(failure, ClockFailure)
    assert failure.requirement == "CLOCK-01" and failure.severity == FAIL
    assert failure.offsets == (skewed, good)
    assert "differ by" in failure.title


def test_bounds_from_samples_intersect() -> None:
    # true offset +2.3 s; requests of 10 ms at different phases of the second
    samples = []
    for phase in (0.0, 0.125, 0.25, 0.375, 0.5, 0.625, 0.75, 0.875):
        t_send = 1000.0 + phase
        server_time = t_send + 0.005 + 2.3
        samples.append(ClockSample(t_send, t_send + 0.01, float(math.floor(server_time))))
    offset = offset_from_samples("http://x", samples, date_lag=0.0)
    assert offset.low <= 2.3 <= offset.high
    assert offset.high - offset.low < 0.2
    assert abs(offset.estimate - 2.3) < 0.1
    lagged = offset_from_samples("http://x", samples)  # default lag widens only the top
    assert lagged.low == offset.low and lagged.high > offset.high
    assert abs(lagged.estimate - 2.3) < 0.1


def test_no_date_header_is_a_failure() -> None:
    offset = offset_from_samples("http://x", [ClockSample(1.0, 1.1, None)])
    assert offset.samples == 0 and math.isnan(offset.estimate)
    failure = check_clock_offset(offset)
    assert isinstance(failure, ClockFailure) and failure.severity == FAIL
    assert "no usable Date" in failure.title
    assert check_clock_pair(offset, offset) is not None


def test_inconsistent_samples_fall_back_to_union() -> None:
    samples = [ClockSample(100.0, 100.01, 100.0), ClockSample(101.0, 101.01, 140.0)]
    offset = offset_from_samples("http://x", samples, date_lag=0.0)
    assert not offset.consistent
    assert offset.low <= offset.high
