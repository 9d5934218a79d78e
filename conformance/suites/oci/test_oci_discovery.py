"""OCI-end-8a/8b and end-12a/12b: listing tags (with n/last pagination and Link) and the
referrers API (with the artifactType filter)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from conformance.checks.base import require
from conformance.checks.oci import (
    check_referrers,
    check_referrers_filter,
    check_tag_list,
    check_tag_pagination,
)
from conformance.clients.oci import RegistryClient
from conformance.scenarios.oci import Referrers, probe_referrers, probe_tag_listing
from conformance.suites.oci_fixtures import settle

Repo = Callable[[str], str]


@pytest.fixture(scope="module")
def referrers(oci_session_client: RegistryClient, oci_repo: Repo) -> Referrers:
    """A subject image and two artifacts referring to it, listed with and without filter."""
    return probe_referrers(oci_session_client, oci_repo("referrers"))


@pytest.mark.requirement("OCI-end-8a")
def test_tag_list(oci_client: RegistryClient, oci_repo: Repo) -> None:
    require(check_tag_list(probe_tag_listing(oci_client, oci_repo("tags"), paginate=False)))


@pytest.mark.requirement("OCI-end-8b")
def test_tag_list_pagination(oci_client: RegistryClient, oci_repo: Repo) -> None:
    require(check_tag_pagination(probe_tag_listing(oci_client, oci_repo("pages"), paginate=True)))


@pytest.mark.requirement("OCI-end-12a")
def test_referrers(referrers: Referrers) -> None:
    settle(check_referrers(referrers))


@pytest.mark.requirement("OCI-end-12b")
def test_referrers_artifact_type_filter(referrers: Referrers) -> None:
    settle(check_referrers_filter(referrers))
