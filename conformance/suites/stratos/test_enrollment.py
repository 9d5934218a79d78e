"""STR-ENR-01..06: enrollment status, the allowlist, the signed empty commit, the empty repo,
the enrollment record with its attestation, and unenroll.

Each test runs a ``conformance.scenarios.stratos_repo`` probe and hands what came back to one
``conformance.checks.stratos_repo`` check. The destructive probes (enrolling afresh,
unenrolling) act on the ``spare`` role and leave it enrolled again, with an empty repo.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from conformance.checks.base import require
from conformance.checks.stratos_repo import (
    check_denied_calls_not_enrolled,
    check_enrollment_attestation,
    check_enrollment_denied,
    check_enrollment_empty_commit,
    check_enrollment_record,
    check_fresh_describe_repo,
    check_fresh_list_records,
    check_status_boundaries_only_to_self,
    check_status_enrolled,
    check_status_never_enrolled,
    check_unenroll_enrollment_record_removed,
    check_unenroll_records_gone,
    check_unenroll_status,
    empty_commit_level,
    empty_repo_outcome,
)
from conformance.clients.pds import PdsClient
from conformance.clients.stratos import EnrollmentAttempt, StratosEnroller, qualify
from conformance.clients.xrpc import XrpcClient
from conformance.plugin import Measure
from conformance.redact import Redactor
from conformance.scenarios.stratos_repo import (
    DeniedProbes,
    EnrollmentRecordProbes,
    FreshEnrollment,
    StatusProbes,
    StratosService,
    UnenrollProbes,
    probe_denied,
    probe_enrollment_record,
    probe_fresh_enrollment,
    probe_status,
    probe_unenroll,
)

if TYPE_CHECKING:  # the suite's conftest is loaded by pytest, not imported
    from conformance.suites.stratos.conftest import StratosRoles

# --- module fixtures --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def service(stratos: XrpcClient, redactor: Redactor) -> StratosService:
    return StratosService.of(stratos, redactor)


@pytest.fixture(scope="module")
def status_probes(
    service: StratosService,
    roles: StratosRoles,
    enrolled: dict[str, EnrollmentAttempt],
    service_did: str,
) -> StatusProbes:
    owner = roles["owner"]
    expected = frozenset(qualify(service_did, name) for name in owner.boundaries)
    return probe_status(service, owner, roles["peer"], expected_boundaries=expected)


@pytest.fixture(scope="module")
def denied_probes(
    service: StratosService,
    roles: StratosRoles,
    enrolled: dict[str, EnrollmentAttempt],
    enroller: StratosEnroller,
) -> DeniedProbes:
    return probe_denied(service, enroller, roles["denied"], roles["owner"])


@pytest.fixture(scope="module")
def fresh(
    service: StratosService,
    roles: StratosRoles,
    enrolled: dict[str, EnrollmentAttempt],
    enroller: StratosEnroller,
    pds: PdsClient,
    service_did: str,
) -> FreshEnrollment:
    """The spare account unenrolled and enrolled afresh, probed straight away."""
    return probe_fresh_enrollment(service, enroller, pds, service_did, roles["spare"])


@pytest.fixture(scope="module")
def enrollment_record_probes(
    service: StratosService,
    roles: StratosRoles,
    enrolled: dict[str, EnrollmentAttempt],
    pds: PdsClient,
    service_did: str,
) -> EnrollmentRecordProbes:
    return probe_enrollment_record(service, pds, service_did, roles["owner"].did)


@pytest.fixture(scope="module")
def unenrolled(
    service: StratosService,
    roles: StratosRoles,
    enrolled: dict[str, EnrollmentAttempt],
    enroller: StratosEnroller,
    pds: PdsClient,
    service_did: str,
) -> UnenrollProbes:
    """The spare account unenrolled (and enrolled again afterwards)."""
    return probe_unenroll(service, enroller, pds, service_did, roles["spare"])


# --- STR-ENR-01 status ------------------------------------------------------------------------


@pytest.mark.requirement("STR-ENR-01")
def test_status_of_never_enrolled_did(status_probes: StatusProbes) -> None:
    require(check_status_never_enrolled(status_probes))


@pytest.mark.requirement("STR-ENR-01")
def test_status_of_enrolled_did(status_probes: StatusProbes) -> None:
    require(check_status_enrolled(status_probes))


@pytest.mark.requirement("STR-ENR-01")
def test_status_boundaries_only_to_self(status_probes: StatusProbes) -> None:
    require(check_status_boundaries_only_to_self(status_probes))


# --- STR-ENR-02 allowlist ---------------------------------------------------------------------


@pytest.mark.requirement("STR-ENR-02")
def test_enrollment_outside_allowlist_denied(denied_probes: DeniedProbes) -> None:
    require(check_enrollment_denied(denied_probes))


@pytest.mark.requirement("STR-ENR-02")
def test_not_enrolled_calls_answer_not_enrolled(denied_probes: DeniedProbes) -> None:
    require(check_denied_calls_not_enrolled(denied_probes))


# --- STR-ENR-03 signed empty commit -----------------------------------------------------------


@pytest.mark.requirement("STR-ENR-03")
def test_enrollment_creates_signed_empty_commit(fresh: FreshEnrollment, measure: Measure) -> None:
    measure(
        "repo-verification-level",
        empty_commit_level(fresh),
        note="the first commit after enrolling, against the enrollment record's signingKey "
        "(signature-verified, cid-only, unverifiable)",
    )
    require(check_enrollment_empty_commit(fresh))


# --- STR-ENR-04 empty repo, not an error ------------------------------------------------------


@pytest.mark.requirement("STR-ENR-04")
def test_fresh_repo_describe_is_empty(fresh: FreshEnrollment, measure: Measure) -> None:
    measure(
        "describeRepo of an empty repo",
        empty_repo_outcome(fresh.described, "collections"),
        note="empty (200) is right; RepoNotFound or an auth failure masks an empty repo",
    )
    require(check_fresh_describe_repo(fresh))


@pytest.mark.requirement("STR-ENR-04")
def test_fresh_repo_list_is_empty(fresh: FreshEnrollment, measure: Measure) -> None:
    measure(
        "listRecords of an empty repo",
        empty_repo_outcome(fresh.listed, "records"),
        note="empty (200) is right; RepoNotFound or an auth failure masks an empty repo",
    )
    require(check_fresh_list_records(fresh))


# --- STR-ENR-05 enrollment record -------------------------------------------------------------


@pytest.mark.requirement("STR-ENR-05")
def test_enrollment_record_in_pds(enrollment_record_probes: EnrollmentRecordProbes) -> None:
    require(check_enrollment_record(enrollment_record_probes))


@pytest.mark.requirement("STR-ENR-05")
def test_enrollment_attestation_verifies(
    enrollment_record_probes: EnrollmentRecordProbes,
) -> None:
    require(check_enrollment_attestation(enrollment_record_probes))


# --- STR-ENR-06 unenroll ----------------------------------------------------------------------


@pytest.mark.requirement("STR-ENR-06")
def test_unenroll_status_false(unenrolled: UnenrollProbes) -> None:
    require(check_unenroll_status(unenrolled))


@pytest.mark.requirement("STR-ENR-06")
def test_unenroll_removes_records(unenrolled: UnenrollProbes) -> None:
    require(check_unenroll_records_gone(unenrolled))


@pytest.mark.requirement("STR-ENR-06")
def test_unenroll_removes_enrollment_record(unenrolled: UnenrollProbes) -> None:
    require(check_unenroll_enrollment_record_removed(unenrolled))
