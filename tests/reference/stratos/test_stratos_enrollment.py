"""Enrolment, identity and unenrolment of the reference Stratos (STR-ENR-*)."""

from __future__ import annotations

from pathlib import Path

import pytest
from stratos_support import (
    DESIGN,
    ENGINEERING,
    SERVICE_DID,
    RunningStratos,
    auth,
    new_did,
    post,
    running_stratos,
)

from conformance.repo_verify import attestation_payload, signature_valid, verify_repo
from lexicons import load_catalog
from reference_impl.common.errors import XrpcError
from reference_impl.primitives import dagcbor
from reference_impl.primitives.car import read_car
from reference_impl.primitives.commit import Commit
from reference_impl.primitives.mst import EMPTY_ROOT_CID
from reference_impl.primitives.repo import verify_commit

pytestmark = pytest.mark.requirement("STR-ENR-01")


def _service_key(svc: RunningStratos) -> str:
    document = svc.http.get(f"{svc.url}/.well-known/did.json").json()
    return "did:key:" + document["verificationMethod"][0]["publicKeyMultibase"]


def test_did_document_health_and_ready(svc: RunningStratos) -> None:
    document = svc.http.get(f"{svc.url}/.well-known/did.json").json()
    assert document["id"] == SERVICE_DID
    method = document["verificationMethod"][0]
    assert method["id"] == f"{SERVICE_DID}#atproto"
    assert method["type"] == "Multikey" and method["controller"] == SERVICE_DID
    assert method["publicKeyMultibase"].startswith("zDn")  # P-256 multikey
    assert document["service"] == [
        {"id": "#stratos", "type": "StratosService", "serviceEndpoint": svc.url}
    ]
    health = svc.http.get(svc.xrpc("_health"))
    assert health.status_code == 200 and "version" in health.json()
    assert svc.http.get(f"{svc.url}/ready").status_code == 200


def test_enrolment_creates_a_signed_empty_commit(svc: RunningStratos) -> None:
    did = new_did()
    enrollment = svc.enroll(did, "engineering", handle="alice.test")
    response = svc.get("zone.stratos.sync.getRepo", {"did": did}, did)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/vnd.ipld.car"
    car = read_car(response.content)
    commit = Commit.decode(car.blocks[car.root])
    assert commit.version == 3 and commit.prev is None and commit.did == did
    assert commit.data == EMPTY_ROOT_CID
    # The signature verifies against the key the enrollment record publishes for the repo.
    assert verify_commit(commit, enrollment.record_value()["signingKey"])
    # ... and the harness's own verifier agrees (signature-verified level).
    contents = verify_repo(response.content, did, enrollment.signing_did_key)
    assert contents.commit.level == "signature-verified" and contents.records == {}


def test_empty_repo_describes_and_lists_as_empty(svc: RunningStratos) -> None:
    did = new_did()
    svc.enroll(did, "engineering", handle="bob.test")
    described = svc.get("com.atproto.repo.describeRepo", {"repo": did}, did)
    assert described.status_code == 200, described.text
    assert described.json()["collections"] == []
    assert described.json()["handle"] == "bob.test"
    by_handle = svc.get("com.atproto.repo.describeRepo", {"repo": "bob.test"}, did)
    assert by_handle.json()["did"] == did
    listed = svc.get(
        "com.atproto.repo.listRecords",
        {"repo": did, "collection": "zone.stratos.feed.post"},
        did,
    )
    assert listed.status_code == 200 and listed.json() == {"records": []}


def test_attestation_and_enrollment_record(svc: RunningStratos) -> None:
    did = new_did()
    enrollment = svc.enroll(did, "design", f"{SERVICE_DID}/engineering")
    value = enrollment.record_value()
    load_catalog().validate_record("zone.stratos.actor.enrollment", value)
    assert value["service"] == svc.url
    assert value["boundaries"] == [{"value": DESIGN}, {"value": ENGINEERING}]
    assert value["signingKey"] == enrollment.signing_did_key
    service_key = _service_key(svc)
    assert value["attestation"]["signingKey"] == service_key
    sig = dagcbor.json_to_ipld(value["attestation"]["sig"])
    payload = attestation_payload([DESIGN, ENGINEERING], did, value["signingKey"])
    assert signature_valid(service_key, payload, sig)
    assert not signature_valid(
        service_key, attestation_payload([DESIGN], did, value["signingKey"]), sig
    )


def test_reenrolment_updates_boundaries_keeps_key_and_repo(svc: RunningStratos) -> None:
    did = new_did()
    first = svc.enroll(did, "engineering")
    created = svc.create(did, post("kept"))
    assert created.status_code == 200, created.text
    second = svc.enroll(did, "design")
    assert second.boundaries == (DESIGN,)
    assert second.signing_did_key == first.signing_did_key
    assert second.enrolled_at == first.enrolled_at
    assert second.attestation_sig != first.attestation_sig
    status = svc.get("zone.stratos.enrollment.status", {"did": did}, did).json()
    assert status["boundaries"] == [{"value": DESIGN}]
    uri = created.json()["uri"]
    rkey = uri.rsplit("/", 1)[1]
    again = svc.get(
        "com.atproto.repo.getRecord",
        {"repo": did, "collection": "zone.stratos.feed.post", "rkey": rkey},
        did,
    )
    assert again.status_code == 200


def test_status_and_resolve(svc: RunningStratos) -> None:
    did, other = new_did(), new_did()
    assert svc.stratos.enrollments.is_allowed(did)  # open mode admits any DID
    never = svc.get("zone.stratos.enrollment.status", {"did": did})
    assert never.status_code == 200 and never.json() == {"did": did, "enrolled": False}
    svc.enroll(did, "engineering")
    assert svc.hooks.enrolled[-1] == did
    own = svc.get("zone.stratos.enrollment.status", {"did": did}, did).json()
    assert own["enrolled"] is True and own["boundaries"] == [{"value": ENGINEERING}]
    assert own["enrolledAt"].endswith("Z")
    for caller in (None, other):
        seen = svc.get("zone.stratos.enrollment.status", {"did": did}, caller).json()
        assert seen["enrolled"] is True and "boundaries" not in seen
    resolved = svc.get("zone.stratos.identity.resolveEnrollments", {"did": did}).json()
    assert resolved == {"did": did, "enrolled": True, "boundaries": [{"value": ENGINEERING}]}
    unknown = svc.get("zone.stratos.identity.resolveEnrollments", {"did": other}).json()
    assert unknown == {"did": other, "enrolled": False, "boundaries": []}
    domains = svc.get("zone.stratos.server.listDomains", {}).json()
    assert domains == {"domains": [ENGINEERING, DESIGN]}


def test_qualify_and_auto_enrol(tmp_path: Path) -> None:
    env = {"STRATOS_AUTO_ENROLL_DOMAINS": "design"}
    with running_stratos(tmp_path, env) as svc:
        enrollments = svc.stratos.enrollments
        assert enrollments.qualify(["engineering", DESIGN, "engineering"]) == (DESIGN, ENGINEERING)
        with pytest.raises(XrpcError) as unknown:
            enrollments.qualify(["marketing"])
        assert unknown.value.status == 400 and unknown.value.error == "InvalidRequest"
        with pytest.raises(XrpcError):
            enrollments.qualify(["did:web:other.test/engineering"])
        assert svc.enroll(new_did()).boundaries == (DESIGN,)


@pytest.mark.requirement("STR-ENR-02")
def test_allowlist_refuses_and_not_enrolled_answers(tmp_path: Path) -> None:
    allowed, refused = new_did(), new_did()
    env = {"STRATOS_ENROLLMENT_MODE": "allowlist", "STRATOS_ALLOWED_DIDS": allowed}
    with running_stratos(tmp_path, env) as svc:
        enrollments = svc.stratos.enrollments
        assert enrollments.is_allowed(allowed) and not enrollments.is_allowed(refused)
        with pytest.raises(XrpcError) as denied:
            svc.enroll(refused, "engineering")
        assert (denied.value.status, denied.value.error) == (403, "EnrollmentDenied")
        assert denied.value.extra == {"reason": "NotInAllowlist"}
        svc.enroll(allowed, "engineering")

        not_enrolled = [
            svc.create(refused, post("no")),
            svc.get("com.atproto.repo.describeRepo", {"repo": refused}, refused),
            svc.get(
                "com.atproto.repo.listRecords",
                {"repo": refused, "collection": "zone.stratos.feed.post"},
                refused,
            ),
            svc.get("zone.stratos.sync.getRepo", {"did": refused}, refused),
            svc.post("zone.stratos.enrollment.unenroll", {}, refused),
            svc.http.post(
                svc.xrpc("com.atproto.repo.uploadBlob"), content=b"x", headers=auth(refused)
            ),
        ]
        for response in not_enrolled:
            assert response.status_code == 403, response.text
            assert response.json()["error"] == "NotEnrolled"


@pytest.mark.requirement("STR-ENR-06")
def test_unenrol_removes_everything(svc: RunningStratos) -> None:
    did = new_did()
    svc.enroll(did, "engineering")
    created = svc.create(did, post("bye"))
    assert created.status_code == 200
    before = len(svc.hooks.unenrolled)
    response = svc.post("zone.stratos.enrollment.unenroll", {}, did)
    assert response.status_code == 200 and response.json() == {"success": True}
    assert svc.hooks.unenrolled[before:] == [did]
    deleted = svc.hooks.changes[-1]
    assert deleted[0] == did and [c.action for c in deleted[1]] == ["delete"]
    assert not svc.stratos.actors.path(did).exists()
    status = svc.get("zone.stratos.enrollment.status", {"did": did}, did).json()
    assert status == {"did": did, "enrolled": False}
    assert svc.get("zone.stratos.sync.getRepo", {"did": did}, did).json()["error"] == "NotEnrolled"
    again = svc.post("zone.stratos.enrollment.unenroll", {}, did)
    assert again.status_code == 403 and again.json()["error"] == "NotEnrolled"
    # Enrolling again starts from a new, empty repository.
    svc.enroll(did, "engineering")
    listed = svc.get(
        "com.atproto.repo.listRecords", {"repo": did, "collection": "zone.stratos.feed.post"}, did
    )
    assert listed.json() == {"records": []}


def test_unenrol_needs_auth(svc: RunningStratos) -> None:
    response = svc.post("zone.stratos.enrollment.unenroll", {})
    assert response.status_code == 401 and response.json()["error"] == "AuthRequired"
