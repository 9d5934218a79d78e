"""OCI-end-1..3: pulling (MUST for every registry): the API root, blobs and manifests.

Content comes from ``oci_seed`` (one image pushed once per run); each test runs a
``conformance.scenarios.oci`` probe with the per-test recorded client and hands what came back
to one ``conformance.checks.oci`` check.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from conformance.checks.base import require
from conformance.checks.oci import (
    check_base,
    check_blob_reads,
    check_manifest_reads,
    range_supported,
)
from conformance.clients.oci import RegistryClient
from conformance.plugin import Measure
from conformance.scenarios.oci import Seed, probe_base, probe_blob_reads, probe_manifest_reads


@pytest.mark.requirement("OCI-end-1")
def test_api_root(oci_client: RegistryClient) -> None:
    require(check_base(probe_base(oci_client)))


@pytest.mark.requirement("OCI-end-2")
def test_blob_get_head_range(oci_client: RegistryClient, oci_seed: Seed, measure: Measure) -> None:
    reads = probe_blob_reads(oci_client, oci_seed)
    require(check_blob_reads(reads))
    # Range support is optional: a 200 with the whole blob is a note, not a failure.
    measure("range requests", "supported (206)" if range_supported(reads) else "unsupported",
            note="" if range_supported(reads) else "the registry answered a Range request with "
            "the whole blob (200)")


@pytest.mark.requirement("OCI-end-3")
def test_manifest_get_head(
    oci_client: RegistryClient, oci_seed: Seed, oci_repo: Callable[[str], str]
) -> None:
    require(check_manifest_reads(probe_manifest_reads(oci_client, oci_seed, oci_repo("untagged"))))
