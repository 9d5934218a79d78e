"""ATCR-HOLD-01..05: the hold's identity, where blobs land, crew rules, outages and multipart
uploads straight to the hold."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import httpx
import pytest

from conformance.checks.atcr import (
    check_blob_placement,
    check_crew_rules,
    check_hold_did_document,
    check_hold_outage,
    check_multipart,
    crew_parts_applicable,
)
from conformance.checks.base import require
from conformance.clients.pds import PdsClient
from conformance.plugin import Measure, disabled, unsupported
from conformance.runtime.control import ServiceControl
from conformance.scenarios.atcr import (
    OUTAGE_CLIENT_TIMEOUT_S,
    probe_blob_placement,
    probe_crew,
    probe_hold_identity,
    probe_hold_outage,
    probe_multipart,
)

if TYPE_CHECKING:  # the suite's conftest is loaded by pytest, not imported
    from conformance.suites.atcr.conftest import AtcrMember, AtcrRoles, RegistryFactory


@pytest.mark.requirement("ATCR-HOLD-01")
def test_hold_did_document(http: httpx.Client, hold_url: str) -> None:
    require(check_hold_did_document(probe_hold_identity(http, hold_url).document, hold_url))


@pytest.mark.requirement("ATCR-HOLD-02")
def test_blobs_land_in_profile_hold(
    http: httpx.Client,
    hold_url: str,
    pds: PdsClient,
    logged_in: Callable[[str], AtcrMember],
    registry_for: RegistryFactory,
) -> None:
    user = logged_in("a").user
    # The AppView's default hold is not published; the profile's hold is assumed to be it.
    default_did = probe_hold_identity(http, hold_url).did
    probes = probe_blob_placement(registry_for(user), pds, http, user,
                                  default_hold_did=default_did, default_hold_url=hold_url)
    require(check_blob_placement(probes))


@pytest.mark.requirement("ATCR-HOLD-03")
def test_crew_rules(
    http: httpx.Client,
    hold_url: str,
    atcr_roles: AtcrRoles,
    logged_in: Callable[[str], AtcrMember],
    registry_for: RegistryFactory,
) -> None:
    crew = logged_in("a").user
    outsider_member = atcr_roles.get("outsider")
    outsider = logged_in("outsider").user if outsider_member is not None else None
    probes = probe_crew(http, hold_url, registry_for(crew),
                        registry_for(outsider) if outsider else None, crew, outsider)
    require(check_crew_rules(probes))
    if not crew_parts_applicable(probes):
        unsupported("the hold is neither closed to non-crew writers (allowAllCrew false, with a "
                    "non-crew account in the profile) nor public, so nothing applies")


@pytest.mark.requirement("ATCR-HOLD-04")
def test_hold_outage_fails_fast(
    logged_in: Callable[[str], AtcrMember],
    registry_for: RegistryFactory,
    service_control: ServiceControl,
    record_measurement: Measure,
) -> None:
    if not service_control.can_control("hold"):
        disabled("the target gives no way to stop and start the hold ([atcr] hold_stop / "
                 "hold_start)")
    user = logged_in("a").user
    registry = registry_for(user, timeout=OUTAGE_CLIENT_TIMEOUT_S)
    probes = probe_hold_outage(registry, user, lambda: service_control.stop("hold"),
                               lambda: service_control.start("hold"))
    for probe in (*probes.push_during, probes.head_during, probes.get_during):
        if probe is not None:
            record_measurement(f"{probe.case} (answer time)", round(probe.elapsed_s, 3), "s")
    require(check_hold_outage(probes))


@pytest.mark.requirement("ATCR-HOLD-05")
def test_hold_multipart_upload(
    http: httpx.Client, hold_url: str, pds: PdsClient, atcr_roles: AtcrRoles
) -> None:
    member = atcr_roles["a"]
    require(check_multipart(probe_multipart(http, pds, member.session, hold_url)))
