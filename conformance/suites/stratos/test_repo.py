"""STR-REPO-01..03, STR-VER-01..03, STR-BLOB-01..02: writes, reads and verification of a
Stratos repository, and its blobs.

Each test runs a ``conformance.scenarios.stratos_repo`` probe and hands what came back to one
``conformance.checks.stratos_repo`` check. Probes write posts of their own into the ``owner``
role's repo; commit signatures are verified against the repo key the owner's enrollment record
(in their PDS) publishes, and the level reached is recorded as a measurement.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from conformance.checks.base import require
from conformance.checks.stratos_repo import (
    blob_reads_unsupported,
    check_apply_writes_atomic,
    check_blob_hidden_outside_boundary,
    check_blob_served_within_boundary,
    check_create_output,
    check_create_reads_back,
    check_delete_removes,
    check_describe_collections_exact,
    check_foreign_writes_not_stored,
    check_foreign_writes_refused,
    check_list_blobs,
    check_record_proof,
    check_repo_export_complete,
    check_revs_increase,
    check_since_export,
    proof_level,
)
from conformance.clients.pds import PdsClient
from conformance.clients.stratos import EnrollmentAttempt, qualify
from conformance.clients.xrpc import XrpcClient
from conformance.plugin import Measure, disabled, unsupported
from conformance.redact import Redactor
from conformance.scenarios.stratos_repo import (
    BlobReads,
    CreateProbes,
    ExportProbes,
    ForeignWriteProbes,
    StratosService,
    probe_atomicity,
    probe_blob_listing,
    probe_blob_reads,
    probe_collections,
    probe_create,
    probe_delete,
    probe_export,
    probe_foreign_writes,
    probe_record_proof,
    probe_rev_sequence,
)

if TYPE_CHECKING:  # the suite's conftest is loaded by pytest, not imported
    from conformance.suites.stratos.conftest import StratosAccount, StratosRoles

# --- module fixtures --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def service(stratos: XrpcClient, redactor: Redactor) -> StratosService:
    return StratosService.of(stratos, redactor)


@pytest.fixture(scope="module")
def owner(roles: StratosRoles, enrolled: dict[str, EnrollmentAttempt]) -> StratosAccount:
    return roles["owner"]


@pytest.fixture(scope="module")
def shared_domain(roles: StratosRoles, owner: StratosAccount, service_did: str) -> str:
    """A domain the owner and the peer are both enrolled in (qualified)."""
    shared = sorted(set(owner.boundaries) & set(roles["peer"].boundaries))
    if not shared:
        disabled("the owner and peer accounts share no boundary in the profile")
    return qualify(service_did, shared[0])


@pytest.fixture(scope="module")
def created(service: StratosService, owner: StratosAccount) -> CreateProbes:
    return probe_create(service, owner)


@pytest.fixture(scope="module")
def foreign_writes(
    service: StratosService, owner: StratosAccount, roles: StratosRoles
) -> ForeignWriteProbes:
    return probe_foreign_writes(service, owner, roles["peer"])


@pytest.fixture(scope="module")
def export(
    service: StratosService, pds: PdsClient, service_did: str, owner: StratosAccount
) -> ExportProbes:
    return probe_export(service, pds, service_did, owner)


@pytest.fixture(scope="module")
def blob_reads(
    service: StratosService, owner: StratosAccount, roles: StratosRoles, shared_domain: str
) -> BlobReads:
    return probe_blob_reads(service, owner, roles["peer"], roles["outsider"], [shared_domain])


# --- STR-REPO-01 create and read back ---------------------------------------------------------


@pytest.mark.requirement("STR-REPO-01")
def test_create_record_output(created: CreateProbes) -> None:
    require(check_create_output(created))


@pytest.mark.requirement("STR-REPO-01")
def test_created_record_reads_back(created: CreateProbes) -> None:
    require(check_create_reads_back(created))


# --- STR-REPO-02 foreign writes ---------------------------------------------------------------


@pytest.mark.requirement("STR-REPO-02")
def test_foreign_writes_refused(foreign_writes: ForeignWriteProbes) -> None:
    require(check_foreign_writes_refused(foreign_writes))


@pytest.mark.requirement("STR-REPO-02")
def test_foreign_writes_not_stored(foreign_writes: ForeignWriteProbes) -> None:
    require(check_foreign_writes_not_stored(foreign_writes))


# --- STR-REPO-03 collections, deletes, atomic batches -----------------------------------------


@pytest.mark.requirement("STR-REPO-03")
def test_describe_repo_collections_exact(service: StratosService, owner: StratosAccount) -> None:
    require(check_describe_collections_exact(probe_collections(service, owner)))


@pytest.mark.requirement("STR-REPO-03")
def test_delete_record_removes(service: StratosService, owner: StratosAccount) -> None:
    require(check_delete_removes(probe_delete(service, owner)))


@pytest.mark.requirement("STR-REPO-03")
def test_apply_writes_atomic(service: StratosService, owner: StratosAccount) -> None:
    require(check_apply_writes_atomic(probe_atomicity(service, owner)))


# --- STR-VER-01 record proofs -----------------------------------------------------------------


@pytest.mark.requirement("STR-VER-01")
def test_record_proof_verifies(
    service: StratosService,
    pds: PdsClient,
    service_did: str,
    owner: StratosAccount,
    measure: Measure,
) -> None:
    probes = probe_record_proof(service, pds, service_did, owner)
    measure(
        "repo-verification-level",
        proof_level(probes),
        note="how far the sync.getRecord CAR verified against the enrollment record's "
        "signingKey (signature-verified, cid-only: data integrity only, unverifiable)",
    )
    require(check_record_proof(probes))


# --- STR-VER-02 repo export -------------------------------------------------------------------


@pytest.mark.requirement("STR-VER-02")
def test_repo_export_verifies(export: ExportProbes) -> None:
    require(check_repo_export_complete(export))


@pytest.mark.requirement("STR-VER-02")
def test_repo_export_since(export: ExportProbes) -> None:
    require(check_since_export(export))


# --- STR-VER-03 revs --------------------------------------------------------------------------


@pytest.mark.requirement("STR-VER-03")
def test_commit_revs_increase(service: StratosService, owner: StratosAccount) -> None:
    require(check_revs_increase(probe_rev_sequence(service, owner)))


# --- STR-BLOB-01 / 02 -------------------------------------------------------------------------


@pytest.mark.requirement("STR-BLOB-01")
def test_list_blobs(service: StratosService, owner: StratosAccount) -> None:
    require(check_list_blobs(probe_blob_listing(service, owner)))


@pytest.mark.requirement("STR-BLOB-02")
def test_get_blob_within_boundary(blob_reads: BlobReads) -> None:
    if blob_reads_unsupported(blob_reads):
        unsupported("com.atproto.sync.getBlob answers MethodNotImplemented")
    require(check_blob_served_within_boundary(blob_reads))


@pytest.mark.requirement("STR-BLOB-02")
def test_get_blob_hidden_outside_boundary(blob_reads: BlobReads) -> None:
    if blob_reads_unsupported(blob_reads):
        unsupported("com.atproto.sync.getBlob answers MethodNotImplemented")
    require(check_blob_hidden_outside_boundary(blob_reads))
