"""ATCR-REC-01..04: records written on push, OCI 404 codes for missing records, the PDS as the
source of truth, and byte-exact manifests."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import httpx
import pytest

from conformance.checks.atcr import (
    check_push_records,
    check_round_trip,
    check_tag_deletion,
    check_unknown_pulls,
)
from conformance.checks.base import require
from conformance.clients.pds import PdsClient
from conformance.scenarios.atcr import (
    probe_push_records,
    probe_round_trip,
    probe_tag_deletion,
    probe_unknown_pulls,
)

if TYPE_CHECKING:  # the suite's conftest is loaded by pytest, not imported
    from conformance.suites.atcr.conftest import AtcrMember, RegistryFactory


@pytest.mark.requirement("ATCR-REC-01")
def test_push_writes_records(
    http: httpx.Client,
    hold_url: str,
    pds: PdsClient,
    logged_in: Callable[[str], AtcrMember],
    registry_for: RegistryFactory,
) -> None:
    user = logged_in("a").user
    require(check_push_records(probe_push_records(registry_for(user), pds, http, hold_url, user)))


@pytest.mark.requirement("ATCR-REC-02")
def test_missing_records_are_404(
    logged_in: Callable[[str], AtcrMember], registry_for: RegistryFactory
) -> None:
    user = logged_in("a").user
    require(check_unknown_pulls(probe_unknown_pulls(registry_for(user), user)))


@pytest.mark.requirement("ATCR-REC-03")
def test_tag_deleted_in_pds_disappears(
    pds: PdsClient, logged_in: Callable[[str], AtcrMember], registry_for: RegistryFactory
) -> None:
    member = logged_in("a")
    probes = probe_tag_deletion(registry_for(member.user), pds, member.user, member.session)
    require(check_tag_deletion(probes))


@pytest.mark.requirement("ATCR-REC-04")
def test_manifest_bytes_round_trip(
    logged_in: Callable[[str], AtcrMember], registry_for: RegistryFactory
) -> None:
    user = logged_in("a").user
    require(check_round_trip(probe_round_trip(registry_for(user), user)))
