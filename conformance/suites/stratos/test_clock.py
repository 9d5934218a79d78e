"""CLOCK-01/02 against Stratos and its AppView.

CLOCK-01: each service's ``Date`` against the harness clock, and against the users' PDS (Stratos
is an OAuth client of that PDS — its client assertions' ``iat`` must not run ahead of it — and
the AppView verifies tokens it issues). The measured offsets go into the report.
CLOCK-02: the services accept DPoP proofs with ordinary skew (±5 s) and refuse 5 minutes off.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx
import pytest

from conformance.checks.base import require
from conformance.checks.clock import (
    WARN,
    ClockFailure,
    check_clock_offset,
    check_clock_pair,
    check_iat_skew,
)
from conformance.clients.oauth import OAuthClient, OAuthSession
from conformance.plugin import Measure
from conformance.redact import Redactor
from conformance.scenarios.clock import ClockOffset, measure_clock_offset, probe_iat_skew
from conformance.scenarios.dpop import ProtectedEndpoint
from conformance.target import ClockThresholds, TargetProfile

if TYPE_CHECKING:
    from conformance.suites.stratos.conftest import StratosRoles

HEALTH = "/xrpc/_health"


@pytest.fixture(scope="module")
def owner_session(roles: StratosRoles, oauth_client: OAuthClient, pds_url: str) -> OAuthSession:
    """A fresh OAuth session of the owner for this module (tokens live ≤ 15 minutes)."""
    owner = roles["owner"]
    return oauth_client.login(pds_url, owner.handle, owner.password)


def _endpoint(url: str, session: OAuthSession, redactor: Redactor) -> ProtectedEndpoint:
    return ProtectedEndpoint(
        url=url,
        method="GET",
        access_token=session.access_token,
        key=session.dpop_key,
        secret_sink=redactor.add,
    )


def _measure_offset(http: httpx.Client, base_url: str, name: str, measure: Measure) -> ClockOffset:
    offset = measure_clock_offset(http, f"{base_url.rstrip('/')}{HEALTH}", samples=8)
    measure(
        f"clock offset {name}-harness",
        round(offset.estimate, 3),
        "s",
        note=f"bounds [{offset.low:+.3f}, {offset.high:+.3f}] s from {offset.samples} Date samples",
    )
    return offset


def _judge(failures: list[ClockFailure | None], measure: Measure, note: str) -> None:
    """Fail on the first ``fail``; record warnings (warn ≤ |offset| < fail) without failing."""
    found = [f for f in failures if f is not None]
    for failure in found:
        if failure.severity != WARN:
            require(failure)
    for failure in found:
        measure("clock warning", failure.message, note=note)


def _service_clock(
    http: httpx.Client,
    service_url: str,
    service: str,
    pds_url: str,
    measure: Measure,
    thresholds: ClockThresholds,
) -> None:
    limits = {"warn_at": thresholds.warn_s, "fail_at": thresholds.fail_s}
    offset = _measure_offset(http, service_url, service, measure)
    pds = _measure_offset(http, pds_url, "pds", measure)
    pair = check_clock_pair(offset, pds, **limits)
    measure(
        f"clock offset {service}-pds",
        round(offset.estimate - pds.estimate, 3),
        "s",
        note="the service's clock minus its PDS's",
    )
    note = f"CLOCK-01 warns at {thresholds.warn_s:g} s and fails at {thresholds.fail_s:g} s"
    _judge([check_clock_offset(offset, **limits), pair], measure, note)


@pytest.mark.requirement("CLOCK-01")
def test_stratos_clock_agrees_with_the_harness_and_the_pds(
    http: httpx.Client, stratos_url: str, pds_url: str, measure: Measure, target: TargetProfile
) -> None:
    _service_clock(http, stratos_url, "stratos", pds_url, measure, target.clock)


@pytest.mark.requirement("CLOCK-01")
def test_appview_clock_agrees_with_the_harness_and_the_pds(
    http: httpx.Client, appview_url: str, pds_url: str, measure: Measure, target: TargetProfile
) -> None:
    _service_clock(http, appview_url, "appview", pds_url, measure, target.clock)


@pytest.mark.requirement("CLOCK-02")
def test_stratos_tolerates_ordinary_skew_and_refuses_large_skew(
    http: httpx.Client,
    stratos_url: str,
    owner_session: OAuthSession,
    redactor: Redactor,
) -> None:
    url = str(
        httpx.URL(
            f"{stratos_url}/xrpc/zone.stratos.enrollment.status", params={"did": owner_session.did}
        )
    )
    endpoint = _endpoint(url, owner_session, redactor)
    probes = probe_iat_skew(http, endpoint, tolerated_seconds=5, rejected_seconds=300)
    require(check_iat_skew(probes))


@pytest.mark.requirement("CLOCK-02")
def test_appview_tolerates_ordinary_skew_and_refuses_large_skew(
    http: httpx.Client,
    appview_url: str,
    owner_session: OAuthSession,
    redactor: Redactor,
) -> None:
    url = str(httpx.URL(f"{appview_url}/xrpc/zone.stratos.feed.getTimeline", params={"limit": 1}))
    endpoint = _endpoint(url, owner_session, redactor)
    probes = probe_iat_skew(http, endpoint, tolerated_seconds=5, rejected_seconds=300)
    require(check_iat_skew(probes))
