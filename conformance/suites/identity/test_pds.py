"""PDS-01..PDS-05: accounts, identity, sessions, service auth and repositories of the PDS.

Each test runs a ``conformance.scenarios.pds`` probe and hands what came back to one
``conformance.checks.pds`` check. Tests that create accounts run only where the harness
provisions accounts; with given accounts they are disabled. Repository probes write records of
their own into the first account's repo (``com.example.atconform.record``).
"""

from __future__ import annotations

import pytest

from conformance.checks.base import require
from conformance.checks.pds import (
    check_account_created,
    check_app_password,
    check_blob_round_trip,
    check_commit_revs,
    check_describe_repo,
    check_did_document,
    check_duplicate_handle,
    check_get_session,
    check_lexicon_validation,
    check_record_proof,
    check_record_reads,
    check_record_writes,
    check_refresh_session,
    check_repo_export,
    check_repo_signing_key,
    check_resolve_handle,
    check_service_auth_claims,
    check_service_auth_signature,
    check_session_login,
    check_unknown_collection,
    check_unknown_handle,
    check_well_known_did,
    check_wrong_password,
    proof_verification_level,
)
from conformance.clients.pds import PdsClient, Session
from conformance.plugin import Measure, disabled, unsupported
from conformance.provision import AccountCredentials, random_handles, strong_password
from conformance.redact import Redactor
from conformance.scenarios.base import is_success
from conformance.scenarios.pds import (
    AccountCreation,
    IdentityProbes,
    RecordCrud,
    SessionProbes,
    lexicon_known,
    probe_account_creation,
    probe_app_password,
    probe_blobs,
    probe_commit_sequence,
    probe_did_document,
    probe_identity,
    probe_lexicon_validation,
    probe_record_crud,
    probe_record_proof,
    probe_repo_export,
    probe_service_auth,
    probe_sessions,
    probe_unknown_collection,
)
from conformance.target import TargetProfile

SERVICE_AUD = "did:web:atconform-service.test"
SERVICE_LXM = "com.atproto.repo.getRecord"


# --- module fixtures --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def handle_domain(target: TargetProfile) -> str:
    if not target.provision.enabled:
        disabled("accounts are given by the profile, not provisioned: createAccount not probed")
    if not target.provision.handle_domain:
        disabled("the profile names no provision.handle_domain to create accounts under")
    return target.provision.handle_domain


@pytest.fixture(scope="module")
def account_creation(
    target: TargetProfile, pds: PdsClient, plc_url: str, handle_domain: str, redactor: Redactor
) -> AccountCreation:
    """A fresh account made by createAccount (and the duplicate-handle attempt after it)."""
    invite = (
        target.secret(target.provision.invite_code_env)
        if target.provision.invite_code_env
        else None
    )
    redactor.add(invite)
    (handle,) = random_handles(1, handle_domain)
    password = strong_password()
    redactor.add(password)
    return probe_account_creation(pds, plc_url, handle, password, invite_code=invite)


@pytest.fixture(scope="module")
def identity(
    pds: PdsClient, plc_url: str, pds_url: str, account: AccountCredentials
) -> IdentityProbes:
    return probe_identity(pds, plc_url, pds_url, account.handle, account.did)


@pytest.fixture(scope="module")
def sessions(pds: PdsClient, account: AccountCredentials) -> SessionProbes:
    return probe_sessions(pds, account.handle, account.did, account.password)


@pytest.fixture(scope="module")
def crud(pds: PdsClient, legacy_session: Session, account: AccountCredentials) -> RecordCrud:
    return probe_record_crud(pds, legacy_session, account.did)


# --- PDS-01 accounts --------------------------------------------------------------------------


@pytest.mark.requirement("PDS-01")
def test_create_account_output(account_creation: AccountCreation, handle_domain: str) -> None:
    require(check_account_created(account_creation, handle_domain))


@pytest.mark.requirement("PDS-01")
def test_duplicate_handle_refused(account_creation: AccountCreation) -> None:
    require(check_duplicate_handle(account_creation))


@pytest.mark.requirement("PDS-01")
def test_new_account_signing_key_is_secp256k1(account_creation: AccountCreation) -> None:
    if account_creation.did_document is None:
        require(check_account_created(account_creation, None))
        pytest.fail("createAccount answered no DID")  # not reached when the check failed
    body = account_creation.created.response.json()
    require(check_repo_signing_key(account_creation.did_document, body["did"]))


@pytest.mark.requirement("PDS-01")
def test_account_signing_key_is_secp256k1(
    pds: PdsClient, plc_url: str, account: AccountCredentials
) -> None:
    require(check_repo_signing_key(probe_did_document(pds, plc_url, account.did), account.did))


# --- PDS-02 identity --------------------------------------------------------------------------


@pytest.mark.requirement("PDS-02")
def test_did_document(identity: IdentityProbes, pds_url: str) -> None:
    require(check_did_document(identity, pds_url))


@pytest.mark.requirement("PDS-02")
def test_resolve_handle(identity: IdentityProbes) -> None:
    require(check_resolve_handle(identity))


@pytest.mark.requirement("PDS-02")
def test_well_known_atproto_did(identity: IdentityProbes) -> None:
    require(check_well_known_did(identity))


@pytest.mark.requirement("PDS-02")
def test_unknown_handle_is_an_xrpc_error(identity: IdentityProbes) -> None:
    require(check_unknown_handle(identity))


# --- PDS-03 sessions --------------------------------------------------------------------------


@pytest.mark.requirement("PDS-03")
def test_create_session_by_handle_and_did(sessions: SessionProbes) -> None:
    require(check_session_login(sessions))


@pytest.mark.requirement("PDS-03")
def test_wrong_password_refused(sessions: SessionProbes) -> None:
    require(check_wrong_password(sessions))


@pytest.mark.requirement("PDS-03")
def test_get_session(sessions: SessionProbes) -> None:
    require(check_get_session(sessions))


@pytest.mark.requirement("PDS-03")
def test_refresh_session(sessions: SessionProbes, measure: Measure) -> None:
    if sessions.old_refresh is not None:
        reused = is_success(sessions.old_refresh.response)
        measure(
            "legacy refresh token reusable after refreshSession",
            "yes" if reused else "no",
            note="informational: PDSes may allow a grace period",
        )
    require(check_refresh_session(sessions))


@pytest.mark.requirement("PDS-03")
def test_app_password(pds: PdsClient, account: AccountCredentials) -> None:
    session = pds.login(account.handle, account.password)
    require(check_app_password(probe_app_password(pds, session, account.handle, account.did)))


# --- PDS-04 service auth ----------------------------------------------------------------------


@pytest.mark.requirement("PDS-04")
def test_service_auth_claims(
    pds: PdsClient, plc_url: str, legacy_session: Session, account: AccountCredentials
) -> None:
    probes = probe_service_auth(pds, plc_url, legacy_session, account.did, SERVICE_AUD, SERVICE_LXM)
    require(check_service_auth_claims(probes))


@pytest.mark.requirement("PDS-04")
def test_service_auth_signature(
    pds: PdsClient, plc_url: str, legacy_session: Session, account: AccountCredentials
) -> None:
    probes = probe_service_auth(pds, plc_url, legacy_session, account.did, SERVICE_AUD, SERVICE_LXM)
    require(check_service_auth_signature(probes))


# --- PDS-05 repository ------------------------------------------------------------------------


@pytest.mark.requirement("PDS-05")
def test_record_writes(crud: RecordCrud) -> None:
    require(check_record_writes(crud))


@pytest.mark.requirement("PDS-05")
def test_record_reads(crud: RecordCrud) -> None:
    require(check_record_reads(crud))


@pytest.mark.requirement("PDS-05")
def test_describe_repo(crud: RecordCrud, account: AccountCredentials) -> None:
    require(check_describe_repo(crud, account.handle))


@pytest.mark.requirement("PDS-05")
def test_commit_revs_increase(
    pds: PdsClient, legacy_session: Session, account: AccountCredentials
) -> None:
    require(check_commit_revs(probe_commit_sequence(pds, legacy_session, account.did)))


@pytest.mark.requirement("PDS-05")
def test_record_proof_verifies(
    pds: PdsClient,
    plc_url: str,
    legacy_session: Session,
    account: AccountCredentials,
    measure: Measure,
) -> None:
    probes = probe_record_proof(pds, plc_url, legacy_session, account.did)
    measure(
        "repo-verification-level",
        proof_verification_level(probes),
        note="how far the sync.getRecord CAR verified (signature-verified, cid-only, unverifiable)",
    )
    require(check_record_proof(probes))


@pytest.mark.requirement("PDS-05")
def test_repo_export_verifies(
    pds: PdsClient, plc_url: str, legacy_session: Session, account: AccountCredentials
) -> None:
    require(check_repo_export(probe_repo_export(pds, plc_url, legacy_session, account.did)))


@pytest.mark.requirement("PDS-05")
def test_blob_round_trip(
    pds: PdsClient, legacy_session: Session, account: AccountCredentials
) -> None:
    require(check_blob_round_trip(probe_blobs(pds, legacy_session, account.did)))


@pytest.mark.requirement("PDS-05")
def test_unknown_collection_stored_as_is(
    pds: PdsClient, legacy_session: Session, account: AccountCredentials
) -> None:
    require(check_unknown_collection(probe_unknown_collection(pds, legacy_session, account.did)))


@pytest.mark.requirement("PDS-05")
def test_known_lexicon_validated(
    pds: PdsClient, legacy_session: Session, account: AccountCredentials
) -> None:
    probes = probe_lexicon_validation(pds, legacy_session, account.did)
    if lexicon_known(probes) is False:
        unsupported(
            f"the PDS does not know the {probes.collection} lexicon (validationStatus "
            "'unknown'); it validates only lexicons it knows"
        )
    require(check_lexicon_validation(probes))
