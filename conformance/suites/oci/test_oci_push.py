"""OCI-end-4a..7b, end-11, end-13, end-14: pushing blobs (monolithic, single POST, chunked,
streamed), closing, status and cancelling upload sessions, mounting, and pushing manifests.

Every test works in a repository of its own (``oci_repo``), so tests stay independent.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from conformance.checks.base import require
from conformance.checks.oci import (
    check_cancel_upload,
    check_chunked_upload,
    check_close_upload,
    check_manifest_created,
    check_monolithic_upload,
    check_mount,
    check_session_opened,
    check_single_post,
    check_tag_params,
    check_upload_status,
)
from conformance.clients.oci import RegistryClient
from conformance.scenarios.oci import (
    probe_cancel_upload,
    probe_chunked_upload,
    probe_close_upload,
    probe_manifest_push,
    probe_monolithic_upload,
    probe_mount,
    probe_open_session,
    probe_single_post,
    probe_tag_params,
    probe_upload_status,
)
from conformance.suites.oci_fixtures import settle

Repo = Callable[[str], str]


@pytest.mark.requirement("OCI-end-4a")
def test_open_upload_session(oci_client: RegistryClient, oci_repo: Repo) -> None:
    require(check_session_opened(probe_open_session(oci_client, oci_repo("open"))))


@pytest.mark.requirement("OCI-end-4b")
def test_monolithic_upload(oci_client: RegistryClient, oci_repo: Repo) -> None:
    require(check_monolithic_upload(probe_monolithic_upload(oci_client, oci_repo("monolithic"))))


@pytest.mark.requirement("OCI-end-4c")
def test_single_post_upload(oci_client: RegistryClient, oci_repo: Repo) -> None:
    settle(check_single_post(probe_single_post(oci_client, oci_repo("single-post"))))


@pytest.mark.requirement("OCI-end-5")
def test_chunked_and_streamed_upload(oci_client: RegistryClient, oci_repo: Repo) -> None:
    name = oci_repo("chunked")
    ranged = probe_chunked_upload(oci_client, name, ranged=True)
    streamed = probe_chunked_upload(oci_client, name, ranged=False)
    require(check_chunked_upload(ranged, streamed))


@pytest.mark.requirement("OCI-end-6")
def test_put_closes_upload(oci_client: RegistryClient, oci_repo: Repo) -> None:
    require(check_close_upload(probe_close_upload(oci_client, oci_repo("close"))))


@pytest.mark.requirement("OCI-end-7a")
def test_manifest_put_by_tag(oci_client: RegistryClient, oci_repo: Repo) -> None:
    push = probe_manifest_push(oci_client, oci_repo("manifest-tag"), "latest")
    require(check_manifest_created("OCI-end-7a", push))


@pytest.mark.requirement("OCI-end-7b")
def test_manifest_put_by_digest(oci_client: RegistryClient, oci_repo: Repo) -> None:
    push = probe_manifest_push(oci_client, oci_repo("manifest-digest"), None)
    require(check_manifest_created("OCI-end-7b", push))
    settle(check_tag_params(probe_tag_params(oci_client, oci_repo("manifest-tags"))))


@pytest.mark.requirement("OCI-end-11")
def test_cross_repository_mount(oci_client: RegistryClient, oci_repo: Repo) -> None:
    require(check_mount(probe_mount(oci_client, oci_repo("mount-from"), oci_repo("mount-to"))))


@pytest.mark.requirement("OCI-end-13")
def test_upload_status(oci_client: RegistryClient, oci_repo: Repo) -> None:
    require(check_upload_status(probe_upload_status(oci_client, oci_repo("status"))))


@pytest.mark.requirement("OCI-end-14")
def test_cancel_upload(oci_client: RegistryClient, oci_repo: Repo) -> None:
    require(check_cancel_upload(probe_cancel_upload(oci_client, oci_repo("cancel"))))
