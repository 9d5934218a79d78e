"""STR-ENR-01..06, STR-REPO-01..03, STR-VER-01..03, STR-BLOB-01..02, STR-IMP-01: each check
returns None on a correct exchange and a Failure with exactly its requirement ID on a
deliberately wrong one.

Exchanges are built directly (repositories and attestations are real artifacts made with the
reference primitives, then broken by hand), and for the enrollment and foreign-write probes the
scenarios run end to end against a fake Stratos over real HTTP (``stratos_fakes``) whose
``faults`` break exactly one rule.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import httpx
import pytest
from pds_fakes import car_blocks, drop_blocks, response, tamper_block
from stratos_fakes import (
    DENIED,
    DESIGN,
    DID,
    ENGINEERING,
    OWNER,
    PEER,
    PEER_DID,
    POST,
    SERVICE_DID,
    STRATOS_URL,
    FakeStratosRepo,
    commit_car,
    enrollment_value,
    error,
    post,
    record_response,
    running_fakes,
    service_document,
    stratos_response,
)

from conformance.checks import stratos_repo as checks
from conformance.checks.base import Failure
from conformance.checks.stratos_repo import (
    AttestationCheckBroken,
    blob_reads_unsupported,
    check_apply_writes_atomic,
    check_blob_hidden_outside_boundary,
    check_blob_served_within_boundary,
    check_create_output,
    check_create_reads_back,
    check_delete_removes,
    check_denied_calls_not_enrolled,
    check_describe_collections_exact,
    check_enrollment_attestation,
    check_enrollment_denied,
    check_enrollment_empty_commit,
    check_enrollment_record,
    check_foreign_writes_not_stored,
    check_foreign_writes_refused,
    check_fresh_describe_repo,
    check_fresh_list_records,
    check_import_complete,
    check_import_refuses_broken_cars,
    check_list_blobs,
    check_record_proof,
    check_repo_export_complete,
    check_revs_increase,
    check_since_export,
    check_status_boundaries_only_to_self,
    check_status_enrolled,
    check_status_never_enrolled,
    check_unenroll_enrollment_record_removed,
    check_unenroll_records_gone,
    check_unenroll_status,
    empty_commit_level,
    empty_repo_outcome,
    proof_level,
)
from conformance.clients.pds import PdsClient
from conformance.clients.stratos import StratosEnroller
from conformance.clients.xrpc import XrpcClient
from conformance.redact import Redactor
from conformance.repo_verify import (
    EMPTY_MST_ROOT,
    CarInvalid,
    read_car,
    verify_since_export,
    write_car,
)
from conformance.scenarios.base import Probe
from conformance.scenarios.stratos_repo import (
    AtomicBatch,
    AtomicityProbes,
    BlobListing,
    BlobReads,
    CollectionListing,
    CollectionsProbes,
    CreateProbes,
    DeleteProbes,
    DeniedProbes,
    EnrollmentRecordProbes,
    ExportProbes,
    ForeignWrite,
    ForeignWriteProbes,
    FreshEnrollment,
    ImportProbes,
    ProofProbes,
    RefusedImport,
    RevSequence,
    RevStep,
    StatusProbes,
    StratosService,
    UnenrollProbes,
    new_tids,
    probe_denied,
    probe_foreign_writes,
    probe_fresh_enrollment,
    probe_status,
    probe_unenroll,
    random_plc_did,
    tamper_record,
)
from lexicons.syntax import is_valid_did, is_valid_tid
from reference_impl.primitives import mst
from reference_impl.primitives.car import CarError
from reference_impl.primitives.car import read_car as reference_read_car
from reference_impl.primitives.keys import SigningKey, generate_signing_key

NEVER = "did:plc:nnnnnnnnnnnnnnnnnnnnnnnn"
NOW = "2026-11-20T12:00:00.000Z"


def probe(resp: httpx.Response, case: str = "probe") -> Probe:
    return Probe(case, resp)


def ok(body: Any) -> Probe:
    return probe(stratos_response(200, json_body=body))


def car(data: bytes) -> Probe:
    return probe(stratos_response(200, content=data))


def failed(failure: Failure | None, requirement: str) -> Failure:
    assert failure is not None, "the check did not notice"
    assert failure.requirement == requirement
    assert failure.title and failure.message
    return failure


# --- helpers of the scenarios and repo_verify -------------------------------------------------


def test_tids_and_dids_are_well_formed() -> None:
    tids = new_tids(5)
    assert all(is_valid_tid(t) for t in tids)
    assert list(tids) == sorted(tids) and len(set(tids)) == 5
    assert is_valid_did(random_plc_did())


def test_empty_mst_root_is_the_reference_one() -> None:
    assert EMPTY_MST_ROOT == mst.EMPTY_ROOT_CID


def test_write_car_round_trip_and_tampered_record() -> None:
    fake = FakeStratosRepo()
    fake.write({"a": post("a"), "b": post("b")})
    exported = fake.export()
    parsed = read_car(exported)
    assert read_car(write_car(parsed.roots, parsed.blocks.items())).blocks == parsed.blocks
    altered = fake.cids[f"{POST}/a"]
    broken = tamper_record(exported, altered)
    with pytest.raises(CarInvalid, match=altered.encode()):
        read_car(broken)
    with pytest.raises(CarError):
        reference_read_car(broken)


def test_since_export_holds_only_newer_blocks() -> None:
    fake = FakeStratosRepo()
    fake.init()
    fake.write({f"old{i}": post(f"old {i}") for i in range(30)})
    since = fake.rev
    assert since is not None
    fake.write({"new": post("new")})
    partial = verify_since_export(fake.export(since), DID, fake.key.did_key)
    assert partial.commit.level.value == "signature-verified"
    assert fake.cids[f"{POST}/new"] in partial.blocks
    assert fake.cids[f"{POST}/old3"] not in partial.blocks
    assert partial.entries[f"{POST}/new"] == fake.cids[f"{POST}/new"]


# --- STR-ENR-01 -------------------------------------------------------------------------------


def _status(**changes: Any) -> StatusProbes:
    enrolled = {"did": DID, "enrolled": True, "enrolledAt": NOW}
    good = StatusProbes(
        DID,
        NEVER,
        ok({"did": NEVER, "enrolled": False}),
        ok({"did": NEVER, "enrolled": False}),
        ok({**enrolled, "boundaries": [{"value": ENGINEERING}]}),
        ok(enrolled),
        ok(enrolled),
        frozenset({ENGINEERING}),
    )
    return replace(good, **changes)


def test_status_checks_pass() -> None:
    assert check_status_never_enrolled(_status()) is None
    assert check_status_enrolled(_status()) is None
    assert check_status_boundaries_only_to_self(_status()) is None


@pytest.mark.parametrize(
    "answer",
    [
        error(404, "NotFound"),
        error(400, "InvalidRequest"),
        stratos_response(200, json_body={"did": NEVER}),
        stratos_response(200, json_body={"did": NEVER, "enrolled": "false"}),
        stratos_response(200, json_body={"did": DID, "enrolled": False}),
    ],
    ids=["404", "400", "no-enrolled", "string-false", "other-did"],
)
def test_status_never_enrolled_wrong(answer: httpx.Response) -> None:
    failed(check_status_never_enrolled(_status(never_anonymous=probe(answer))), "STR-ENR-01")


@pytest.mark.parametrize(
    "body",
    [
        {"did": DID, "enrolled": False},
        {"did": DID, "enrolled": True},
        {"did": DID, "enrolled": True, "enrolledAt": "yesterday"},
    ],
    ids=["false", "no-enrolledAt", "bad-enrolledAt"],
)
def test_status_enrolled_wrong(body: dict[str, Any]) -> None:
    failed(check_status_enrolled(_status(other=ok(body))), "STR-ENR-01")


def test_status_boundaries_wrong() -> None:
    leak = {"did": DID, "enrolled": True, "enrolledAt": NOW, "boundaries": [{"value": DESIGN}]}
    failed(check_status_boundaries_only_to_self(_status(other=ok(leak))), "STR-ENR-01")
    failed(check_status_boundaries_only_to_self(_status(anonymous=ok(leak))), "STR-ENR-01")
    none = {"did": DID, "enrolled": True, "enrolledAt": NOW}
    failed(check_status_boundaries_only_to_self(_status(own=ok(none))), "STR-ENR-01")
    failure = failed(check_status_boundaries_only_to_self(_status(own=ok(leak))), "STR-ENR-01")
    assert "not the ones enrolled in" in failure.message


@pytest.fixture
def service_http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=15.0) as client:
        yield client


def _service(http: httpx.Client, url: str) -> StratosService:
    return StratosService.of(XrpcClient(url, http), Redactor())


def test_status_probe_against_fake(service_http: httpx.Client) -> None:
    with running_fakes(enrolled=[OWNER, PEER]) as fakes:
        probes = probe_status(
            _service(service_http, fakes.stratos_url),
            OWNER,
            PEER,
            expected_boundaries=frozenset({ENGINEERING}),
        )
    assert check_status_never_enrolled(probes) is None
    assert check_status_enrolled(probes) is None
    assert check_status_boundaries_only_to_self(probes) is None


@pytest.mark.parametrize(
    ("fault", "check"),
    [
        ("status-404-unknown", check_status_never_enrolled),
        ("leak-boundaries", check_status_boundaries_only_to_self),
    ],
)
def test_status_probe_against_faulty_fake(
    service_http: httpx.Client, fault: str, check: Any
) -> None:
    with running_fakes(fault, enrolled=[OWNER, PEER]) as fakes:
        probes = probe_status(_service(service_http, fakes.stratos_url), OWNER, PEER)
    failed(check(probes), "STR-ENR-01")


# --- STR-ENR-02 -------------------------------------------------------------------------------


def _denied(**changes: Any) -> DeniedProbes:
    not_enrolled = probe(error(403, "NotEnrolled"), "createRecord into its own repo")
    good = DeniedProbes(
        DENIED.did,
        probe(error(403, "EnrollmentDenied", reason="NotInAllowlist")),
        ok({"did": DENIED.did, "enrolled": False}),
        (not_enrolled, probe(error(403, "NotEnrolled"), "unenroll")),
        ok({"did": DID, "collections": []}),
    )
    return replace(good, **changes)


def test_denied_checks_pass() -> None:
    assert check_enrollment_denied(_denied()) is None
    assert check_denied_calls_not_enrolled(_denied()) is None


@pytest.mark.parametrize(
    "changes",
    [
        {"enrollment": ok({"did": DENIED.did, "enrolled": True})},
        {"enrollment": probe(error(403, "EnrollmentDenied"))},
        {"enrollment": probe(error(403, "EnrollmentDenied", reason="Banned"))},
        {"enrollment": probe(error(400, "InvalidRequest", reason="NotInAllowlist"))},
        {"status_after": ok({"did": DENIED.did, "enrolled": True, "enrolledAt": NOW})},
    ],
    ids=["enrolled", "no-reason", "other-reason", "400", "status-true"],
)
def test_enrollment_denied_wrong(changes: dict[str, Any]) -> None:
    failed(check_enrollment_denied(_denied(**changes)), "STR-ENR-02")


@pytest.mark.parametrize(
    "answer",
    [error(401, "AuthRequired"), error(403, "Forbidden"), stratos_response(200, json_body={})],
    ids=["401", "other-error", "accepted"],
)
def test_denied_calls_wrong(answer: httpx.Response) -> None:
    probes = _denied()
    calls = (*probes.calls, probe(answer, "describeRepo of its own repo"))
    failure = failed(check_denied_calls_not_enrolled(replace(probes, calls=calls)), "STR-ENR-02")
    assert "describeRepo" in failure.message


def test_denied_calls_control_refused() -> None:
    failure = failed(
        check_denied_calls_not_enrolled(_denied(control=probe(error(403, "NotEnrolled")))),
        "STR-ENR-02",
    )
    assert "control" in failure.message


def test_denied_probe_against_fake(service_http: httpx.Client) -> None:
    with running_fakes(enrolled=[OWNER]) as fakes:
        service = _service(service_http, fakes.stratos_url)
        enroller = StratosEnroller(service_http, Redactor())
        probes = probe_denied(service, enroller, DENIED, OWNER)
    assert check_enrollment_denied(probes) is None
    assert check_denied_calls_not_enrolled(probes) is None


@pytest.mark.parametrize(
    ("fault", "check"),
    [
        ("enroll-denied-200", check_enrollment_denied),
        ("denied-calls-401", check_denied_calls_not_enrolled),
    ],
)
def test_denied_probe_against_faulty_fake(
    service_http: httpx.Client, fault: str, check: Any
) -> None:
    with running_fakes(fault, enrolled=[OWNER]) as fakes:
        service = _service(service_http, fakes.stratos_url)
        probes = probe_denied(service, StratosEnroller(service_http, Redactor()), DENIED, OWNER)
    failed(check(probes), "STR-ENR-02")


# --- STR-ENR-03 / STR-ENR-04 ------------------------------------------------------------------


def _fresh(
    export: bytes | httpx.Response | None = None,
    published: SigningKey | None = None,
    *,
    record: bool = True,
    **changes: Any,
) -> FreshEnrollment:
    fake = FakeStratosRepo()
    fake.init()
    data = export if export is not None else fake.export()
    export_probe = car(data) if isinstance(data, bytes) else probe(data)
    value = enrollment_value(DID, published or fake.key, generate_signing_key("p256"))
    good = FreshEnrollment(
        DID,
        ok({"did": DID, "enrolled": True}),
        export_probe,
        probe(record_response(DID, value if record else None)),
        ok({"did": DID, "collections": []}),
        ok({"records": []}),
    )
    return replace(good, **changes)


def test_empty_commit_passes() -> None:
    fresh = _fresh()
    assert check_enrollment_empty_commit(fresh) is None
    assert empty_commit_level(fresh) == "signature-verified"


def test_empty_commit_with_prev() -> None:
    key = generate_signing_key("p256")
    earlier = FakeStratosRepo(key=key)
    earlier.init()
    assert earlier.head is not None
    empty_node = read_car(earlier.export()).blocks[EMPTY_MST_ROOT]
    data = commit_car(
        DID,
        key,
        EMPTY_MST_ROOT,
        earlier.clock.next(),
        prev=earlier.head,
        extra_blocks={EMPTY_MST_ROOT: empty_node},
    )
    failure = failed(check_enrollment_empty_commit(_fresh(data, key)), "STR-ENR-03")
    assert "prev" in failure.message


def test_empty_commit_not_empty() -> None:
    fake = FakeStratosRepo()
    fake.init()
    fake.write({"early": post("already here")})
    failure = failed(check_enrollment_empty_commit(_fresh(fake.export(), fake.key)), "STR-ENR-03")
    assert "empty MST root" in failure.message


def test_empty_commit_signed_by_another_key() -> None:
    fresh = _fresh(published=generate_signing_key("p256"))
    failure = failed(check_enrollment_empty_commit(fresh), "STR-ENR-03")
    assert "signature" in failure.message
    assert empty_commit_level(fresh) == "cid-only"


def test_empty_commit_without_published_key() -> None:
    fresh = _fresh(record=False)
    failure = failed(check_enrollment_empty_commit(fresh), "STR-ENR-03")
    assert "signingKey" in failure.message
    assert empty_commit_level(fresh) == "cid-only"


@pytest.mark.parametrize(
    "export",
    [
        error(404, "RepoNotFound"),
        stratos_response(200, json_body={"car": "no"}),
        b"\x05garbage",
    ],
    ids=["repo-not-found", "json", "garbage"],
)
def test_empty_commit_no_car(export: httpx.Response | bytes) -> None:
    fresh = _fresh(export)
    failed(check_enrollment_empty_commit(fresh), "STR-ENR-03")
    assert empty_commit_level(fresh) == "unverifiable"


def test_enrollment_failed_is_a_failure_of_both() -> None:
    fresh = replace(
        _fresh(),
        enrollment=probe(error(403, "EnrollmentDenied")),
        export=None,
        enrollment_record=None,
        described=None,
        listed=None,
    )
    failed(check_enrollment_empty_commit(fresh), "STR-ENR-03")
    failed(check_fresh_describe_repo(fresh), "STR-ENR-04")
    failed(check_fresh_list_records(fresh), "STR-ENR-04")


def test_fresh_repo_reads_pass() -> None:
    fresh = _fresh()
    assert check_fresh_describe_repo(fresh) is None
    assert check_fresh_list_records(fresh) is None
    assert empty_repo_outcome(fresh.described, "collections") == "empty (200)"


@pytest.mark.parametrize(
    ("answer", "outcome", "title_part"),
    [
        (error(400, "RepoNotFound"), "RepoNotFound", "RepoNotFound"),
        (error(401, "AuthRequired"), "auth failure (401 AuthRequired)", "auth failure"),
        (stratos_response(200, json_body={"collections": [POST]}), "not empty (200)", "not empty"),
        (
            stratos_response(200, json_body={"did": DID}),
            "200 without collections",
            "no collections",
        ),
        (error(500, "InternalServerError"), "500 InternalServerError", "answers an error"),
    ],
    ids=["repo-not-found", "auth", "not-empty", "no-list", "500"],
)
def test_fresh_describe_wrong(answer: httpx.Response, outcome: str, title_part: str) -> None:
    fresh = _fresh(described=probe(answer))
    failure = failed(check_fresh_describe_repo(fresh), "STR-ENR-04")
    assert title_part in failure.title
    assert empty_repo_outcome(fresh.described, "collections") == outcome


def test_fresh_list_wrong() -> None:
    masked = _fresh(listed=probe(error(400, "RepoNotFound")))
    assert "RepoNotFound" in failed(check_fresh_list_records(masked), "STR-ENR-04").title
    full = _fresh(listed=ok({"records": [{"uri": "at://x", "cid": "y", "value": {}}]}))
    failed(check_fresh_list_records(full), "STR-ENR-04")


def test_fresh_enrollment_probe_against_fake(service_http: httpx.Client) -> None:
    with running_fakes(enrolled=[OWNER]) as fakes:
        service = _service(service_http, fakes.stratos_url)
        pds = PdsClient(XrpcClient(fakes.pds_url, service_http), Redactor())
        enroller = StratosEnroller(service_http, Redactor())
        fresh = probe_fresh_enrollment(service, enroller, pds, SERVICE_DID, OWNER)
    assert check_enrollment_empty_commit(fresh) is None
    assert check_fresh_describe_repo(fresh) is None
    assert check_fresh_list_records(fresh) is None


@pytest.mark.parametrize(
    ("fault", "requirements"),
    [("no-empty-commit", ("STR-ENR-03", "STR-ENR-04")), ("commit-other-key", ("STR-ENR-03",))],
)
def test_fresh_enrollment_probe_against_faulty_fake(
    service_http: httpx.Client, fault: str, requirements: tuple[str, ...]
) -> None:
    with running_fakes(fault) as fakes:
        service = _service(service_http, fakes.stratos_url)
        pds = PdsClient(XrpcClient(fakes.pds_url, service_http), Redactor())
        enroller = StratosEnroller(service_http, Redactor())
        fresh = probe_fresh_enrollment(service, enroller, pds, SERVICE_DID, OWNER)
    failed(check_enrollment_empty_commit(fresh), "STR-ENR-03")
    describe = check_fresh_describe_repo(fresh)
    if "STR-ENR-04" in requirements:
        assert "RepoNotFound" in failed(describe, "STR-ENR-04").title
    else:
        assert describe is None


# --- STR-ENR-05 -------------------------------------------------------------------------------


SERVICE_KEY = generate_signing_key("p256")
REPO_KEY = generate_signing_key("p256")


def _record_probes(
    value: dict[str, Any] | None = None, document: httpx.Response | None = None
) -> EnrollmentRecordProbes:
    if value is None:
        value = enrollment_value(DID, REPO_KEY, SERVICE_KEY, (ENGINEERING, DESIGN))
    doc = document or response(
        200, json_body=service_document(SERVICE_KEY), url=f"{STRATOS_URL}/.well-known/did.json"
    )
    return EnrollmentRecordProbes(
        DID, STRATOS_URL, SERVICE_DID, probe(record_response(DID, value)), probe(doc)
    )


def test_enrollment_record_passes() -> None:
    probes = _record_probes()
    assert check_enrollment_record(probes) is None
    assert check_enrollment_attestation(probes) is None


def test_enrollment_record_missing() -> None:
    probes = replace(_record_probes(), record=probe(record_response(DID, None)))
    failed(check_enrollment_record(probes), "STR-ENR-05")
    failed(check_enrollment_attestation(probes), "STR-ENR-05")


def _changed(**fields: Any) -> dict[str, Any]:
    value = enrollment_value(DID, REPO_KEY, SERVICE_KEY, (ENGINEERING,))
    for name, new in fields.items():
        if new is None:
            value.pop(name, None)
        else:
            value[name] = new
    return value


@pytest.mark.parametrize(
    "value",
    [
        _changed(service="https://elsewhere.example"),
        _changed(boundaries=[{"value": "engineering"}]),
        _changed(boundaries=[{"value": "did:web:other.example/engineering"}]),
        _changed(signingKey=None),
        _changed(attestation=None),
        _changed(attestation={"sig": "not-bytes", "signingKey": SERVICE_KEY.did_key}),
        _changed(**{"$type": "app.bsky.feed.post"}),
        _changed(createdAt=None),
    ],
    ids=[
        "other-service",
        "bare-domain",
        "other-service-domain",
        "no-signing-key",
        "no-attestation",
        "sig-not-bytes",
        "wrong-type",
        "no-createdAt",
    ],
)
def test_enrollment_record_wrong(value: dict[str, Any]) -> None:
    failed(check_enrollment_record(_record_probes(value)), "STR-ENR-05")


def test_enrollment_record_names_service_by_did() -> None:
    assert check_enrollment_record(_record_probes(_changed(service=SERVICE_DID))) is None


@pytest.mark.parametrize(
    "value",
    [
        enrollment_value(DID, REPO_KEY, SERVICE_KEY, signed_by=generate_signing_key("p256")),
        enrollment_value(DID, REPO_KEY, SERVICE_KEY, signed_did=PEER_DID),
        enrollment_value(DID, REPO_KEY, SERVICE_KEY, (ENGINEERING, DESIGN), sort=False),
        _changed(signingKey=generate_signing_key("p256").did_key),
        _changed(
            attestation={
                **_changed()["attestation"],
                "signingKey": generate_signing_key("p256").did_key,
            }
        ),
    ],
    ids=["other-key", "other-did", "unsorted", "repo-key-swapped", "named-key-not-published"],
)
def test_enrollment_attestation_wrong(value: dict[str, Any]) -> None:
    failed(check_enrollment_attestation(_record_probes(value)), "STR-ENR-05")


def test_enrollment_attestation_without_service_key() -> None:
    no_doc = error(404, "NotFound")
    failed(check_enrollment_attestation(_record_probes(document=no_doc)), "STR-ENR-05")


def test_enrollment_attestation_sanity_guard(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(checks, "signature_valid", lambda *_args: True)
    with pytest.raises(AttestationCheckBroken):
        check_enrollment_attestation(_record_probes())


# --- STR-ENR-06 -------------------------------------------------------------------------------


def _unenroll(**changes: Any) -> UnenrollProbes:
    gone = error(404, "RecordNotFound", "Record not found")
    good = UnenrollProbes(
        DID,
        ok({"uri": f"at://{DID}/{POST}/3kabc", "cid": "bafyx"}),
        ok({"value": post("x")}),
        ok({"success": True}),
        ok({"did": DID, "enrolled": False}),
        probe(gone),
        probe(record_response(DID, None)),
        ok({"did": DID, "enrolled": True}),
        probe(gone),
    )
    return replace(good, **changes)


def test_unenroll_checks_pass() -> None:
    assert check_unenroll_status(_unenroll()) is None
    refused = _unenroll(read_after=probe(error(403, "NotEnrolled")))
    assert check_unenroll_records_gone(refused) is None
    assert check_unenroll_records_gone(_unenroll()) is None
    assert check_unenroll_enrollment_record_removed(_unenroll()) is None


def test_unenroll_wrong() -> None:
    still = ok({"did": DID, "enrolled": True, "enrolledAt": NOW})
    failed(check_unenroll_status(_unenroll(status_after=still)), "STR-ENR-06")
    refused = probe(error(403, "NotEnrolled"))
    failed(check_unenroll_status(_unenroll(unenroll=refused)), "STR-ENR-06")
    failed(check_unenroll_enrollment_record_removed(_unenroll(unenroll=refused)), "STR-ENR-06")
    readable = ok({"value": post("x")})
    failed(check_unenroll_records_gone(_unenroll(read_after=readable)), "STR-ENR-06")
    forbidden = probe(error(403, "Forbidden"))
    failed(check_unenroll_records_gone(_unenroll(read_after=forbidden)), "STR-ENR-06")
    hidden_only = failed(
        check_unenroll_records_gone(_unenroll(read_after_reenrollment=readable)), "STR-ENR-06"
    )
    assert "after enrolling again" in hidden_only.message or "gone" in hidden_only.message
    kept = probe(record_response(DID, {"$type": "zone.stratos.actor.enrollment"}))
    failed(
        check_unenroll_enrollment_record_removed(_unenroll(enrollment_record_after=kept)),
        "STR-ENR-06",
    )


def test_unenroll_probe_against_fake(service_http: httpx.Client) -> None:
    with running_fakes(enrolled=[OWNER]) as fakes:
        service = _service(service_http, fakes.stratos_url)
        pds = PdsClient(XrpcClient(fakes.pds_url, service_http), Redactor())
        enroller = StratosEnroller(service_http, Redactor())
        probes = probe_unenroll(service, enroller, pds, SERVICE_DID, OWNER, settle_s=0.5)
        assert OWNER.did in fakes.world.boundaries  # enrolled again
    assert check_unenroll_status(probes) is None
    assert check_unenroll_records_gone(probes) is None
    assert check_unenroll_enrollment_record_removed(probes) is None


@pytest.mark.parametrize(
    ("fault", "check"),
    [
        ("unenroll-keeps-records", check_unenroll_records_gone),
        ("unenroll-keeps-pds-record", check_unenroll_enrollment_record_removed),
    ],
)
def test_unenroll_probe_against_faulty_fake(
    service_http: httpx.Client, fault: str, check: Any
) -> None:
    with running_fakes(fault, enrolled=[OWNER]) as fakes:
        service = _service(service_http, fakes.stratos_url)
        pds = PdsClient(XrpcClient(fakes.pds_url, service_http), Redactor())
        enroller = StratosEnroller(service_http, Redactor())
        probes = probe_unenroll(service, enroller, pds, SERVICE_DID, OWNER, settle_s=0.3)
    failed(check(probes), "STR-ENR-06")


# --- STR-REPO-01 ------------------------------------------------------------------------------

CREATED_VALUE = post("hello")
CREATED = {
    "uri": f"at://{DID}/{POST}/3kabcdefghij2",
    "cid": "bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm",
    "commit": {
        "cid": "bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm",
        "rev": "3kabcdefghij2",
    },
}


def _created(**changes: Any) -> CreateProbes:
    read = {"uri": CREATED["uri"], "cid": CREATED["cid"], "value": CREATED_VALUE}
    return replace(CreateProbes(DID, CREATED_VALUE, ok(CREATED), ok(read)), **changes)


def test_create_checks_pass() -> None:
    assert check_create_output(_created()) is None
    assert check_create_reads_back(_created()) is None


@pytest.mark.parametrize(
    "body",
    [
        {**CREATED, "uri": f"at://{PEER_DID}/{POST}/3kabcdefghij2"},
        {**CREATED, "uri": f"at://{DID}/app.bsky.feed.post/3kabcdefghij2"},
        {**CREATED, "uri": f"at://{DID}/{POST}/"},
        {**CREATED, "cid": "not-a-cid"},
        {k: v for k, v in CREATED.items() if k != "commit"},
        {**CREATED, "commit": {"cid": CREATED["cid"], "rev": "12345"}},
    ],
    ids=["other-did", "other-collection", "no-rkey", "bad-cid", "no-commit", "rev-not-tid"],
)
def test_create_output_wrong(body: dict[str, Any]) -> None:
    failed(check_create_output(_created(create=ok(body))), "STR-REPO-01")


@pytest.mark.parametrize(
    "read",
    [
        {"uri": CREATED["uri"], "cid": CREATED["cid"], "value": post("other")},
        {"uri": CREATED["uri"], "cid": "bafyother", "value": CREATED_VALUE},
        None,
    ],
    ids=["other-value", "other-cid", "404"],
)
def test_create_reads_back_wrong(read: dict[str, Any] | None) -> None:
    answer = ok(read) if read is not None else probe(error(404, "RecordNotFound"))
    failed(check_create_reads_back(_created(read=answer)), "STR-REPO-01")


def test_create_refused() -> None:
    refused = _created(create=probe(error(400, "InvalidRecord")), read=None)
    failed(check_create_output(refused), "STR-REPO-01")
    failed(check_create_reads_back(refused), "STR-REPO-01")


# --- STR-REPO-02 ------------------------------------------------------------------------------


def _foreign(*writes: tuple[httpx.Response, httpx.Response]) -> ForeignWriteProbes:
    return ForeignWriteProbes(
        ok(CREATED),
        tuple(ForeignWrite(probe(w, "foreign write"), probe(r, "read back")) for w, r in writes),
    )


GONE = error(404, "RecordNotFound")


def test_foreign_writes_pass() -> None:
    probes = _foreign((error(400, "InvalidRequest"), GONE), (error(401, "AuthRequired"), GONE))
    assert check_foreign_writes_refused(probes) is None
    assert check_foreign_writes_not_stored(probes) is None


@pytest.mark.parametrize(
    "answer",
    [stratos_response(200, json_body=CREATED), error(500, "InternalServerError"), error(403, "X")],
    ids=["accepted", "500", "403"],
)
def test_foreign_writes_not_refused(answer: httpx.Response) -> None:
    probes = _foreign((error(400, "InvalidRequest"), GONE), (answer, GONE))
    failed(check_foreign_writes_refused(probes), "STR-REPO-02")


def test_foreign_write_stored_despite_refusal() -> None:
    stored = stratos_response(200, json_body={"value": post("x")})
    probes = _foreign((error(400, "InvalidRequest"), stored))
    failed(check_foreign_writes_not_stored(probes), "STR-REPO-02")
    no_control = replace(probes, control=probe(error(403, "NotEnrolled")))
    failed(check_foreign_writes_refused(no_control), "STR-REPO-02")


def test_foreign_writes_probe_against_fake(service_http: httpx.Client) -> None:
    with running_fakes(enrolled=[OWNER, PEER]) as fakes:
        probes = probe_foreign_writes(_service(service_http, fakes.stratos_url), OWNER, PEER)
    assert len(probes.writes) == 4
    assert check_foreign_writes_refused(probes) is None
    assert check_foreign_writes_not_stored(probes) is None


def test_foreign_writes_probe_against_faulty_fake(service_http: httpx.Client) -> None:
    with running_fakes("accept-foreign", enrolled=[OWNER, PEER]) as fakes:
        probes = probe_foreign_writes(_service(service_http, fakes.stratos_url), OWNER, PEER)
    failed(check_foreign_writes_refused(probes), "STR-REPO-02")
    failed(check_foreign_writes_not_stored(probes), "STR-REPO-02")
    with running_fakes("foreign-500", enrolled=[OWNER, PEER]) as fakes:
        probes = probe_foreign_writes(_service(service_http, fakes.stratos_url), OWNER, PEER)
    assert "500" in failed(check_foreign_writes_refused(probes), "STR-REPO-02").message


# --- STR-REPO-03 ------------------------------------------------------------------------------


def _records(*keys: str) -> dict[str, Any]:
    return {
        "records": [
            {"uri": f"at://{DID}/{key}", "cid": f"bafy{i}", "value": post(key)}
            for i, key in enumerate(keys)
        ]
    }


def _collections(collections: list[str], listings: dict[str, dict[str, Any]]) -> CollectionsProbes:
    return CollectionsProbes(
        DID,
        ok(CREATED),
        ok({"did": DID, "collections": collections}),
        tuple(CollectionListing(c, ok(body)) for c, body in listings.items()),
    )


def test_describe_collections_exact() -> None:
    probes = _collections([POST], {POST: _records(f"{POST}/3kabc")})
    assert check_describe_collections_exact(probes) is None


@pytest.mark.parametrize(
    ("collections", "listings"),
    [
        ([], {}),
        (
            [POST, "zone.stratos.other"],
            {POST: _records(f"{POST}/a"), "zone.stratos.other": {"records": []}},
        ),
        ([POST, POST], {POST: _records(f"{POST}/a")}),
    ],
    ids=["missing-written", "empty-collection-listed", "duplicate"],
)
def test_describe_collections_not_exact(
    collections: list[str], listings: dict[str, dict[str, Any]]
) -> None:
    failed(check_describe_collections_exact(_collections(collections, listings)), "STR-REPO-03")


def _delete(**changes: Any) -> DeleteProbes:
    good = DeleteProbes(
        DID,
        "3kdel",
        ok(CREATED),
        ok({}),
        probe(error(404, "RecordNotFound")),
        (ok(_records(f"{POST}/3kother")),),
    )
    return replace(good, **changes)


def test_delete_removes() -> None:
    assert check_delete_removes(_delete()) is None


@pytest.mark.parametrize(
    "changes",
    [
        {"read_after": ok({"value": post("still")})},
        {"read_after": probe(error(500, "InternalServerError"))},
        {"listed": (ok(_records(f"{POST}/3kdel")),)},
        {"delete": probe(error(400, "InvalidRequest"))},
    ],
    ids=["still-readable", "500", "still-listed", "refused"],
)
def test_delete_does_not_remove(changes: dict[str, Any]) -> None:
    failed(check_delete_removes(_delete(**changes)), "STR-REPO-03")


def _atomic(
    batch: httpx.Response, read: httpx.Response, listed: tuple[str, ...] = ()
) -> AtomicityProbes:
    return AtomicityProbes(
        DID,
        ok({"results": []}),
        (
            AtomicBatch(
                probe(batch, "applyWrites with one invalid op"),
                ("3kfirst", "3klast"),
                (probe(GONE, "first"), probe(read, "last")),
            ),
        ),
        (ok(_records(*listed)),),
    )


def test_apply_writes_atomic() -> None:
    assert check_apply_writes_atomic(_atomic(error(400, "InvalidRequest"), GONE)) is None


def test_apply_writes_not_atomic() -> None:
    written = stratos_response(200, json_body={"value": post("x")})
    failed(check_apply_writes_atomic(_atomic(error(400, "InvalidRequest"), written)), "STR-REPO-03")
    failed(
        check_apply_writes_atomic(_atomic(stratos_response(200, json_body={}), GONE)), "STR-REPO-03"
    )
    failed(
        check_apply_writes_atomic(_atomic(error(400, "X"), GONE, (f"{POST}/3kfirst",))),
        "STR-REPO-03",
    )
    no_control = replace(_atomic(error(400, "X"), GONE), control=probe(error(400, "X")))
    failed(check_apply_writes_atomic(no_control), "STR-REPO-03")


# --- STR-VER-01 -------------------------------------------------------------------------------


@pytest.fixture
def stratos_repo() -> FakeStratosRepo:
    fake = FakeStratosRepo()
    fake.init()
    fake.write({f"3kother{i:05d}": post(f"other {i}") for i in range(20)})
    fake.write({"3kproof": post("proof")})
    return fake


def _proof(
    fake: FakeStratosRepo, data: bytes, *, key: SigningKey | None = None, **kw: Any
) -> ProofProbes:
    value = enrollment_value(DID, key or fake.key, SERVICE_KEY)
    write = {"uri": f"at://{DID}/{POST}/3kproof", "cid": kw.get("cid") or fake.cid("3kproof")}
    return ProofProbes(
        DID,
        POST,
        "3kproof",
        post("proof"),
        ok(write),
        car(data),
        probe(record_response(DID, None if kw.get("no_key") else value)),
    )


def test_record_proof_passes(stratos_repo: FakeStratosRepo) -> None:
    probes = _proof(stratos_repo, stratos_repo.proof("3kproof"))
    assert check_record_proof(probes) is None
    assert proof_level(probes) == "signature-verified"


def test_record_proof_without_published_key_is_cid_only(stratos_repo: FakeStratosRepo) -> None:
    probes = _proof(stratos_repo, stratos_repo.proof("3kproof"), no_key=True)
    assert check_record_proof(probes) is None
    assert proof_level(probes) == "cid-only"


def test_record_proof_wrong(stratos_repo: FakeStratosRepo) -> None:
    proof = stratos_repo.proof("3kproof")
    other_key = _proof(stratos_repo, proof, key=generate_signing_key("p256"))
    assert "signature" in failed(check_record_proof(other_key), "STR-VER-01").message
    assert proof_level(other_key) == "cid-only"
    tampered = tamper_block(proof, stratos_repo.cids[f"{POST}/3kproof"])
    failed(check_record_proof(_proof(stratos_repo, tampered)), "STR-VER-01")
    roots, _blocks = car_blocks(proof)
    no_path = drop_blocks(proof, [roots[0], stratos_repo.cids[f"{POST}/3kproof"]])
    failed(check_record_proof(_proof(stratos_repo, no_path)), "STR-VER-01")
    other_cid = _proof(stratos_repo, proof, cid=stratos_repo.cid("3kother00001"))
    failed(check_record_proof(other_cid), "STR-VER-01")
    not_car = replace(_proof(stratos_repo, proof), proof=probe(error(404, "RecordNotFound")))
    failed(check_record_proof(not_car), "STR-VER-01")


# --- STR-VER-02 -------------------------------------------------------------------------------


def _export(
    fake: FakeStratosRepo,
    earlier: tuple[str, ...],
    later: tuple[str, ...],
    since_rev: str | None,
    full: bytes,
    since: bytes | None,
) -> ExportProbes:
    def writes(rkeys: tuple[str, ...], rev: str | None) -> tuple[Probe, ...]:
        return tuple(
            ok(
                {
                    "uri": f"at://{DID}/{POST}/{rkey}",
                    "cid": fake.cid(rkey) if f"{POST}/{rkey}" in fake.cids else "bafynever",
                    "commit": {"cid": "bafyc", "rev": rev or fake.rev},
                }
            )
            for rkey in rkeys
        )

    return ExportProbes(
        DID,
        writes(earlier, since_rev),
        writes(later, fake.rev),
        since_rev,
        car(full),
        car(since) if since is not None else None,
        probe(record_response(DID, enrollment_value(DID, fake.key, SERVICE_KEY))),
    )


@pytest.fixture
def two_rounds() -> tuple[FakeStratosRepo, str, bytes]:
    """A repo with a first round (3k1..), a since rev, then a second round (3k2..); the CAR of
    the repo as it was after the first round."""
    fake = FakeStratosRepo()
    fake.init()
    fake.write({f"3k1{i:09d}": post(f"first {i}") for i in range(40)})
    assert fake.rev is not None
    since, stale = fake.rev, fake.export()
    fake.write({"3k2000000001": post("second 1"), "3k2000000002": post("second 2")})
    return fake, since, stale


EARLIER = ("3k1000000000", "3k1000000007", "3k1000000039")
LATER = ("3k2000000001", "3k2000000002")


def test_repo_export_passes(two_rounds: tuple[FakeStratosRepo, str, bytes]) -> None:
    fake, since, _stale = two_rounds
    probes = _export(fake, EARLIER, LATER, since, fake.export(), fake.export(since))
    assert check_repo_export_complete(probes) is None
    assert check_since_export(probes) is None


def test_repo_export_wrong(two_rounds: tuple[FakeStratosRepo, str, bytes]) -> None:
    fake, since, stale = two_rounds
    failure = failed(
        check_repo_export_complete(_export(fake, EARLIER, LATER, since, stale, None)), "STR-VER-02"
    )
    assert "lacks the record" in failure.message
    missing = _export(fake, (*EARLIER, "3knever"), LATER, since, fake.export(), None)
    failed(check_repo_export_complete(missing), "STR-VER-02")
    tampered = tamper_block(fake.export(), fake.cids[f"{POST}/3k1000000007"])
    failed(
        check_repo_export_complete(_export(fake, EARLIER, LATER, since, tampered, None)),
        "STR-VER-02",
    )
    roots, _blocks = car_blocks(fake.export())
    no_mst = drop_blocks(fake.export(), [roots[0], *fake.cids.values()])
    failed(
        check_repo_export_complete(_export(fake, EARLIER, LATER, since, no_mst, None)), "STR-VER-02"
    )


def test_since_export_wrong(two_rounds: tuple[FakeStratosRepo, str, bytes]) -> None:
    fake, since, _stale = two_rounds
    ignored = _export(fake, EARLIER, LATER, since, fake.export(), fake.export())
    assert "written up to since" in failed(check_since_export(ignored), "STR-VER-02").message
    too_new = _export(fake, EARLIER, LATER, since, fake.export(), fake.export(fake.rev))
    failed(check_since_export(too_new), "STR-VER-02")
    no_rev = _export(fake, EARLIER, LATER, None, fake.export(), None)
    failed(check_since_export(no_rev), "STR-VER-02")
    refused = replace(
        _export(fake, EARLIER, LATER, since, fake.export(), None),
        since=probe(error(400, "InvalidRequest")),
    )
    failed(check_since_export(refused), "STR-VER-02")


# --- STR-VER-03 -------------------------------------------------------------------------------


def _revs(*revs: str | None, required: bool = True) -> RevSequence:
    steps = tuple(
        RevStep(
            ok({"commit": {"cid": "bafyc", "rev": rev}} if rev is not None else {}),
            required,
        )
        for rev in revs
    )
    return RevSequence(DID, steps)


REVS = ("3kaaaaaaaaaa2", "3kaaaaaaaaab2", "3kaaaaaaaaac2")


def test_revs_increase() -> None:
    assert check_revs_increase(_revs(*REVS)) is None
    optional = RevSequence(DID, (*_revs(*REVS).steps, *_revs(None, required=False).steps))
    assert check_revs_increase(optional) is None


@pytest.mark.parametrize(
    "revs",
    [
        (REVS[0], REVS[0]),
        (REVS[1], REVS[0]),
        (REVS[0], "12345"),
        (REVS[0], None),
    ],
    ids=["equal", "decreasing", "not-a-tid", "missing"],
)
def test_revs_wrong(revs: tuple[str | None, ...]) -> None:
    failed(check_revs_increase(_revs(*revs)), "STR-VER-03")


def test_revs_write_refused() -> None:
    refused = RevSequence(DID, (RevStep(probe(error(429, "RateLimitExceeded")), True),))
    failed(check_revs_increase(refused), "STR-VER-03")


# --- STR-BLOB-01 ------------------------------------------------------------------------------

BLOB_A = "bafkreiaaaa"
BLOB_B = "bafkreibbbb"


def _blob_ref(cid: str) -> dict[str, Any]:
    return {"blob": {"$type": "blob", "ref": {"$link": cid}, "mimeType": "image/png", "size": 9}}


def _listing(*pages: dict[str, Any], uploads: tuple[Probe, ...] | None = None) -> BlobListing:
    return BlobListing(
        DID,
        uploads if uploads is not None else (ok(_blob_ref(BLOB_A)), ok(_blob_ref(BLOB_B))),
        ok(CREATED),
        (BLOB_A, BLOB_B),
        tuple(ok(page) for page in pages),
    )


def test_list_blobs_passes() -> None:
    listing = _listing({"cids": [BLOB_A], "cursor": "c1"}, {"cids": [BLOB_B]})
    assert check_list_blobs(listing) is None


@pytest.mark.parametrize(
    "pages",
    [
        ({"cids": [BLOB_A]},),
        ({"blobs": [BLOB_A, BLOB_B]},),
        ({"cids": [BLOB_A, BLOB_B], "cursor": 7},),
        ({"cids": [BLOB_A, {"$link": BLOB_B}]},),
    ],
    ids=["missing", "no-cids", "int-cursor", "not-strings"],
)
def test_list_blobs_wrong(pages: tuple[dict[str, Any], ...]) -> None:
    failed(check_list_blobs(_listing(*pages)), "STR-BLOB-01")


def test_list_blobs_refused() -> None:
    refused = replace(_listing(), pages=(probe(error(403, "NotEnrolled")),))
    failed(check_list_blobs(refused), "STR-BLOB-01")
    no_upload = _listing(uploads=(probe(error(400, "InvalidRequest")),))
    failed(check_list_blobs(no_upload), "STR-BLOB-01")


# --- STR-BLOB-02 ------------------------------------------------------------------------------

BLOB_BYTES = b"\x89PNG blob"


def _blob(status: int = 200, content: bytes = BLOB_BYTES) -> Probe:
    if status == 200:
        return probe(response(200, content=content, content_type="image/png"))
    return probe(error(status, "RecordNotFound", "Record not found"))


def _reads(**changes: Any) -> BlobReads:
    good = BlobReads(
        DID,
        BLOB_BYTES,
        ok(_blob_ref(BLOB_A)),
        ok(CREATED),
        _blob(),
        _blob(),
        _blob(404),
        _blob(404),
        _blob(404),
    )
    return replace(good, **changes)


def test_blob_reads_pass() -> None:
    assert check_blob_served_within_boundary(_reads()) is None
    assert check_blob_hidden_outside_boundary(_reads()) is None
    assert not blob_reads_unsupported(_reads())


@pytest.mark.parametrize(
    "changes",
    [{"owner": _blob(404)}, {"peer": _blob(404)}, {"peer": _blob(content=b"other")}],
    ids=["owner-404", "peer-404", "other-bytes"],
)
def test_blob_not_served_within_boundary(changes: dict[str, Any]) -> None:
    failed(check_blob_served_within_boundary(_reads(**changes)), "STR-BLOB-02")


@pytest.mark.parametrize(
    "changes",
    [
        {"outsider": _blob()},
        {"anonymous": _blob()},
        {"outsider": probe(error(403, "Forbidden"))},
        {"anonymous": probe(error(404, "BlobNotFound"))},
    ],
    ids=["outsider-served", "anonymous-served", "403", "distinguishable"],
)
def test_blob_not_hidden_outside_boundary(changes: dict[str, Any]) -> None:
    failed(check_blob_hidden_outside_boundary(_reads(**changes)), "STR-BLOB-02")


def test_blob_reads_unsupported_or_refused() -> None:
    unsupported = _reads(owner=probe(error(501, "MethodNotImplemented")))
    assert blob_reads_unsupported(unsupported)
    no_upload = _reads(upload=probe(error(400, "InvalidRequest")), record=None)
    failed(check_blob_served_within_boundary(no_upload), "STR-BLOB-02")
    failed(check_blob_hidden_outside_boundary(no_upload), "STR-BLOB-02")


# --- STR-IMP-01 -------------------------------------------------------------------------------


@pytest.fixture
def pds_repo() -> FakeStratosRepo:
    fake = FakeStratosRepo(key=generate_signing_key("secp256k1"))
    fake.write({f"3kimp{i:08d}": post(f"import {i}") for i in range(12)})
    fake.write(
        {SERVICE_DID: {"$type": "zone.stratos.actor.enrollment", "x": 1}},
        "zone.stratos.actor.enrollment",
    )
    return fake


def _import(fake: FakeStratosRepo, **changes: Any) -> ImportProbes:
    records = {key: cid.encode() for key, cid in fake.cids.items()}
    refused = tuple(
        RefusedImport(
            probe(error(400, "InvalidCar"), case),
            ok({"did": DID, "collections": []}),
            ok({"records": []}),
        )
        for case in ("not a CAR", "cut in half", "record altered")
    )
    by_collection: dict[str, list[dict[str, Any]]] = {}
    for key, cid in records.items():
        collection = key.split("/", 1)[0]
        by_collection.setdefault(collection, []).append(
            {"uri": f"at://{DID}/{key}", "cid": cid, "value": {}}
        )
    listed = {
        name: tuple(ok({"records": items[i : i + 5]}) for i in range(0, len(items), 5))
        for name, items in by_collection.items()
    }
    first = sorted(records)[0]
    reads = ((first, ok({"uri": f"at://{DID}/{first}", "cid": records[first], "value": {}})),)
    good = ImportProbes(
        DID,
        (ok({"results": []}),),
        car(fake.export()),
        records,
        refused,
        ok({"imported": len(records)}),
        listed,
        reads,
    )
    return replace(good, **changes)


def test_import_checks_pass(pds_repo: FakeStratosRepo) -> None:
    assert check_import_refuses_broken_cars(_import(pds_repo)) is None
    assert check_import_complete(_import(pds_repo)) is None


@pytest.mark.parametrize(
    "attempt",
    [
        stratos_response(200, json_body={"imported": 6}),
        error(400, "InvalidRequest"),
        error(500, "InternalServerError"),
    ],
    ids=["accepted", "other-error", "500"],
)
def test_import_broken_car_not_refused(pds_repo: FakeStratosRepo, attempt: httpx.Response) -> None:
    probes = _import(pds_repo)
    refused = (replace(probes.refused[0], attempt=probe(attempt)), *probes.refused[1:])
    failed(check_import_refuses_broken_cars(replace(probes, refused=refused)), "STR-IMP-01")


def test_import_broken_car_partly_imported(pds_repo: FakeStratosRepo) -> None:
    probes = _import(pds_repo)
    partial = replace(probes.refused[2], described=ok({"did": DID, "collections": [POST]}))
    failure = failed(
        check_import_refuses_broken_cars(replace(probes, refused=(partial,))), "STR-IMP-01"
    )
    assert "not empty" in failure.message


def test_import_incomplete(pds_repo: FakeStratosRepo) -> None:
    probes = _import(pds_repo)
    count = len(probes.car_records)
    failed(
        check_import_complete(replace(probes, imported=ok({"imported": count - 1}))), "STR-IMP-01"
    )
    pages = probes.listed[POST]
    short = {**probes.listed, POST: pages[:-1]}
    assert (
        "not listed"
        in failed(check_import_complete(replace(probes, listed=short)), "STR-IMP-01").message
    )
    first_page = pages[0].response.json()["records"]
    changed_page = ok({"records": [{**first_page[0], "cid": "bafychanged"}, *first_page[1:]]})
    changed = {**probes.listed, POST: (changed_page, *pages[1:])}
    assert (
        "another CID"
        in failed(check_import_complete(replace(probes, listed=changed)), "STR-IMP-01").message
    )
    key, _read = probes.reads[0]
    other_read = ((key, ok({"uri": "x", "cid": "bafyother", "value": {}})),)
    failed(check_import_complete(replace(probes, reads=other_read)), "STR-IMP-01")


def test_import_refused(pds_repo: FakeStratosRepo) -> None:
    probes = _import(pds_repo, imported=probe(error(400, "InvalidCar")))
    failed(check_import_complete(probes), "STR-IMP-01")
    failure = failed(check_import_refuses_broken_cars(probes), "STR-IMP-01")
    assert "control" in failure.message
