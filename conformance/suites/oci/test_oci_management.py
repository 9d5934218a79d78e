"""OCI-end-9/10: deleting manifests and blobs (a registry that does not allow deletion answers
400/405 UNSUPPORTED, which is a skip)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from conformance.checks.oci import check_deletion
from conformance.clients.oci import RegistryClient
from conformance.scenarios.oci import probe_blob_delete, probe_manifest_delete
from conformance.suites.oci_fixtures import settle

Repo = Callable[[str], str]


@pytest.mark.requirement("OCI-end-9")
def test_delete_manifest(oci_client: RegistryClient, oci_repo: Repo) -> None:
    deletion = probe_manifest_delete(oci_client, oci_repo("delete-manifest"))
    settle(check_deletion("OCI-end-9", deletion, "manifest"))


@pytest.mark.requirement("OCI-end-10")
def test_delete_blob(oci_client: RegistryClient, oci_repo: Repo) -> None:
    deletion = probe_blob_delete(oci_client, oci_repo("delete-blob"))
    settle(check_deletion("OCI-end-10", deletion, "blob"))
