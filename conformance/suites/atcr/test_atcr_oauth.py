"""ATCR-OAUTH-01..03: client metadata, a full login through the PDS with agreeing clocks, and
the 401 for a user without an OAuth session."""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx
import pytest

from conformance.checks.atcr import (
    check_appview_clock,
    check_appview_login,
    check_client_metadata,
    check_no_session_push,
)
from conformance.checks.base import require
from conformance.clients.stratos import ServiceLogin
from conformance.plugin import Measure
from conformance.redact import Redactor
from conformance.scenarios.atcr import probe_client_metadata, probe_no_session_push
from conformance.scenarios.clock import measure_clock_offset
from conformance.target import TargetProfile

if TYPE_CHECKING:  # the suite's conftest is loaded by pytest, not imported
    from conformance.suites.atcr.conftest import AtcrRoles


@pytest.mark.requirement("ATCR-OAUTH-01")
def test_client_metadata(http: httpx.Client, registry_url: str) -> None:
    require(check_client_metadata(probe_client_metadata(http, registry_url)))


@pytest.mark.requirement("ATCR-OAUTH-02")
def test_login_through_pds_and_clocks(
    http: httpx.Client,
    registry_url: str,
    pds_url: str,
    atcr_roles: AtcrRoles,
    redactor: Redactor,
    target: TargetProfile,
    record_measurement: Measure,
) -> None:
    member = atcr_roles["a"]
    appview = measure_clock_offset(http, f"{registry_url}/v2/")
    pds = measure_clock_offset(http, f"{pds_url}/xrpc/com.atproto.server.describeServer")
    record_measurement("AppView clock minus PDS clock", round(appview.estimate - pds.estimate, 3),
                       "s", f"AppView {appview.low:+.3f}..{appview.high:+.3f} s, PDS "
                       f"{pds.low:+.3f}..{pds.high:+.3f} s against the harness clock")
    require(check_appview_clock(appview, pds, warn_at=target.clock.warn_s,
                                fail_at=target.clock.fail_s))
    attempt = ServiceLogin(http, redactor).login(
        f"{registry_url}/auth/oauth/login", {"handle": member.user.handle},
        member.user.handle, member.user.password,
    )
    require(check_appview_login(attempt.responses, member.user.did))


@pytest.mark.requirement("ATCR-OAUTH-03")
def test_push_without_oauth_session(
    http: httpx.Client,
    registry_url: str,
    registry_service: str | None,
    atcr_roles: AtcrRoles,
    redactor: Redactor,
) -> None:
    user = atcr_roles["nologin"].user
    probes = probe_no_session_push(
        http, registry_url, service=registry_service, user=user, redactor=redactor
    )
    require(check_no_session_push(probes))
