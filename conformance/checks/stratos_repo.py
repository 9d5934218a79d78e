"""Stratos enrollment, repository, verification, blobs and import (STR-ENR-01..06,
STR-REPO-01..03, STR-VER-01..03, STR-BLOB-01..02, STR-IMP-01): one small check per facet.

Each check takes what a ``conformance.scenarios.stratos_repo`` probe returned and answers
``Failure | None``, judged against the spec (``stratos.md``). CARs are verified with the
harness's own code (``conformance.repo_verify``); commit signatures against the user's repo
key as the enrollment record in the user's PDS publishes it, attestations against the keys of
the service's ``/.well-known/did.json``. A commit whose signature does not verify against the
published key fails; when no key could be read the level reached is ``cid-only`` (reported as a
measurement, never as "verified"). Messages quote probe descriptions, status codes, XRPC error
names, DIDs, CIDs and revs — never tokens.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from conformance.checks.base import Failure
from conformance.checks.common import (
    car_error,
    car_response_problem,
    control_failure,
    first_refused,
    refused,
)
from conformance.repo_verify import (
    EMPTY_MST_ROOT,
    NO_KEY_PROBLEM,
    CarInvalid,
    CommitCheck,
    attestation_payload,
    json_bytes,
    published_keys,
    signature_valid,
    verify_record_proof,
    verify_repo,
    verify_since_export,
)
from conformance.scenarios.base import Probe, describe_response, is_success, json_body
from conformance.scenarios.stratos_repo import (
    ENROLLMENT,
    NOT_ENROLLED,
    POST,
    AtomicityProbes,
    BlobListing,
    BlobReads,
    CollectionsProbes,
    CreateProbes,
    DeleteProbes,
    DeniedProbes,
    EnrollmentRecordProbes,
    ExportProbes,
    ForeignWriteProbes,
    FreshEnrollment,
    ImportProbes,
    ProofProbes,
    RevSequence,
    StatusProbes,
    UnenrollProbes,
    blob_cid,
    blob_ref,
    body_of,
    rkey_of,
    xrpc_error_name,
)
from lexicons.syntax import (
    is_valid_cid,
    is_valid_datetime,
    is_valid_record_key,
    is_valid_tid,
)

ENROLLMENT_DENIED = "EnrollmentDenied"
NOT_IN_ALLOWLIST = "NotInAllowlist"
INVALID_CAR = "InvalidCar"
REPO_NOT_FOUND = "RepoNotFound"
METHOD_NOT_IMPLEMENTED = "MethodNotImplemented"
MAX_ENROLLMENT_BOUNDARIES = 50


class AttestationCheckBroken(RuntimeError):
    """The verifier accepted a tampered attestation: the harness, not the target, is wrong."""


# --- shared helpers ---------------------------------------------------------------------------


def _responses(*probes: Probe | None) -> tuple[httpx.Response, ...]:
    return tuple(p.response for p in probes if p is not None)


def _same_url(a: str, b: str) -> bool:
    return a.rstrip("/") == b.rstrip("/")


def _record_value(probe: Probe | None) -> dict[str, Any] | None:
    body = body_of(probe.response) if probe is not None else None
    value = body.get("value") if body is not None else None
    return value if isinstance(value, dict) else None


def enrollment_signing_key(probe: Probe | None) -> str | None:
    """The user's repo key (``signingKey``) the enrollment record publishes, if readable."""
    value = _record_value(probe)
    key = value.get("signingKey") if value is not None else None
    return key if isinstance(key, str) and key.startswith("did:key:") else None


def _commit_problems(commit: CommitCheck, did_key: str | None) -> list[str]:
    """The commit's problems; a missing key only lowers the level (cid-only)."""
    return [p for p in commit.problems if not (did_key is None and p == NO_KEY_PROBLEM)]


def _commit_of(response: httpx.Response) -> dict[str, Any] | None:
    commit = (body_of(response) or {}).get("commit")
    return commit if isinstance(commit, dict) else None


@dataclass(frozen=True)
class ListedRecord:
    uri: str
    cid: str | None
    text: str | None


def listed_records(pages: Sequence[Probe]) -> list[ListedRecord] | None:
    """Every record of listRecords pages; None when a page was refused or is not a listing."""
    found: list[ListedRecord] = []
    for page in pages:
        body = body_of(page.response)
        records = body.get("records") if body is not None else None
        if not isinstance(records, list):
            return None
        for record in records:
            if not isinstance(record, dict) or not isinstance(record.get("uri"), str):
                continue
            value = record.get("value")
            text = value.get("text") if isinstance(value, dict) else None
            cid = record.get("cid")
            found.append(
                ListedRecord(
                    record["uri"],
                    cid if isinstance(cid, str) else None,
                    text if isinstance(text, str) else None,
                )
            )
    return found


def _listed(pages: Sequence[Probe]) -> dict[str, str | None] | None:
    """``collection/rkey`` → cid of every record in listRecords pages; None if a page failed."""
    records = listed_records(pages)
    if records is None:
        return None
    found: dict[str, str | None] = {}
    for record in records:
        parts = record.uri.removeprefix("at://").split("/", 1)
        if record.uri.startswith("at://") and len(parts) == 2:
            found[parts[1]] = record.cid
    return found


def _is_not_found(response: httpx.Response) -> bool:
    return response.status_code == 404


# --- STR-ENR-01 -------------------------------------------------------------------------------


def _status_problems(probe: Probe, did: str, *, enrolled: bool) -> list[str]:
    body = body_of(probe.response)
    if probe.response.status_code != 200 or body is None:
        return [f"{probe.case}: expected 200, got {describe_response(probe.response)}"]
    problems: list[str] = []
    if body.get("did") != did:
        problems.append(f"{probe.case}: did is {body.get('did')!r}, expected {did}")
    if body.get("enrolled") is not enrolled:
        problems.append(
            f"{probe.case}: enrolled is {body.get('enrolled')!r}, expected "
            f"{'true' if enrolled else 'false'}"
        )
    if enrolled:
        at = body.get("enrolledAt")
        if not isinstance(at, str) or not is_valid_datetime(at):
            problems.append(f"{probe.case}: enrolledAt is {at!r}, expected a datetime")
    return problems


def check_status_never_enrolled(probes: StatusProbes) -> Failure | None:
    """STR-ENR-01: status of a DID that never enrolled → 200 ``enrolled: false``, not an error
    (asked by nobody and by an enrolled caller)."""
    checked = (probes.never_anonymous, probes.never_authenticated)
    problems = [
        problem
        for probe in checked
        for problem in _status_problems(probe, probes.never_did, enrolled=False)
    ]
    if not problems:
        return None
    return Failure(
        "STR-ENR-01",
        "status of a DID that never enrolled is not 200 enrolled: false",
        "; ".join(problems),
        _responses(*checked),
    )


def check_status_enrolled(probes: StatusProbes) -> Failure | None:
    """STR-ENR-01: status of an enrolled DID → 200 ``enrolled: true`` with ``enrolledAt``,
    whoever asks."""
    checked = (probes.own, probes.other, probes.anonymous)
    problems = [
        problem
        for probe in checked
        for problem in _status_problems(probe, probes.enrolled_did, enrolled=True)
    ]
    if not problems:
        return None
    return Failure(
        "STR-ENR-01",
        "status of an enrolled DID is not enrolled: true with enrolledAt",
        "; ".join(problems),
        _responses(*checked),
    )


def _boundary_values(value: Any) -> list[str] | None:
    """The ``value`` strings of an array of Domain objects, or None when it is not one."""
    if not isinstance(value, list):
        return None
    out: list[str] = []
    for item in value:
        domain = item.get("value") if isinstance(item, dict) else None
        if not isinstance(domain, str):
            return None
        out.append(domain)
    return out


def check_status_boundaries_only_to_self(probes: StatusProbes) -> Failure | None:
    """STR-ENR-01: ``boundaries`` appear when the enrolled DID asks about itself, and only then
    (not to another DID, not to an unauthenticated caller)."""
    if failure := first_refused("STR-ENR-01", (probes.own, probes.other, probes.anonymous)):
        return failure
    problems: list[str] = []
    own = body_of(probes.own.response) or {}
    values = _boundary_values(own.get("boundaries"))
    if values is None:
        problems.append(
            f"{probes.own.case}: no boundaries array of domains ({{value}}) for the DID itself"
        )
    elif probes.expected_boundaries and set(values) != set(probes.expected_boundaries):
        problems.append(
            f"{probes.own.case}: boundaries {sorted(values)} are not the ones enrolled in "
            f"({sorted(probes.expected_boundaries)})"
        )
    for probe in (probes.other, probes.anonymous):
        body = body_of(probe.response) or {}
        if body.get("boundaries") is not None:
            problems.append(f"{probe.case}: boundaries shown to a caller who is not that DID")
    if not problems:
        return None
    return Failure(
        "STR-ENR-01",
        "enrollment boundaries are not shown to the DID alone",
        "; ".join(problems),
        _responses(probes.own, probes.other, probes.anonymous),
    )


# --- STR-ENR-02 -------------------------------------------------------------------------------


def check_enrollment_denied(probes: DeniedProbes) -> Failure | None:
    """STR-ENR-02: a DID not on the allowlist cannot enrol: ``403 EnrollmentDenied`` with reason
    ``NotInAllowlist``, and its status stays ``enrolled: false``."""
    problems: list[str] = []
    response = probes.enrollment.response
    body = json_body(response)
    reason = body.get("reason") if isinstance(body, dict) else None
    if (
        response.status_code != 403
        or xrpc_error_name(response) != ENROLLMENT_DENIED
        or reason != NOT_IN_ALLOWLIST
    ):
        problems.append(
            f"{probes.enrollment.case}: expected 403 {ENROLLMENT_DENIED} with reason "
            f"{NOT_IN_ALLOWLIST}, got {describe_response(response)} reason {reason!r}"
        )
    status = body_of(probes.status_after.response)
    if status is None or status.get("enrolled") is not False:
        got = (
            f"enrolled {status.get('enrolled')!r}"
            if status is not None
            else describe_response(probes.status_after.response)
        )
        problems.append(f"{probes.status_after.case}: expected 200 enrolled false, got {got}")
    if not problems:
        return None
    return Failure(
        "STR-ENR-02",
        "a DID not on the allowlist is not refused enrollment",
        "; ".join(problems),
        (response, probes.status_after.response),
    )


def check_denied_calls_not_enrolled(probes: DeniedProbes) -> Failure | None:
    """STR-ENR-02: every authenticated call of a DID that could not enrol answers
    ``NotEnrolled`` (a 4xx), while the same kind of call by an enrolled account succeeds."""
    if (failure := control_failure("STR-ENR-02", probes.control)) is not None:
        return failure
    wrong = [
        probe
        for probe in probes.calls
        if not (
            400 <= probe.response.status_code < 500
            and xrpc_error_name(probe.response) == NOT_ENROLLED
        )
    ]
    if not wrong:
        return None
    return Failure(
        "STR-ENR-02",
        "calls of a DID that is not enrolled do not answer NotEnrolled",
        "; ".join(
            f"{p.case}: expected a 4xx {NOT_ENROLLED}, got {describe_response(p.response)}"
            for p in wrong
        ),
        _responses(*wrong),
    )


# --- STR-ENR-03 -------------------------------------------------------------------------------


def _enrolment_failed(requirement: str, fresh: FreshEnrollment) -> Failure | None:
    if fresh.export is not None:
        return None
    return Failure(
        requirement,
        "enrolling an allowlisted account afresh failed",
        f"{fresh.enrollment.case}: expected 200 enrolled true, "
        f"got {describe_response(fresh.enrollment.response)}",
        (fresh.enrollment.response,),
    )


def empty_commit_level(fresh: FreshEnrollment) -> str:
    """How far the post-enrollment export verified: ``signature-verified``, ``cid-only`` or
    ``unverifiable`` (for the ``repo-verification-level`` measurement)."""
    if fresh.export is None or car_response_problem(fresh.export) is not None:
        return "unverifiable"
    try:
        contents = verify_repo(
            fresh.export.response.content,
            fresh.did,
            enrollment_signing_key(fresh.enrollment_record),
        )
    except (CarInvalid, KeyError, ValueError):
        return "unverifiable"
    return contents.commit.level.value


def check_enrollment_empty_commit(fresh: FreshEnrollment) -> Failure | None:
    """STR-ENR-03: straight after enrolling, ``zone.stratos.sync.getRepo`` returns a CAR whose
    root is a v3 commit for the user with ``prev`` null and ``data`` the empty MST root, signed
    with the repo key the enrollment record publishes."""
    if failure := _enrolment_failed("STR-ENR-03", fresh):
        return failure
    responses = _responses(fresh.export, fresh.enrollment_record)
    if problem := car_response_problem(fresh.export):
        return Failure(
            "STR-ENR-03", "no repository CAR straight after enrolling", problem, responses
        )
    assert fresh.export is not None
    did_key = enrollment_signing_key(fresh.enrollment_record)
    try:
        contents = verify_repo(fresh.export.response.content, fresh.did, did_key)
    except (CarInvalid, KeyError, ValueError) as exc:
        return Failure(
            "STR-ENR-03",
            "the repository CAR after enrolling does not verify",
            f"{fresh.export.case}: {car_error(exc)}",
            responses,
        )
    problems = _commit_problems(contents.commit, did_key)
    commit = contents.commit.commit
    if "prev" not in commit:
        problems.append("the commit has no prev field (expected prev: null)")
    elif commit["prev"] is not None:
        problems.append(f"prev is {commit['prev']}, expected null (a first commit)")
    data = commit.get("data")
    if data is not None and data != EMPTY_MST_ROOT:
        problems.append(f"data is {data}, expected the empty MST root {EMPTY_MST_ROOT.encode()}")
    if contents.records:
        problems.append(f"the new repository already holds {len(contents.records)} record(s)")
    if did_key is None:
        problems.append(
            "the enrollment record in the user's PDS publishes no signingKey, so the commit "
            "signature cannot be checked against the key the service publishes for the repo"
        )
    if not problems:
        return None
    return Failure(
        "STR-ENR-03",
        "enrolment does not initialise a signed empty commit",
        f"{fresh.export.case}: " + "; ".join(problems),
        responses,
    )


# --- STR-ENR-04 -------------------------------------------------------------------------------


def empty_repo_outcome(probe: Probe | None, key: str) -> str:
    """What an empty-repo read answered, in words that keep "empty" apart from errors (the
    "empty repo vs error masking" distinction): ``empty (200)``, ``not empty (200)``,
    ``RepoNotFound``, ``auth failure (401)``..."""
    if probe is None:
        return "not asked"
    response = probe.response
    body = body_of(response)
    if body is not None:
        value = body.get(key)
        if value == []:
            return "empty (200)"
        if isinstance(value, list):
            return "not empty (200)"
        return f"200 without {key}"
    error = xrpc_error_name(response)
    if error == REPO_NOT_FOUND:
        return REPO_NOT_FOUND
    if response.status_code in (401, 403):
        return f"auth failure ({response.status_code}{' ' + error if error else ''})"
    return f"{response.status_code} {error or 'error'}".strip()


def _empty_read_failure(fresh: FreshEnrollment, probe: Probe | None, key: str) -> Failure | None:
    if failure := _enrolment_failed("STR-ENR-04", fresh):
        return failure
    assert probe is not None
    outcome = empty_repo_outcome(probe, key)
    if outcome == "empty (200)":
        return None
    if outcome == REPO_NOT_FOUND:
        title = (
            "an enrolled user's empty repo answers RepoNotFound (an error masking an empty repo)"
        )
        message = (
            f"{probe.case}: expected 200 with {key}: [], got {describe_response(probe.response)}"
        )
    elif outcome.startswith("auth failure"):
        title = "an enrolled user's read of their own empty repo is refused as an auth failure"
        message = (
            f"{probe.case}: expected 200 with {key}: [], got {describe_response(probe.response)}"
        )
    elif outcome == "not empty (200)":
        title = f"a freshly enrolled user's repo is not empty ({key} not [])"
        message = f"{probe.case}: expected {key}: [], got a non-empty list"
    elif outcome.startswith("200"):
        title = f"the answer for an empty repo has no {key} list"
        message = f"{probe.case}: expected {key}: [], got no {key} array"
    else:
        title = "an enrolled user's empty repo answers an error"
        message = (
            f"{probe.case}: expected 200 with {key}: [], got {describe_response(probe.response)}"
        )
    return Failure("STR-ENR-04", title, message, (probe.response,))


def check_fresh_describe_repo(fresh: FreshEnrollment) -> Failure | None:
    """STR-ENR-04: describeRepo of a freshly enrolled user → 200 ``collections: []``;
    ``RepoNotFound`` is always a failure (reported apart from other errors)."""
    return _empty_read_failure(fresh, fresh.described, "collections")


def check_fresh_list_records(fresh: FreshEnrollment) -> Failure | None:
    """STR-ENR-04: listRecords of a freshly enrolled user → 200 ``records: []``."""
    return _empty_read_failure(fresh, fresh.listed, "records")


# --- STR-ENR-05 -------------------------------------------------------------------------------


def _enrollment_value(probes: EnrollmentRecordProbes) -> dict[str, Any] | None:
    return _record_value(probes.record)


def _no_record(probes: EnrollmentRecordProbes) -> Failure:
    return Failure(
        "STR-ENR-05",
        "no enrollment record in the user's PDS",
        f"{probes.record.case}: expected 200 with the record, "
        f"got {describe_response(probes.record.response)}",
        (probes.record.response,),
    )


def check_enrollment_record(probes: EnrollmentRecordProbes) -> Failure | None:
    """STR-ENR-05: the user's PDS holds ``zone.stratos.actor.enrollment/<service DID>`` naming
    this service, with service-qualified boundaries, the repo ``signingKey`` and an
    ``attestation`` {sig, signingKey}."""
    value = _enrollment_value(probes)
    if value is None:
        return _no_record(probes)
    problems: list[str] = []
    if value.get("$type") != ENROLLMENT:
        problems.append(f"$type is {value.get('$type')!r}, expected {ENROLLMENT}")
    service = value.get("service")
    if not isinstance(service, str) or not (
        _same_url(service, probes.stratos_url) or service == probes.service_did
    ):
        problems.append(
            f"service is {service!r}, expected this service ({probes.stratos_url} or "
            f"{probes.service_did})"
        )
    boundaries = _boundary_values(value.get("boundaries"))
    if boundaries is None:
        problems.append("boundaries is not an array of domains ({value})")
    else:
        if len(boundaries) > MAX_ENROLLMENT_BOUNDARIES:
            problems.append(f"{len(boundaries)} boundaries, at most 50 allowed")
        foreign = [b for b in boundaries if not b.startswith(f"{probes.service_did}/")]
        if foreign:
            problems.append(f"boundaries {foreign} are not qualified with {probes.service_did}/")
    if enrollment_signing_key(probes.record) is None:
        problems.append(f"signingKey is {value.get('signingKey')!r}, expected a did:key")
    attestation = value.get("attestation")
    if not isinstance(attestation, dict):
        problems.append("no attestation object")
    else:
        if json_bytes(attestation.get("sig")) is None:
            problems.append("attestation.sig is not bytes ({$bytes: ...})")
        key = attestation.get("signingKey")
        if not isinstance(key, str) or not key.startswith("did:key:"):
            problems.append(f"attestation.signingKey is {key!r}, expected a did:key")
    created = value.get("createdAt")
    if not isinstance(created, str) or not is_valid_datetime(created):
        problems.append(f"createdAt is {created!r}, expected a datetime")
    if not problems:
        return None
    return Failure(
        "STR-ENR-05",
        "the enrollment record does not name this service or lacks its fields",
        f"{probes.record.case}: " + "; ".join(problems),
        (probes.record.response,),
    )


def attestation_verifies(value: Mapping[str, Any], did: str, keys: Sequence[str]) -> bool:
    """Whether the record's attestation signature verifies, against one of ``keys``, over the
    DAG-CBOR of {boundaries (sorted), did, signingKey}. Raises ``AttestationCheckBroken`` when
    a tampered payload verifies too."""
    attestation = value.get("attestation")
    sig = json_bytes(attestation.get("sig")) if isinstance(attestation, Mapping) else None
    boundaries = _boundary_values(value.get("boundaries"))
    signing_key = value.get("signingKey")
    if sig is None or boundaries is None or not isinstance(signing_key, str):
        return False
    payload = attestation_payload(boundaries, did, signing_key)
    verified = [k for k in keys if signature_valid(k, payload, sig)]
    if not verified:
        return False
    tampered = attestation_payload(boundaries, did + "x", signing_key)
    if any(signature_valid(k, tampered, sig) for k in verified):
        raise AttestationCheckBroken("a tampered attestation verified; cannot judge")
    return True


def check_enrollment_attestation(probes: EnrollmentRecordProbes) -> Failure | None:
    """STR-ENR-05: the attestation signature verifies against the service's key (from
    ``/.well-known/did.json``) over the DAG-CBOR of {boundaries (sorted), did, signingKey},
    and ``attestation.signingKey`` is that key."""
    value = _enrollment_value(probes)
    if value is None:
        return _no_record(probes)
    document = body_of(probes.service_document.response)
    keys = published_keys(document) if document is not None else ()
    responses = (probes.record.response, probes.service_document.response)
    if not keys:
        return Failure(
            "STR-ENR-05",
            "the service publishes no key to verify attestations with",
            f"{probes.service_document.case}: expected a DID document with a Multikey, got "
            f"{describe_response(probes.service_document.response)}",
            responses,
        )
    problems: list[str] = []
    attestation = value.get("attestation")
    named = attestation.get("signingKey") if isinstance(attestation, dict) else None
    if named not in keys:
        problems.append(
            f"attestation.signingKey {named!r} is not a key of the service's DID document"
        )
    if not attestation_verifies(value, probes.did, keys):
        problems.append(
            "the attestation signature does not verify against the service's key over the "
            "DAG-CBOR of {boundaries (sorted), did, signingKey}"
        )
    if not problems:
        return None
    return Failure(
        "STR-ENR-05",
        "the enrollment attestation does not verify against the service's key",
        f"{probes.record.case}: " + "; ".join(problems),
        responses,
    )


# --- STR-ENR-06 -------------------------------------------------------------------------------


def check_unenroll_status(probes: UnenrollProbes) -> Failure | None:
    """STR-ENR-06: unenroll succeeds and status then says ``enrolled: false``."""
    if not is_success(probes.unenroll.response):
        return refused("STR-ENR-06", "unenroll of an enrolled user was refused", probes.unenroll)
    status = body_of(probes.status_after.response)
    if status is not None and status.get("enrolled") is False:
        return None
    got = (
        f"enrolled {status.get('enrolled')!r}"
        if status is not None
        else describe_response(probes.status_after.response)
    )
    return Failure(
        "STR-ENR-06",
        "status does not say enrolled: false after unenroll",
        f"{probes.status_after.case}: expected 200 enrolled false, got {got}",
        (probes.unenroll.response, probes.status_after.response),
    )


def check_unenroll_records_gone(probes: UnenrollProbes) -> Failure | None:
    """STR-ENR-06: the user's records are gone after unenroll. While unenrolled, the owner's
    read of a record written before is not served (404, or ``NotEnrolled`` — STR-ENR-02 has
    a not-enrolled caller's authenticated calls answer that); once enrolled again it reads 404:
    deleted, not merely hidden behind the enrollment."""
    if failure := first_refused("STR-ENR-06", (probes.write, probes.read_before, probes.unenroll)):
        return failure
    if probes.read_after is None or probes.read_after_reenrollment is None:
        return refused("STR-ENR-06", "createRecord gave no record to follow", probes.write)
    problems: list[str] = []
    wrong: list[httpx.Response] = []
    after = probes.read_after.response
    refused_as_not_enrolled = (
        400 <= after.status_code < 500 and xrpc_error_name(after) == NOT_ENROLLED
    )
    if not (_is_not_found(after) or refused_as_not_enrolled):
        problems.append(
            f"{probes.read_after.case}: expected 404 (or {NOT_ENROLLED}), "
            f"got {describe_response(after)}"
        )
        wrong.append(after)
    again = probes.read_after_reenrollment.response
    if not _is_not_found(again):
        problems.append(
            f"{probes.read_after_reenrollment.case}: expected 404 (the record is gone), "
            f"got {describe_response(again)}"
        )
        wrong.append(again)
    if not problems:
        return None
    return Failure(
        "STR-ENR-06",
        "the user's records survive unenroll",
        "; ".join(problems),
        (probes.unenroll.response, *wrong),
    )


def check_unenroll_enrollment_record_removed(probes: UnenrollProbes) -> Failure | None:
    """STR-ENR-06: the enrollment record is removed from the user's PDS."""
    if not is_success(probes.unenroll.response):
        return refused("STR-ENR-06", "unenroll of an enrolled user was refused", probes.unenroll)
    response = probes.enrollment_record_after.response
    if response.status_code in (400, 404) and xrpc_error_name(response):
        return None
    return Failure(
        "STR-ENR-06",
        "the enrollment record stays in the user's PDS after unenroll",
        f"{probes.enrollment_record_after.case}: expected the PDS's record-not-found error, "
        f"got {describe_response(response)}",
        (probes.unenroll.response, response),
    )


# --- STR-REPO-01 ------------------------------------------------------------------------------


def check_create_output(probes: CreateProbes) -> Failure | None:
    """STR-REPO-01: createRecord answers ``uri`` ``at://<did>/zone.stratos.feed.post/<rkey>``,
    ``cid`` and ``commit {cid, rev}``."""
    body = body_of(probes.create.response)
    if body is None:
        return refused("STR-REPO-01", "createRecord of a valid post was refused", probes.create)
    problems: list[str] = []
    uri = body.get("uri")
    prefix = f"at://{probes.did}/{POST}/"
    rkey = uri.removeprefix(prefix) if isinstance(uri, str) else ""
    if not isinstance(uri, str) or not uri.startswith(prefix) or not is_valid_record_key(rkey):
        problems.append(f"uri is {uri!r}, expected {prefix}<rkey>")
    cid = body.get("cid")
    if not isinstance(cid, str) or not is_valid_cid(cid):
        problems.append(f"cid is {cid!r}, expected a CID")
    commit = body.get("commit")
    if not isinstance(commit, dict):
        problems.append("no commit {cid, rev}")
    else:
        commit_cid, rev = commit.get("cid"), commit.get("rev")
        if not isinstance(commit_cid, str) or not is_valid_cid(commit_cid):
            problems.append(f"commit.cid is {commit_cid!r}, expected a CID")
        if not isinstance(rev, str) or not is_valid_tid(rev):
            problems.append(f"commit.rev is {rev!r}, expected a TID")
    if not problems:
        return None
    return Failure(
        "STR-REPO-01",
        "createRecord output lacks uri, cid or commit",
        f"{probes.create.case}: " + "; ".join(problems),
        (probes.create.response,),
    )


def check_create_reads_back(probes: CreateProbes) -> Failure | None:
    """STR-REPO-01: the created record reads back equal (same value, CID and uri)."""
    if (failure := control_failure("STR-REPO-01", probes.create)) is not None:
        return failure
    if probes.read is None:
        return Failure(
            "STR-REPO-01",
            "createRecord output names no record to read back",
            f"{probes.create.case}: no at://<did>/<collection>/<rkey> uri",
            (probes.create.response,),
        )
    created = body_of(probes.create.response) or {}
    read = body_of(probes.read.response)
    problems: list[str] = []
    if read is None:
        problems.append(f"expected 200, got {describe_response(probes.read.response)}")
    else:
        if read.get("value") != dict(probes.value):
            problems.append("the value read back is not the value written")
        if read.get("cid") != created.get("cid"):
            problems.append(f"cid {read.get('cid')!r} is not the one createRecord answered")
        if read.get("uri") != created.get("uri"):
            problems.append(f"uri {read.get('uri')!r} is not the one createRecord answered")
    if not problems:
        return None
    return Failure(
        "STR-REPO-01",
        "the created record does not read back equal",
        f"{probes.read.case}: " + "; ".join(problems),
        (probes.create.response, probes.read.response),
    )


# --- STR-REPO-02 ------------------------------------------------------------------------------


def check_foreign_writes_refused(probes: ForeignWriteProbes) -> Failure | None:
    """STR-REPO-02: writes outside zone.stratos.* or into another DID's repo are refused with
    400 or 401 — never accepted, never a 5xx."""
    if (failure := control_failure("STR-REPO-02", probes.control)) is not None:
        return failure
    wrong = [w.write for w in probes.writes if w.write.response.status_code not in (400, 401)]
    if not wrong:
        return None
    return Failure(
        "STR-REPO-02",
        "a write outside zone.stratos.* or into another DID's repo is not refused with 400/401",
        "; ".join(
            f"{p.case}: expected 400 or 401, got {describe_response(p.response)}" for p in wrong
        ),
        _responses(*wrong),
    )


def check_foreign_writes_not_stored(probes: ForeignWriteProbes) -> Failure | None:
    """STR-REPO-02: nothing of a refused write is stored (the repo's owner cannot read it)."""
    if (failure := control_failure("STR-REPO-02", probes.control)) is not None:
        return failure
    stored = [w for w in probes.writes if is_success(w.read_back.response)]
    if not stored:
        return None
    return Failure(
        "STR-REPO-02",
        "a write outside zone.stratos.* or into another DID's repo was stored",
        "; ".join(
            f"{w.write.case} answered {w.write.response.status_code}, yet {w.read_back.case} "
            "finds the record"
            for w in stored
        ),
        tuple(r for w in stored for r in (w.write.response, w.read_back.response)),
    )


# --- STR-REPO-03 ------------------------------------------------------------------------------


def check_describe_collections_exact(probes: CollectionsProbes) -> Failure | None:
    """STR-REPO-03: describeRepo's ``collections`` lists the collection just written, and only
    collections that hold records (each answers at least one record to listRecords)."""
    if failure := first_refused("STR-REPO-03", (probes.write, probes.described)):
        return failure
    collections = (body_of(probes.described.response) or {}).get("collections")
    if not isinstance(collections, list):
        return Failure(
            "STR-REPO-03",
            "describeRepo has no collections list",
            f"{probes.described.case}: expected collections: [...]",
            (probes.described.response,),
        )
    problems: list[str] = []
    if POST not in collections:
        problems.append(f"{probes.described.case}: {POST} (just written) is not listed")
    if len(set(map(str, collections))) != len(collections):
        problems.append(f"{probes.described.case}: a collection is listed twice")
    responses = [probes.described.response]
    for listing in probes.listings:
        body = body_of(listing.probe.response)
        records = body.get("records") if body is not None else None
        if not isinstance(records, list):
            problems.append(
                f"{listing.probe.case}: expected 200 with records, "
                f"got {describe_response(listing.probe.response)}"
            )
            responses.append(listing.probe.response)
        elif not records:
            problems.append(
                f"describeRepo lists {listing.collection}, which holds no records "
                f"({listing.probe.case} is empty)"
            )
            responses.append(listing.probe.response)
    if not problems:
        return None
    return Failure(
        "STR-REPO-03",
        "describeRepo does not list exactly the collections holding records",
        "; ".join(problems),
        tuple(responses),
    )


def check_delete_removes(probes: DeleteProbes) -> Failure | None:
    """STR-REPO-03: after deleteRecord the record no longer reads (getRecord refuses it, not
    with a 5xx) and listRecords leaves it out."""
    if failure := first_refused("STR-REPO-03", (probes.create, probes.delete)):
        return failure
    if probes.read_after is None or probes.rkey is None:
        return refused("STR-REPO-03", "createRecord gave no record to delete", probes.create)
    problems: list[str] = []
    response = probes.read_after.response
    if is_success(response) or response.status_code >= 500:
        problems.append(
            f"{probes.read_after.case}: expected the record-not-found answer, "
            f"got {describe_response(response)}"
        )
    listed = _listed(probes.listed)
    if listed is None:
        problems.append("listRecords after the delete was refused")
    elif f"{POST}/{probes.rkey}" in listed:
        problems.append("listRecords still shows the deleted record")
    if not problems:
        return None
    return Failure(
        "STR-REPO-03",
        "deleteRecord does not remove the record",
        "; ".join(problems),
        (response, *(p.response for p in probes.listed[:1])),
    )


def check_apply_writes_atomic(probes: AtomicityProbes) -> Failure | None:
    """STR-REPO-03: an applyWrites batch with one invalid op is refused as a whole — none of
    its valid creates is stored."""
    if (failure := control_failure("STR-REPO-03", probes.control)) is not None:
        return failure
    problems: list[str] = []
    responses: list[httpx.Response] = []
    listed = _listed(probes.listed)
    for batch in probes.batches:
        if is_success(batch.batch.response):
            problems.append(f"{batch.batch.case}: accepted ({batch.batch.response.status_code})")
            responses.append(batch.batch.response)
        for read in batch.reads:
            if is_success(read.response):
                problems.append(f"{read.case}: the record was written")
                responses.append(read.response)
        if listed is not None:
            leaked = [rkey for rkey in batch.rkeys if f"{POST}/{rkey}" in listed]
            if leaked:
                problems.append(
                    f"listRecords shows {len(leaked)} record(s) of the refused batch "
                    f"({batch.batch.case})"
                )
    if listed is None:
        problems.append("listRecords after the batches was refused")
        responses.extend(p.response for p in probes.listed[:1])
    if not problems:
        return None
    return Failure(
        "STR-REPO-03",
        "applyWrites is not atomic: a batch with an invalid op wrote something",
        "; ".join(problems),
        tuple(responses),
    )


# --- STR-VER-01 -------------------------------------------------------------------------------


def proof_level(probes: ProofProbes) -> str:
    """How far the ``sync.getRecord`` CAR verified: ``signature-verified``, ``cid-only`` or
    ``unverifiable`` (for the ``repo-verification-level`` measurement)."""
    if probes.proof is None or probes.rkey is None or car_response_problem(probes.proof):
        return "unverifiable"
    try:
        proof = verify_record_proof(
            probes.proof.response.content,
            probes.did,
            probes.collection,
            probes.rkey,
            enrollment_signing_key(probes.enrollment_record),
        )
    except (CarInvalid, KeyError, ValueError):
        return "unverifiable"
    return proof.commit.level.value


def check_record_proof(probes: ProofProbes) -> Failure | None:
    """STR-VER-01: the ``com.atproto.sync.getRecord`` CAR holds the commit, the MST path and
    the record: every block matches its CID, the MST proves the record (the CID createRecord
    answered, the value written), and the commit signature verifies against the repo key the
    enrollment record publishes (when none can be read, the level is cid-only)."""
    if (failure := control_failure("STR-VER-01", probes.write)) is not None:
        return failure
    responses = _responses(probes.proof, probes.enrollment_record)
    if problem := car_response_problem(probes.proof):
        return Failure(
            "STR-VER-01", "com.atproto.sync.getRecord does not serve a CAR", problem, responses
        )
    assert probes.proof is not None and probes.rkey is not None
    did_key = enrollment_signing_key(probes.enrollment_record)
    try:
        proof = verify_record_proof(
            probes.proof.response.content, probes.did, probes.collection, probes.rkey, did_key
        )
    except (CarInvalid, KeyError, ValueError) as exc:
        return Failure(
            "STR-VER-01",
            "the record proof CAR does not verify",
            f"{probes.proof.case}: {car_error(exc)}",
            responses,
        )
    problems = _commit_problems(proof.commit, did_key)
    if proof.record_cid is None:
        problems.append("the MST in the CAR does not hold the record")
    elif proof.record_cid.encode() != (body_of(probes.write.response) or {}).get("cid"):
        problems.append("the record CID in the proof is not the one createRecord answered")
    elif proof.value != dict(probes.value):
        problems.append("the record block in the proof is not the value written")
    if not problems:
        return None
    return Failure(
        "STR-VER-01",
        "the record proof CAR does not verify",
        f"{probes.proof.case}: " + "; ".join(problems),
        responses,
    )


# --- STR-VER-02 -------------------------------------------------------------------------------


def _written_cids(writes: Sequence[Probe]) -> dict[str, str]:
    """``collection/rkey`` → cid of each successful createRecord."""
    out: dict[str, str] = {}
    for write in writes:
        body = body_of(write.response) or {}
        rkey, cid = rkey_of(write.response), body.get("cid")
        if rkey is not None and isinstance(cid, str):
            out[f"{POST}/{rkey}"] = cid
    return out


def check_repo_export_complete(probes: ExportProbes) -> Failure | None:
    """STR-VER-02: ``zone.stratos.sync.getRepo`` returns the whole repo: every block matches its
    CID, the MST is complete, it holds every record written with its CID, its commit is not
    older than the last write, and the commit signature verifies against the published key."""
    if failure := first_refused("STR-VER-02", (*probes.earlier, *probes.later)):
        return failure
    responses = _responses(probes.full, probes.enrollment_record)
    if problem := car_response_problem(probes.full):
        return Failure(
            "STR-VER-02", "zone.stratos.sync.getRepo does not serve a CAR", problem, responses
        )
    did_key = enrollment_signing_key(probes.enrollment_record)
    try:
        contents = verify_repo(probes.full.response.content, probes.did, did_key)
    except (CarInvalid, KeyError, ValueError) as exc:
        return Failure(
            "STR-VER-02",
            "the repository CAR does not verify",
            f"{probes.full.case}: {car_error(exc)}",
            responses,
        )
    problems = _commit_problems(contents.commit, did_key)
    for key, cid in _written_cids((*probes.earlier, *probes.later)).items():
        found = contents.records.get(key)
        if found is None:
            problems.append(f"the export lacks the record {key}")
        elif found.encode() != cid:
            problems.append(f"the export holds {key} with another CID than was written")
    last = _commit_of(probes.later[-1].response) if probes.later else None
    last_rev = last.get("rev") if last is not None else None
    rev = contents.commit.commit.get("rev")
    if isinstance(last_rev, str) and isinstance(rev, str) and rev < last_rev:
        problems.append(
            f"the exported commit's rev {rev} is older than the last write's {last_rev}"
        )
    if not problems:
        return None
    return Failure(
        "STR-VER-02",
        "the repository export does not verify or lacks records written",
        f"{probes.full.case}: " + "; ".join(problems),
        responses,
    )


def check_since_export(probes: ExportProbes) -> Failure | None:
    """STR-VER-02: ``getRepo?since=<rev>`` returns only blocks newer than that revision: the
    records written after it are in the CAR, those written up to it are not, and its signed
    commit is later than ``since``."""
    if failure := first_refused("STR-VER-02", (*probes.earlier, *probes.later)):
        return failure
    if probes.since_rev is None or probes.since is None:
        last = probes.earlier[-1] if probes.earlier else None
        return Failure(
            "STR-VER-02",
            "no revision to export since",
            f"{last.case if last else 'createRecord'}: the answer names no commit rev",
            _responses(last),
        )
    responses = _responses(probes.since, probes.enrollment_record)
    if problem := car_response_problem(probes.since):
        return Failure("STR-VER-02", "getRepo with since does not serve a CAR", problem, responses)
    did_key = enrollment_signing_key(probes.enrollment_record)
    try:
        partial = verify_since_export(probes.since.response.content, probes.did, did_key)
    except (CarInvalid, KeyError, ValueError) as exc:
        return Failure(
            "STR-VER-02",
            "the since export does not verify",
            f"{probes.since.case}: {car_error(exc)}",
            responses,
        )
    problems = _commit_problems(partial.commit, did_key)
    rev = partial.commit.commit.get("rev")
    if isinstance(rev, str) and not rev > probes.since_rev:
        problems.append(f"its commit rev {rev} is not later than since={probes.since_rev}")
    blocks = {cid.encode() for cid in partial.blocks}
    for key, cid in _written_cids(probes.later).items():
        if cid not in blocks:
            problems.append(f"the record {key}, written after since, is not in the CAR")
        elif partial.entries.get(key) is not None and partial.entries[key].encode() != cid:
            problems.append(f"the MST in the CAR maps {key} to another CID than was written")
    old = [key for key, cid in _written_cids(probes.earlier).items() if cid in blocks]
    if old:
        problems.append(
            f"{len(old)} record(s) written up to since are in the CAR (only newer blocks "
            f"belong there): {', '.join(old)}"
        )
    if not problems:
        return None
    return Failure(
        "STR-VER-02",
        "getRepo with since does not return exactly the newer blocks",
        f"{probes.since.case}: " + "; ".join(problems),
        responses,
    )


# --- STR-VER-03 -------------------------------------------------------------------------------


def check_revs_increase(sequence: RevSequence) -> Failure | None:
    """STR-VER-03: each write's commit ``rev`` is a TID greater than the one before
    (createRecord must answer its commit; other writes are judged when they do)."""
    if failure := first_refused("STR-VER-03", (step.probe for step in sequence.steps)):
        return failure
    problems: list[str] = []
    previous: tuple[str, Probe] | None = None
    for step in sequence.steps:
        write = step.probe
        commit = _commit_of(write.response)
        rev = commit.get("rev") if commit is not None else None
        if rev is None:
            if step.commit_required:
                problems.append(f"{write.case}: no commit rev in the answer")
            continue
        if not isinstance(rev, str) or not is_valid_tid(rev):
            problems.append(f"{write.case}: rev {rev!r} is not a TID")
            continue
        if previous is not None and not rev > previous[0]:
            problems.append(
                f"{write.case}: rev {rev} is not greater than {previous[0]} ({previous[1].case})"
            )
        previous = (rev, write)
    if not problems:
        return None
    return Failure(
        "STR-VER-03",
        "commit revs are not increasing TIDs",
        "; ".join(problems),
        tuple(step.probe.response for step in sequence.steps),
    )


# --- STR-BLOB-01 ------------------------------------------------------------------------------


def check_list_blobs(listing: BlobListing) -> Failure | None:
    """STR-BLOB-01: ``com.atproto.sync.listBlobs`` of an enrolled repo answers ``cids`` (and a
    string ``cursor`` while there is more), and following the cursor lists the blobs a record
    references."""
    for upload in listing.uploads:
        if blob_cid(blob_ref(upload.response)) is None:
            return Failure(
                "STR-BLOB-01",
                "uploadBlob does not answer a blob reference",
                f'{upload.case}: expected 200 with {{"blob": {{"ref": {{"$link": ...}}}}}}, '
                f"got {describe_response(upload.response)}",
                (upload.response,),
            )
    if failure := first_refused("STR-BLOB-01", (listing.record,)):
        return failure
    problems: list[str] = []
    listed: set[str] = set()
    for page in listing.pages:
        body = body_of(page.response)
        cids = body.get("cids") if body is not None else None
        if body is None or not isinstance(cids, list):
            problems.append(
                f"{page.case}: expected 200 with cids: [...], "
                f"got {describe_response(page.response)}"
            )
            break
        if not all(isinstance(c, str) for c in cids):
            problems.append(f"{page.case}: cids holds something other than CID strings")
        listed.update(c for c in cids if isinstance(c, str))
        cursor = body.get("cursor")
        if cursor is not None and not isinstance(cursor, str):
            problems.append(f"{page.case}: cursor is {cursor!r}, expected a string")
    if not problems:
        missing = [c for c in listing.cids if c not in listed]
        if missing:
            problems.append(
                f"following the cursor, listBlobs never lists {len(missing)} blob(s) a record "
                f"references: {', '.join(missing)}"
            )
    if not problems:
        return None
    return Failure(
        "STR-BLOB-01",
        "sync.listBlobs does not list an enrolled repo's blobs",
        "; ".join(problems),
        _responses(*listing.pages[:3], *listing.pages[-1:]),
    )


# --- STR-BLOB-02 ------------------------------------------------------------------------------


def blob_reads_unsupported(reads: BlobReads) -> bool:
    """Whether the service answered ``MethodNotImplemented`` to the owner's getBlob (a missing
    feature the spec allows: the test is skipped, not failed)."""
    probe = reads.owner
    return probe is not None and xrpc_error_name(probe.response) == METHOD_NOT_IMPLEMENTED


def _blob_setup_failure(reads: BlobReads) -> Failure | None:
    if blob_cid(blob_ref(reads.upload.response)) is None:
        return refused("STR-BLOB-02", "uploadBlob gave no blob reference", reads.upload)
    return first_refused("STR-BLOB-02", (reads.record,))


def check_blob_served_within_boundary(reads: BlobReads) -> Failure | None:
    """STR-BLOB-02: getBlob serves the bytes to the owner and to a viewer who shares the
    record's domain."""
    if failure := _blob_setup_failure(reads):
        return failure
    problems: list[str] = []
    wrong: list[httpx.Response] = []
    for probe in (reads.owner, reads.peer):
        assert probe is not None
        if probe.response.status_code != 200:
            problems.append(f"{probe.case}: expected 200, got {describe_response(probe.response)}")
            wrong.append(probe.response)
        elif probe.response.content != reads.data:
            problems.append(f"{probe.case}: other bytes than were uploaded")
            wrong.append(probe.response)
    if not problems:
        return None
    return Failure(
        "STR-BLOB-02",
        "getBlob does not serve the blob to its owner or a same-domain viewer",
        "; ".join(problems),
        tuple(wrong),
    )


def check_blob_hidden_outside_boundary(reads: BlobReads) -> Failure | None:
    """STR-BLOB-02: a viewer sharing no domain, and an unauthenticated caller, get 404 — the
    same answer (status and error name) as for a blob that does not exist."""
    if failure := _blob_setup_failure(reads):
        return failure
    assert reads.nonexistent is not None
    reference = reads.nonexistent.response
    problems: list[str] = []
    wrong: list[httpx.Response] = []
    for probe in (reads.outsider, reads.anonymous):
        assert probe is not None
        response = probe.response
        if response.status_code != 404:
            problems.append(
                f"{probe.case}: expected 404 as for a record outside the boundary, "
                f"got {describe_response(response)}"
            )
            wrong.append(response)
        elif (response.status_code, xrpc_error_name(response)) != (
            reference.status_code,
            xrpc_error_name(reference),
        ):
            problems.append(
                f"{probe.case}: {describe_response(response)} differs from the answer for a "
                f"blob that does not exist ({describe_response(reference)})"
            )
            wrong.append(response)
    if not problems:
        return None
    return Failure(
        "STR-BLOB-02",
        "getBlob reveals a blob outside the viewer's boundary",
        "; ".join(problems),
        (*wrong, reference),
    )


# --- STR-IMP-01 -------------------------------------------------------------------------------


def check_import_refuses_broken_cars(probes: ImportProbes) -> Failure | None:
    """STR-IMP-01: a malformed CAR and a CAR whose record block does not match its CID answer
    ``400 InvalidCar`` and import nothing (the repo stays empty); the intact export is
    accepted (control)."""
    if (failure := control_failure("STR-IMP-01", probes.imported)) is not None:
        return failure
    problems: list[str] = []
    responses: list[httpx.Response] = []
    for broken in probes.refused:
        response = broken.attempt.response
        if response.status_code != 400 or xrpc_error_name(response) != INVALID_CAR:
            problems.append(
                f"{broken.attempt.case}: expected 400 {INVALID_CAR}, "
                f"got {describe_response(response)}"
            )
            responses.append(response)
        collections = (body_of(broken.described.response) or {}).get("collections")
        records = (body_of(broken.listed.response) or {}).get("records")
        if collections != [] or records != []:
            problems.append(
                f"after {broken.attempt.case}: the repo is not empty "
                f"({broken.described.case} and {broken.listed.case} answer "
                f"{describe_response(broken.described.response)} / "
                f"{describe_response(broken.listed.response)})"
            )
            responses.extend((broken.described.response, broken.listed.response))
    if not problems:
        return None
    return Failure(
        "STR-IMP-01",
        "a broken CAR is not refused with 400 InvalidCar, or part of it was imported",
        "; ".join(problems),
        tuple(responses),
    )


def check_import_complete(probes: ImportProbes) -> Failure | None:
    """STR-IMP-01: importing a PDS export imports every record: the count returned is the
    number of records in the CAR, every record is listed with its CID unchanged, and records
    read back with that CID."""
    body = body_of(probes.imported.response)
    if body is None:
        return refused("STR-IMP-01", "importRepo of a PDS export was refused", probes.imported)
    problems: list[str] = []
    responses: list[httpx.Response] = [probes.imported.response]
    expected = len(probes.car_records)
    count = body.get("imported")
    if count != expected or isinstance(count, bool):
        problems.append(f"imported is {count!r}, expected {expected} (the records in the CAR)")
    for collection, pages in probes.listed.items():
        listed = _listed(pages)
        if listed is None:
            problems.append(f"listRecords {collection} after the import was refused")
            responses.extend(p.response for p in pages[:1])
            continue
        wanted = {k: v for k, v in probes.car_records.items() if k.startswith(f"{collection}/")}
        missing = [k for k in wanted if k not in listed]
        changed = [k for k in wanted if k in listed and listed[k] != wanted[k]]
        if missing:
            problems.append(
                f"{len(missing)} of {len(wanted)} {collection} record(s) are not listed after "
                f"the import (e.g. {missing[0]})"
            )
        if changed:
            problems.append(
                f"{len(changed)} {collection} record(s) are listed with another CID than in "
                f"the CAR (e.g. {changed[0]})"
            )
        if missing or changed:
            responses.extend(p.response for p in pages[:1])
    for key, read in probes.reads:
        got = body_of(read.response)
        if got is None:
            problems.append(f"{read.case} ({key}): got {describe_response(read.response)}")
            responses.append(read.response)
        elif got.get("cid") != probes.car_records.get(key):
            problems.append(f"{read.case} ({key}): cid {got.get('cid')!r}, not the CAR's")
            responses.append(read.response)
    if not problems:
        return None
    return Failure(
        "STR-IMP-01",
        "importRepo does not import every record unchanged",
        "; ".join(problems),
        tuple(responses),
    )
