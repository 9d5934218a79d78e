"""OCI-code-1..14: each error code of the spec, provoked with a request that must be refused,
and judged on its status and its {"errors": [{"code", ...}]} body."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from conformance.checks import oci as checks
from conformance.checks.base import require
from conformance.clients.oci import RegistryClient
from conformance.plugin import unsupported
from conformance.scenarios import oci as scenarios
from conformance.scenarios.oci import Seed
from conformance.suites.oci_fixtures import settle

Repo = Callable[[str], str]


@pytest.mark.requirement("OCI-code-1")
def test_blob_unknown(oci_client: RegistryClient, oci_seed: Seed) -> None:
    require(checks.check_blob_unknown(scenarios.probe_blob_unknown(oci_client, oci_seed)))


@pytest.mark.requirement("OCI-code-2")
def test_blob_upload_invalid(oci_client: RegistryClient, oci_repo: Repo) -> None:
    settle(checks.check_upload_invalid(
        scenarios.probe_upload_invalid(oci_client, oci_repo("upload-invalid"))))


@pytest.mark.requirement("OCI-code-3")
def test_blob_upload_unknown(oci_client: RegistryClient, oci_repo: Repo) -> None:
    require(checks.check_upload_unknown(
        scenarios.probe_upload_unknown(oci_client, oci_repo("upload-unknown"))))


@pytest.mark.requirement("OCI-code-4")
def test_digest_invalid(oci_client: RegistryClient, oci_repo: Repo) -> None:
    require(checks.check_digest_invalid(
        scenarios.probe_digest_invalid(oci_client, oci_repo("digest-invalid"))))


@pytest.mark.requirement("OCI-code-5")
def test_manifest_blob_unknown(oci_client: RegistryClient, oci_repo: Repo) -> None:
    require(checks.check_manifest_blob_unknown(
        scenarios.probe_manifest_blob_unknown(oci_client, oci_repo("manifest-blob-unknown"))))


@pytest.mark.requirement("OCI-code-6")
def test_manifest_invalid(oci_client: RegistryClient, oci_seed: Seed) -> None:
    require(checks.check_manifest_invalid(
        scenarios.probe_manifest_invalid(oci_client, oci_seed.name, oci_seed)))


@pytest.mark.requirement("OCI-code-7")
def test_manifest_unknown(oci_client: RegistryClient, oci_seed: Seed) -> None:
    require(checks.check_manifest_unknown(scenarios.probe_manifest_unknown(oci_client, oci_seed)))


@pytest.mark.requirement("OCI-code-8")
def test_name_invalid(oci_client: RegistryClient, oci_namespace: str) -> None:
    settle(checks.check_name_invalid(scenarios.probe_name_invalid(oci_client, oci_namespace)))


@pytest.mark.requirement("OCI-code-9")
def test_name_unknown(oci_client: RegistryClient, oci_repo: Repo) -> None:
    require(checks.check_name_unknown(
        scenarios.probe_name_unknown(oci_client, oci_repo("never-pushed"))))


@pytest.mark.requirement("OCI-code-10")
def test_size_invalid(oci_client: RegistryClient, oci_repo: Repo) -> None:
    settle(checks.check_size_invalid(
        scenarios.probe_size_invalid(oci_client, oci_repo("size-invalid"))))


@pytest.mark.requirement("OCI-code-11")
def test_unauthorized(oci_anonymous: RegistryClient, oci_repo: Repo) -> None:
    settle(checks.check_unauthorized(
        scenarios.probe_unauthorized(oci_anonymous, oci_repo("unauthorized"))))


@pytest.mark.requirement("OCI-code-12")
def test_denied(oci_client: RegistryClient, oci_other_namespace: str | None) -> None:
    if oci_other_namespace is None:
        unsupported("needs a second identity with its own namespace (the target has none)")
    foreign = f"{oci_other_namespace}/denied-probe"
    require(checks.check_denied(scenarios.probe_denied(oci_client, foreign)))


@pytest.mark.requirement("OCI-code-13")
def test_unsupported(oci_client: RegistryClient, oci_repo: Repo) -> None:
    settle(checks.check_unsupported(
        scenarios.probe_unsupported(oci_client, oci_repo("unsupported"))))


@pytest.mark.requirement("OCI-code-14")
def test_too_many_requests(oci_client: RegistryClient, oci_seed: Seed) -> None:
    settle(checks.check_rate_limited(scenarios.probe_rate_limit(oci_client, oci_seed.name)))
