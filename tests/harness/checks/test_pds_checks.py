"""PDS-01..PDS-05: each check returns None on a correct exchange and a Failure with exactly its
requirement ID on a deliberately wrong one. Exchanges are built directly (``pds_fakes``);
repository CARs and service-auth JWTs are real artifacts, broken by hand."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import httpx
import pytest
from pds_fakes import (
    COLLECTION,
    DID,
    HANDLE,
    OTHER_DID,
    PDS_URL,
    FakeRepo,
    car_blocks,
    car_response,
    did_doc_response,
    did_document,
    drop_blocks,
    record,
    response,
    service_jwt,
    tamper_block,
    with_payload,
    xrpc_error,
)

from conformance.checks.base import Failure
from conformance.checks.pds import (
    SignatureCheckBroken,
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
    service_token_verifies,
)
from conformance.scenarios.base import Probe
from conformance.scenarios.pds import (
    AccountCreation,
    AppPasswordProbes,
    BlobProbes,
    CommitSequence,
    IdentityProbes,
    LexiconValidationProbes,
    RecordCrud,
    RecordProofProbes,
    RepoExportProbes,
    ServiceAuthProbes,
    SessionProbes,
    UnknownCollectionProbes,
    lexicon_known,
)
from reference_impl.primitives.keys import generate_signing_key


def probe(resp: httpx.Response, case: str = "probe") -> Probe:
    return Probe(case, resp)


def failed(failure: Failure | None, requirement: str) -> Failure:
    assert failure is not None, "the check did not notice"
    assert failure.requirement == requirement
    assert failure.title and failure.message
    return failure


SESSION = {"did": DID, "handle": HANDLE, "accessJwt": "acc.jwt.x", "refreshJwt": "ref.jwt.y"}


# --- PDS-01 -----------------------------------------------------------------------------------


def _creation(**changes: Any) -> AccountCreation:
    good = AccountCreation(
        HANDLE,
        probe(response(200, json_body=SESSION)),
        probe(did_doc_response(did_document(key=generate_signing_key("secp256k1")))),
        probe(xrpc_error(400, "HandleNotAvailable", "Handle already taken")),
    )
    return replace(good, **changes)


def test_account_created() -> None:
    assert check_account_created(_creation(), "test") is None


@pytest.mark.parametrize(
    "body",
    [
        {**SESSION, "did": "did:plc:ABC"},
        {**SESSION, "did": "did:web:alice.test"},
        {**SESSION, "handle": "bob.test"},
        {k: v for k, v in SESSION.items() if k != "refreshJwt"},
    ],
    ids=["short-did", "not-plc", "other-handle", "no-refresh"],
)
def test_account_created_wrong_output(body: dict[str, Any]) -> None:
    creation = _creation(created=probe(response(200, json_body=body)))
    failure = failed(check_account_created(creation, "test"), "PDS-01")
    assert "acc.jwt.x" not in failure.message and "ref.jwt.y" not in failure.message


def test_account_created_outside_domain_or_refused() -> None:
    failed(check_account_created(_creation(), "example.com"), "PDS-01")
    refused = _creation(created=probe(xrpc_error(400, "InvalidHandle")))
    failed(check_account_created(refused, "test"), "PDS-01")


def test_repo_signing_key() -> None:
    key = generate_signing_key("secp256k1")
    assert check_repo_signing_key(probe(did_doc_response(did_document(key=key))), DID) is None


def test_repo_signing_key_p256_or_missing() -> None:
    p256 = did_doc_response(did_document(key=generate_signing_key("p256")))
    failure = failed(check_repo_signing_key(probe(p256), DID), "PDS-01")
    assert "secp256k1" in failure.message
    garbage = did_doc_response(did_document(multikey="zQ3sNotAKey"))
    failed(check_repo_signing_key(probe(garbage), DID), "PDS-01")
    failed(check_repo_signing_key(probe(response(404, json_body={})), DID), "PDS-01")


def test_duplicate_handle() -> None:
    assert check_duplicate_handle(_creation()) is None


@pytest.mark.parametrize(
    "dup",
    [
        response(200, json_body=SESSION),
        response(500, json_body={"error": "InternalServerError", "message": "boom"}),
        response(400, json_body={"error": "InvalidRequest"}),
        response(400, text="<html>no</html>", content_type="text/html"),
    ],
    ids=["accepted", "5xx", "no-message", "html"],
)
def test_duplicate_handle_not_clearly_refused(dup: httpx.Response) -> None:
    failed(check_duplicate_handle(_creation(duplicate=probe(dup))), "PDS-01")


def test_duplicate_handle_refused_control() -> None:
    failure = failed(
        check_duplicate_handle(_creation(created=probe(xrpc_error(400, "InvalidInviteCode")))),
        "PDS-01",
    )
    assert "correct request was refused" in failure.title


# --- PDS-02 -----------------------------------------------------------------------------------


def _identity(**changes: Any) -> IdentityProbes:
    key = generate_signing_key("secp256k1")
    good = IdentityProbes(
        DID,
        HANDLE,
        probe(did_doc_response(did_document(key=key))),
        probe(response(200, json_body={"did": DID})),
        probe(response(200, text=DID + "\n", content_type="text/plain")),
        probe(xrpc_error(400, "HandleNotFound")),
    )
    return replace(good, **changes)


def test_identity_checks_pass() -> None:
    identity = _identity()
    assert check_did_document(identity, PDS_URL + "/") is None
    assert check_resolve_handle(identity) is None
    assert check_well_known_did(identity) is None
    assert check_unknown_handle(identity) is None


@pytest.mark.parametrize(
    "document",
    [
        did_document(pds_url="http://127.0.0.1:9"),
        did_document(handle="mallory.test"),
        did_document(did=OTHER_DID),
        {**did_document(), "service": []},
        {**did_document(), "verificationMethod": []},
    ],
    ids=["other-endpoint", "other-handle", "other-id", "no-service", "no-key"],
)
def test_did_document_wrong(document: dict[str, Any]) -> None:
    failed(
        check_did_document(_identity(did_document=probe(did_doc_response(document))), PDS_URL),
        "PDS-02",
    )


def test_did_document_not_served() -> None:
    failed(
        check_did_document(_identity(did_document=probe(response(404, json_body={}))), PDS_URL),
        "PDS-02",
    )


def test_handle_resolution_wrong() -> None:
    wrong = _identity(resolve_handle=probe(response(200, json_body={"did": OTHER_DID})))
    failed(check_resolve_handle(wrong), "PDS-02")
    missing = _identity(well_known=probe(response(404, text="no")))
    failed(check_well_known_did(missing), "PDS-02")
    other = _identity(well_known=probe(response(200, text=OTHER_DID)))
    failed(check_well_known_did(other), "PDS-02")


@pytest.mark.parametrize(
    "answer",
    [
        response(500, json_body={"error": "InternalServerError", "message": "x"}),
        response(200, json_body={"did": OTHER_DID}),
        response(400, text="<html>", content_type="text/html"),
    ],
    ids=["5xx", "resolved", "html"],
)
def test_unknown_handle_not_an_xrpc_error(answer: httpx.Response) -> None:
    failed(check_unknown_handle(_identity(unknown_handle=probe(answer))), "PDS-02")


# --- PDS-03 -----------------------------------------------------------------------------------


def _sessions(**changes: Any) -> SessionProbes:
    ok = response(200, json_body=SESSION)
    good = SessionProbes(
        DID,
        HANDLE,
        probe(ok),
        probe(ok),
        probe(xrpc_error(401, "AuthenticationRequired", "Invalid identifier or password")),
        probe(response(200, json_body={"did": DID, "handle": HANDLE})),
        probe(ok),
        probe(response(200, json_body={"did": DID, "handle": HANDLE})),
        probe(xrpc_error(400, "ExpiredToken")),
    )
    return replace(good, **changes)


def test_session_checks_pass() -> None:
    sessions = _sessions()
    assert check_session_login(sessions) is None
    assert check_wrong_password(sessions) is None
    assert check_get_session(sessions) is None
    assert check_refresh_session(sessions) is None


@pytest.mark.parametrize(
    ("check", "changes"),
    [
        (check_session_login, {"by_did": probe(xrpc_error(401, "AuthenticationRequired"))}),
        (check_session_login, {"by_handle": probe(response(200, json_body={"did": DID}))}),
        (check_wrong_password, {"wrong_password": probe(response(200, json_body=SESSION))}),
        (check_wrong_password, {"wrong_password": probe(xrpc_error(400, "InvalidRequest"))}),
        (check_wrong_password, {"wrong_password": probe(xrpc_error(401, "AuthRequired"))}),
        (
            check_get_session,
            {"get_session": probe(response(200, json_body={"did": OTHER_DID, "handle": HANDLE}))},
        ),
        (check_get_session, {"get_session": probe(xrpc_error(401, "InvalidToken"))}),
        (check_refresh_session, {"refresh": probe(xrpc_error(400, "InvalidToken"))}),
        (
            check_refresh_session,
            {"refreshed_get_session": probe(xrpc_error(401, "InvalidToken"))},
        ),
    ],
    ids=[
        "login-by-did-refused",
        "login-no-tokens",
        "wrong-password-accepted",
        "wrong-password-400",
        "wrong-password-other-name",
        "get-session-other-did",
        "get-session-refused",
        "refresh-refused",
        "refreshed-token-unusable",
    ],
)
def test_session_checks_fail(
    check: Callable[[SessionProbes], Failure | None], changes: dict[str, Any]
) -> None:
    failure = failed(check(_sessions(**changes)), "PDS-03")
    assert "acc.jwt.x" not in failure.message


def _app_password(**changes: Any) -> AppPasswordProbes:
    good = AppPasswordProbes(
        DID,
        probe(response(200, json_body={"name": "atconform-1", "password": "abcd-efgh-ijkl-mnop"})),
        probe(response(200, json_body=SESSION)),
        probe(response(200, json_body={"did": DID, "handle": HANDLE})),
        "atconform-1",
    )
    return replace(good, **changes)


def test_app_password() -> None:
    assert check_app_password(_app_password()) is None


@pytest.mark.parametrize(
    "changes",
    [
        {"created": probe(xrpc_error(401, "AuthRequired"))},
        {"login": probe(xrpc_error(401, "AuthenticationRequired"))},
        {"login": probe(response(200, json_body={**SESSION, "did": OTHER_DID}))},
        {"get_session": probe(xrpc_error(401, "InvalidToken"))},
    ],
    ids=["create-refused", "login-refused", "other-account", "session-unusable"],
)
def test_app_password_broken(changes: dict[str, Any]) -> None:
    failure = failed(check_app_password(_app_password(**changes)), "PDS-03")
    assert "abcd-efgh-ijkl-mnop" not in failure.message


# --- PDS-04 -----------------------------------------------------------------------------------

AUD = "did:web:svc.test"
LXM = "com.atproto.repo.getRecord"


def _service_auth(
    plain: str, with_lxm: str, *, key_doc: dict[str, Any] | None = None
) -> ServiceAuthProbes:
    doc = key_doc if key_doc is not None else did_document()
    return ServiceAuthProbes(
        DID,
        AUD,
        LXM,
        probe(response(200, json_body={"token": plain})),
        probe(response(200, json_body={"token": with_lxm})),
        probe(did_doc_response(doc)),
        float(int(time.time())),
    )


def test_service_auth_passes() -> None:
    key = generate_signing_key("secp256k1")
    probes = _service_auth(
        service_jwt(key), service_jwt(key, lxm=LXM), key_doc=did_document(key=key)
    )
    assert check_service_auth_claims(probes) is None
    assert check_service_auth_signature(probes) is None


@pytest.mark.parametrize(
    "overrides",
    [{"iss": OTHER_DID}, {"aud": "did:web:other.test"}, {"lifetime_s": 3600}, {"lifetime_s": 0}],
    ids=["wrong-iss", "wrong-aud", "exp-an-hour", "exp-not-after-iat"],
)
def test_service_auth_claims_wrong(overrides: dict[str, Any]) -> None:
    key = generate_signing_key("secp256k1")
    bad = service_jwt(key, **overrides)
    probes = _service_auth(bad, service_jwt(key, lxm=LXM), key_doc=did_document(key=key))
    failure = failed(check_service_auth_claims(probes), "PDS-04")
    assert bad not in failure.message


def test_service_auth_lxm_not_echoed() -> None:
    key = generate_signing_key("secp256k1")
    probes = _service_auth(service_jwt(key), service_jwt(key), key_doc=did_document(key=key))
    failed(check_service_auth_claims(probes), "PDS-04")


def test_service_auth_refused() -> None:
    probes = replace(_service_auth("a.b.c", "a.b.c"), plain=probe(xrpc_error(400, "BadExpiration")))
    failed(check_service_auth_claims(probes), "PDS-04")
    failed(check_service_auth_signature(probes), "PDS-04")


def test_service_auth_signed_by_another_key() -> None:
    published, other = generate_signing_key("secp256k1"), generate_signing_key("secp256k1")
    probes = _service_auth(
        service_jwt(other), service_jwt(other, lxm=LXM), key_doc=did_document(key=published)
    )
    failure = failed(check_service_auth_signature(probes), "PDS-04")
    assert "does not verify" in failure.message


def test_service_auth_payload_tampered() -> None:
    key = generate_signing_key("secp256k1")
    forged = with_payload(service_jwt(key), {"iss": OTHER_DID})
    assert not service_token_verifies(forged, key.did_key)
    probes = _service_auth(forged, service_jwt(key, lxm=LXM), key_doc=did_document(key=key))
    failed(check_service_auth_signature(probes), "PDS-04")


def test_service_auth_wrong_alg_for_key() -> None:
    key = generate_signing_key("secp256k1")
    token = service_jwt(key, alg="ES256")  # a secp256k1 signature labelled as P-256
    probes = _service_auth(token, service_jwt(key, lxm=LXM), key_doc=did_document(key=key))
    failure = failed(check_service_auth_signature(probes), "PDS-04")
    assert "ES256K" in failure.message


def test_service_auth_p256_key_verifies() -> None:
    """A PDS whose repo key is P-256 signs ES256; PDS-04 accepts that (PDS-01 judges the curve)."""
    key = generate_signing_key("p256")
    probes = _service_auth(
        service_jwt(key), service_jwt(key, lxm=LXM), key_doc=did_document(key=key)
    )
    assert check_service_auth_signature(probes) is None


def test_service_auth_sanity_guard(monkeypatch: pytest.MonkeyPatch) -> None:
    """A verifier that accepts anything must stop the check (harness error), not pass it."""
    import conformance.checks.pds as checks

    monkeypatch.setattr(checks, "verify_signature", lambda *args: True)
    key = generate_signing_key("secp256k1")
    with pytest.raises(SignatureCheckBroken):
        service_token_verifies(service_jwt(key), key.did_key)


# --- PDS-05: records --------------------------------------------------------------------------


def _write(rkey: str, *, commit: dict[str, str] | None = None) -> httpx.Response:
    body: dict[str, Any] = {"uri": f"at://{DID}/{COLLECTION}/{rkey}", "cid": "bafyreiexample"}
    if commit is not None:
        body["commit"] = commit
    return response(200, json_body=body, method="POST")


def _listing(values: dict[str, dict[str, Any]]) -> httpx.Response:
    records = [
        {"uri": f"at://{DID}/{COLLECTION}/{rkey}", "cid": "bafyreiexample", "value": value}
        for rkey, value in values.items()
    ]
    return response(200, json_body={"records": records})


def _crud(**changes: Any) -> RecordCrud:
    created_value = record("created")
    values = {"put-1": record("put-v3"), "apply-1": record("apply")}
    good = RecordCrud(
        did=DID,
        collection=COLLECTION,
        created=probe(_write("3kcreated0001")),
        read_created=probe(
            response(
                200,
                json_body={
                    "uri": f"at://{DID}/{COLLECTION}/3kcreated0001",
                    "cid": "bafyreiexample",
                    "value": created_value,
                },
            )
        ),
        put_rkey="put-1",
        put_created=probe(_write("put-1")),
        put_updated=probe(_write("put-1")),
        apply_rkey="apply-1",
        applied=probe(
            response(200, json_body={"commit": {"cid": "c", "rev": "r"}, "results": [{}, {}, {}]})
        ),
        removed_create=probe(_write("3kremoved0001")),
        removed_delete=probe(response(200, json_body={})),
        read_removed=probe(xrpc_error(400, "RecordNotFound")),
        listed=(probe(_listing(values)),),
        described=probe(
            response(200, json_body={"did": DID, "handle": HANDLE, "collections": [COLLECTION]})
        ),
        values=values,
        created_value=created_value,
        gone=("3kcreated0001", "3kremoved0001"),
    )
    return replace(good, **changes)


def test_record_crud_checks_pass() -> None:
    crud = _crud()
    assert check_record_writes(crud) is None
    assert check_record_reads(crud) is None
    assert check_describe_repo(crud, HANDLE) is None


@pytest.mark.parametrize(
    "changes",
    [
        {"put_updated": probe(xrpc_error(400, "InvalidRequest"))},
        {"created": probe(response(200, json_body={"uri": f"at://{OTHER_DID}/x/y", "cid": "c"}))},
        {"applied": probe(response(500, json_body={"error": "InternalServerError"}))},
    ],
    ids=["put-refused", "uri-of-another-repo", "apply-5xx"],
)
def test_record_writes_fail(changes: dict[str, Any]) -> None:
    failed(check_record_writes(_crud(**changes)), "PDS-05")


@pytest.mark.parametrize(
    "changes",
    [
        {
            "read_created": probe(
                response(200, json_body={"uri": "u", "cid": "bafyreiexample", "value": {}})
            )
        },
        {"read_removed": probe(response(200, json_body={"uri": "u", "cid": "c", "value": {}}))},
        {"listed": (probe(_listing({"put-1": record("put-v2")})),)},
        {
            "listed": (
                probe(
                    _listing(
                        {
                            "put-1": record("put-v3"),
                            "apply-1": record("apply"),
                            "3kremoved0001": record("removed"),
                        }
                    )
                ),
            )
        },
        {"listed": (probe(xrpc_error(400, "InvalidRequest")),)},
    ],
    ids=["value-changed", "deleted-still-readable", "stale-list", "deleted-listed", "list-refused"],
)
def test_record_reads_fail(changes: dict[str, Any]) -> None:
    failed(check_record_reads(_crud(**changes)), "PDS-05")


def test_describe_repo_fails() -> None:
    wrong = probe(response(200, json_body={"did": DID, "handle": HANDLE, "collections": []}))
    failed(check_describe_repo(_crud(described=wrong), HANDLE), "PDS-05")
    failed(check_describe_repo(_crud(), "bob.test"), "PDS-05")


def _sequence(
    revs: list[str], *, write_commits: list[dict[str, str]] | None = None
) -> CommitSequence:
    latest = [
        probe(response(200, json_body={"cid": f"bafyreicommit{i}", "rev": rev}))
        for i, rev in enumerate(revs)
    ]
    writes = tuple(
        probe(_write(f"r{i}", commit=(write_commits[i] if write_commits else None)))
        for i in range(len(revs) - 1)
    )
    return CommitSequence(DID, latest[0], writes, tuple(latest[1:]))


REVS = ["3kaaaaaaaaa22", "3kaaaaaaaab22", "3kaaaaaaaac22", "3kaaaaaaaad22"]


def test_commit_revs_pass() -> None:
    assert check_commit_revs(_sequence(REVS)) is None
    commits = [{"cid": f"bafyreicommit{i + 1}", "rev": rev} for i, rev in enumerate(REVS[1:])]
    assert check_commit_revs(_sequence(REVS, write_commits=commits)) is None


@pytest.mark.parametrize(
    "revs",
    [
        [REVS[0], REVS[1], REVS[1], REVS[2]],
        [REVS[0], REVS[2], REVS[1], REVS[3]],
        [REVS[0], "not-a-tid", REVS[2], REVS[3]],
    ],
    ids=["repeated", "decreasing", "not-a-tid"],
)
def test_commit_revs_fail(revs: list[str]) -> None:
    failed(check_commit_revs(_sequence(revs)), "PDS-05")


def test_latest_commit_differs_from_write() -> None:
    commits = [{"cid": "bafyreiother", "rev": rev} for rev in REVS[1:]]
    failed(check_commit_revs(_sequence(REVS, write_commits=commits)), "PDS-05")


# --- PDS-05: CARs -----------------------------------------------------------------------------


def _proof_probes(
    fake: FakeRepo, car: bytes, *, doc_key: Any = None, cid: str | None = None
) -> RecordProofProbes:
    value = record("proof")
    write = response(
        200,
        json_body={
            "uri": f"at://{DID}/{COLLECTION}/proof",
            "cid": cid or fake.cids["proof"].encode(),
        },
    )
    return RecordProofProbes(
        DID,
        COLLECTION,
        "proof",
        value,
        probe(write),
        probe(car_response(car)),
        probe(did_doc_response(did_document(key=doc_key or fake.key))),
    )


@pytest.fixture
def proof_repo() -> FakeRepo:
    fake = FakeRepo()
    fake.write({f"other-{i}": record(f"other-{i}") for i in range(20)})
    fake.write({"proof": record("proof")})
    return fake


def test_record_proof_passes(proof_repo: FakeRepo) -> None:
    probes = _proof_probes(proof_repo, proof_repo.proof_car("proof"))
    assert check_record_proof(probes) is None
    assert proof_verification_level(probes) == "signature-verified"


def test_record_proof_tampered_record_block(proof_repo: FakeRepo) -> None:
    car = tamper_block(proof_repo.proof_car("proof"), proof_repo.cids["proof"])
    probes = _proof_probes(proof_repo, car)
    failure = failed(check_record_proof(probes), "PDS-05")
    assert "does not match" in failure.message
    assert proof_verification_level(probes) == "unverifiable"


def test_record_proof_signed_by_another_key(proof_repo: FakeRepo) -> None:
    probes = _proof_probes(
        proof_repo, proof_repo.proof_car("proof"), doc_key=generate_signing_key("secp256k1")
    )
    failure = failed(check_record_proof(probes), "PDS-05")
    assert "signature" in failure.message
    assert proof_verification_level(probes) == "cid-only"


def test_record_proof_missing_mst_path(proof_repo: FakeRepo) -> None:
    car = proof_repo.proof_car("proof")
    roots, _blocks = car_blocks(car)
    keep = [roots[0], proof_repo.cids["proof"]]  # commit and record, no MST nodes
    probes = _proof_probes(proof_repo, drop_blocks(car, keep))
    failure = failed(check_record_proof(probes), "PDS-05")
    assert "missing" in failure.message


def test_record_proof_other_record_or_not_a_car(proof_repo: FakeRepo) -> None:
    other_cid = proof_repo.cids["other-1"].encode()
    car = proof_repo.proof_car("proof")
    failed(check_record_proof(_proof_probes(proof_repo, car, cid=other_cid)), "PDS-05")
    not_car = replace(
        _proof_probes(proof_repo, car), proof=probe(response(200, json_body={"car": "no"}))
    )
    failed(check_record_proof(not_car), "PDS-05")
    garbage = replace(_proof_probes(proof_repo, b""), proof=probe(car_response(b"\x01garbage")))
    failed(check_record_proof(garbage), "PDS-05")


def _export_probes(
    fake: FakeRepo, rkeys: tuple[str, ...], car: bytes, **kw: Any
) -> RepoExportProbes:
    results = [
        {"uri": f"at://{DID}/{COLLECTION}/{rkey}", "cid": fake.cids[rkey].encode()}
        for rkey in rkeys
        if rkey in fake.cids
    ]
    assert fake.head is not None and fake.rev is not None
    latest = kw.get("latest", {"cid": fake.head.encode(), "rev": fake.rev})
    return RepoExportProbes(
        DID,
        COLLECTION,
        probe(response(200, json_body={"results": results})),
        probe(response(200, json_body=latest)),
        probe(car_response(car)),
        probe(did_doc_response(did_document(key=kw.get("doc_key") or fake.key))),
        rkeys,
    )


def test_repo_export_passes(proof_repo: FakeRepo) -> None:
    probes = _export_probes(proof_repo, ("proof", "other-3"), proof_repo.export_car())
    assert check_repo_export(probes) is None


def test_repo_export_missing_record(proof_repo: FakeRepo) -> None:
    probes = _export_probes(proof_repo, ("proof", "never-written"), proof_repo.export_car())
    failure = failed(check_repo_export(probes), "PDS-05")
    assert "never-written" in failure.message


def test_repo_export_stale_commit(proof_repo: FakeRepo) -> None:
    stale = proof_repo.export_car()
    proof_repo.write({"later": record("later")})
    failed(check_repo_export(_export_probes(proof_repo, ("proof",), stale)), "PDS-05")


def test_repo_export_other_key_or_tampered(proof_repo: FakeRepo) -> None:
    car = proof_repo.export_car()
    other = generate_signing_key("secp256k1")
    failed(check_repo_export(_export_probes(proof_repo, ("proof",), car, doc_key=other)), "PDS-05")
    tampered = tamper_block(car, proof_repo.cids["other-5"])
    failed(check_repo_export(_export_probes(proof_repo, ("proof",), tampered)), "PDS-05")


def test_repo_export_incomplete_mst(proof_repo: FakeRepo) -> None:
    car = proof_repo.export_car()
    roots, _blocks = car_blocks(car)
    record_cids = set(proof_repo.cids.values())
    keep = [roots[0], *record_cids]  # no MST nodes
    failed(
        check_repo_export(_export_probes(proof_repo, ("proof",), drop_blocks(car, keep))), "PDS-05"
    )


# --- PDS-05: blobs, unknown collections, lexicons ---------------------------------------------

BLOB = b"atconform blob bytes"
BLOB_CID = "bafkreiexampleblob"


def _blobs(**changes: Any) -> BlobProbes:
    ref = {"$type": "blob", "ref": {"$link": BLOB_CID}, "mimeType": "text/plain", "size": len(BLOB)}
    good = BlobProbes(
        DID,
        BLOB,
        "text/plain",
        probe(response(200, json_body={"blob": ref})),
        probe(_write("3kblob")),
        (
            probe(response(200, json_body={"cids": ["bafkreisomethingelse"], "cursor": "x"})),
            probe(response(200, json_body={"cids": [BLOB_CID]})),
        ),
        probe(response(200, content=BLOB, content_type="text/plain")),
    )
    return replace(good, **changes)


def test_blob_round_trip() -> None:
    assert check_blob_round_trip(_blobs()) is None


@pytest.mark.parametrize(
    "changes",
    [
        {"upload": probe(xrpc_error(400, "InvalidRequest"))},
        {"listed": (probe(response(200, json_body={"cids": []})),)},
        {"fetched": probe(response(200, content=b"other bytes"))},
        {"fetched": probe(xrpc_error(400, "BlobNotFound"))},
        {
            "upload": probe(
                response(
                    200,
                    json_body={
                        "blob": {
                            "$type": "blob",
                            "ref": {"$link": BLOB_CID},
                            "mimeType": "text/plain",
                            "size": 1,
                        }
                    },
                )
            )
        },
    ],
    ids=["upload-refused", "not-listed", "other-bytes", "not-found", "wrong-size"],
)
def test_blob_round_trip_fails(changes: dict[str, Any]) -> None:
    failed(check_blob_round_trip(_blobs(**changes)), "PDS-05")


def test_unknown_collection() -> None:
    value = {**record("as-is"), "unusualField": {"anything": ["goes", 1, None]}}
    read = response(200, json_body={"uri": "u", "cid": "c", "value": value})
    good = UnknownCollectionProbes(value, probe(_write("3kx")), probe(read))
    assert check_unknown_collection(good) is None
    refused = replace(good, write=probe(xrpc_error(400, "InvalidRequest", "Lexicon not found")))
    failed(check_unknown_collection(refused), "PDS-05")
    stripped = {k: v for k, v in value.items() if k != "unusualField"}
    changed = replace(good, read=probe(response(200, json_body={"value": stripped})))
    failed(check_unknown_collection(changed), "PDS-05")


def _lexicon(valid: httpx.Response, invalid: httpx.Response) -> LexiconValidationProbes:
    return LexiconValidationProbes("zone.stratos.feed.post", probe(valid), probe(invalid))


def test_lexicon_validation() -> None:
    valid = response(200, json_body={"uri": "u", "cid": "c", "validationStatus": "valid"})
    probes = _lexicon(valid, xrpc_error(400, "InvalidRequest", "Invalid record"))
    assert lexicon_known(probes) is True
    assert check_lexicon_validation(probes) is None
    accepted = _lexicon(valid, response(200, json_body={"uri": "u", "cid": "c"}))
    failed(check_lexicon_validation(accepted), "PDS-05")
    crashed = _lexicon(valid, response(500, json_body={"error": "InternalServerError"}))
    failed(check_lexicon_validation(crashed), "PDS-05")


def test_lexicon_unknown_to_the_pds_is_not_judged() -> None:
    unknown = response(200, json_body={"uri": "u", "cid": "c", "validationStatus": "unknown"})
    probes = _lexicon(unknown, response(200, json_body={"validationStatus": "unknown"}))
    assert lexicon_known(probes) is False  # the suite reports this as unsupported
