"""CLOCK-01/02: the PDS's clock against the harness's, and its tolerance of ordinary skew."""

from __future__ import annotations

import httpx
import pytest

from conformance.checks.base import require
from conformance.checks.clock import WARN, check_clock_offset, check_iat_skew
from conformance.plugin import Measure
from conformance.scenarios.clock import measure_clock_offset, probe_iat_skew
from conformance.scenarios.dpop import ProtectedEndpoint


@pytest.mark.requirement("CLOCK-01")
def test_pds_clock_agrees_with_the_harness(
    http: httpx.Client, pds_url: str, measure: Measure
) -> None:
    offset = measure_clock_offset(http, f"{pds_url.rstrip('/')}/xrpc/_health", samples=8)
    measure(
        "clock offset pds-harness",
        round(offset.estimate, 3),
        "s",
        note=f"bounds [{offset.low:+.3f}, {offset.high:+.3f}] s from {offset.samples} Date samples",
    )
    failure = check_clock_offset(offset)
    if failure is not None and failure.severity == WARN:
        # 1 s ≤ |offset| < 10 s: a warning the report shows, not a failure.
        measure("clock warning", failure.message, note="CLOCK-01 warns at 1 s and fails at 10 s")
        return
    require(failure)


@pytest.mark.requirement("CLOCK-02")
def test_ordinary_skew_accepted_and_large_skew_refused(
    http: httpx.Client, protected_endpoint: ProtectedEndpoint
) -> None:
    probes = probe_iat_skew(http, protected_endpoint, tolerated_seconds=5, rejected_seconds=300)
    require(check_iat_skew(probes))
