"""The PDS's accounts, identity, sessions, service auth and repository (PDS-01..PDS-05): one
small check per requirement facet.

Each check takes what a ``conformance.scenarios.pds`` probe returned and answers
``Failure | None``. Repository CARs are verified with the harness's own code
(``conformance.repo_verify``: CIDs, MST, commit signature against the DID document's key) and
JWT signatures with the ``atproto`` SDK. Messages quote probe descriptions, status codes, XRPC
error names, DIDs, handles, CIDs and revs — never passwords or tokens.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import httpx
from atproto_crypto.did import parse_multikey
from atproto_crypto.verify import verify_signature

from conformance.checks.base import Failure
from conformance.checks.common import (
    car_error,
    car_response_problem,
    control_failure,
    first_refused,
    refused,
)
from conformance.repo_verify import (
    CarInvalid,
    VerificationLevel,
    atproto_signing_key,
    verify_record_proof,
    verify_repo,
)
from conformance.scenarios.base import (
    NegativeProbes,
    Probe,
    body_of,
    describe_response,
    is_success,
    json_body,
)
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
    blob_cid,
    blob_ref,
    cid_of,
    token_of,
)
from lexicons.syntax import is_valid_tid

DID_PLC = re.compile(r"^did:plc:[a-z2-7]{24}$")
SECP256K1_MULTIBASE_PREFIX = "zQ3s"
SERVICE_AUTH_DEFAULT_TTL_S = 60
# Without an iat claim, exp is compared with the harness clock; this much skew is tolerated
# here (clock offsets are judged by CLOCK-01, not by this check).
CLOCK_SLACK_S = 10
AUTHENTICATION_REQUIRED = "AuthenticationRequired"


def _xrpc_error(response: httpx.Response) -> str | None:
    body = json_body(response)
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, str) and error else None


def _xrpc_refusal_problem(probe: Probe, *, status: int | None = 400) -> str | None:
    """Why ``probe`` is not a clear XRPC refusal (the status, or any 4xx, with a JSON
    ``{"error": <name>}``), or None when it is."""
    response = probe.response
    ok_status = (
        response.status_code == status if status is not None else 400 <= response.status_code < 500
    )
    if ok_status and _xrpc_error(response) is not None:
        return None
    expected = f"{status}" if status is not None else "a 4xx"
    return (
        f"{probe.case}: expected {expected} with an XRPC error body, "
        f"got {describe_response(response)}"
    )


def _did_document(probe: Probe) -> dict[str, Any] | None:
    if probe.response.status_code != 200:
        return None
    body = json_body(probe.response)
    return body if isinstance(body, dict) else None


def _atproto_method(document: Mapping[str, Any], did: str) -> Mapping[str, Any] | None:
    for method in document.get("verificationMethod") or []:
        if isinstance(method, Mapping) and method.get("id") in ("#atproto", f"{did}#atproto"):
            return method
    return None


def _did_key(probe: Probe) -> str | None:
    document = _did_document(probe)
    return None if document is None else atproto_signing_key(document)


# --- PDS-01 ---------------------------------------------------------------------------------


def check_account_created(creation: AccountCreation, handle_domain: str | None) -> Failure | None:
    """PDS-01: createAccount answers with a ``did:plc:`` of 24 base32 characters, the handle
    asked for (under the configured domain), and access/refresh JWTs."""
    probe = creation.created
    body = body_of(probe.response)
    if body is None:
        return refused("PDS-01", "createAccount with a fresh handle was refused", probe)
    problems: list[str] = []
    did = body.get("did")
    if not isinstance(did, str) or not DID_PLC.match(did):
        problems.append(f"did {did!r} is not did:plc: followed by 24 base32 characters")
    handle = body.get("handle")
    if not isinstance(handle, str) or handle.lower() != creation.handle.lower():
        problems.append(f"handle {handle!r} is not the handle asked for ({creation.handle!r})")
    if handle_domain and isinstance(handle, str):
        domain = handle_domain.strip(".").lower()
        if not handle.lower().endswith(f".{domain}"):
            problems.append(f"handle {handle!r} is not under the domain {domain!r}")
    for name in ("accessJwt", "refreshJwt"):
        if not isinstance(body.get(name), str) or not body[name]:
            problems.append(f"{name} is missing")
    if not problems:
        return None
    return Failure(
        "PDS-01",
        "createAccount output lacks a did:plc, the handle or the session tokens",
        f"{probe.case}: " + "; ".join(problems),
        (probe.response,),
    )


def check_repo_signing_key(probe: Probe, did: str) -> Failure | None:
    """PDS-01: the account's DID document publishes a secp256k1 ``#atproto`` key (Multikey
    ``zQ3s...``, which the atproto SDK parses as ES256K)."""
    document = _did_document(probe)
    if document is None:
        return Failure(
            "PDS-01",
            "the account's DID document could not be fetched",
            f"{probe.case}: expected 200 with a DID document, "
            f"got {describe_response(probe.response)}",
            (probe.response,),
        )
    method = _atproto_method(document, did)
    multibase = method.get("publicKeyMultibase") if method is not None else None
    if not isinstance(multibase, str):
        return Failure(
            "PDS-01",
            "the account has no #atproto signing key",
            f"{probe.case}: no verificationMethod #atproto with a publicKeyMultibase",
            (probe.response,),
        )
    try:
        alg = parse_multikey(multibase).jwt_alg
    except Exception:  # the SDK raises several types for malformed keys
        alg = None
    if multibase.startswith(SECP256K1_MULTIBASE_PREFIX) and alg == "ES256K":
        return None
    return Failure(
        "PDS-01",
        "the account's repo signing key is not secp256k1",
        f"{probe.case}: #atproto key {multibase!r} parses as {alg or 'no known key type'}, "
        "expected a secp256k1 Multikey (zQ3s..., ES256K)",
        (probe.response,),
    )


def check_duplicate_handle(creation: AccountCreation) -> Failure | None:
    """PDS-01: createAccount with a handle already taken → a clear 400 (XRPC error + message)."""
    if (failure := control_failure("PDS-01", creation.created)) is not None:
        return failure
    duplicate = creation.duplicate
    if duplicate is None:
        return Failure(
            "PDS-01",
            "createAccount output carries no DID",
            f"{creation.created.case}: no did in the response; nothing to compare against",
            (creation.created.response,),
        )
    problem = _xrpc_refusal_problem(duplicate, status=400)
    if problem is None:
        body = json_body(duplicate.response)
        message = body.get("message") if isinstance(body, dict) else None
        if isinstance(message, str) and message.strip():
            return None
        problem = f"{duplicate.case}: refused with 400 but without a message saying why"
    return Failure(
        "PDS-01",
        "a handle already taken is not refused with a clear 400",
        problem,
        (duplicate.response,),
    )


# --- PDS-02 ---------------------------------------------------------------------------------


def _same_url(a: str, b: str) -> bool:
    return a.rstrip("/") == b.rstrip("/")


def _did_document_problems(
    document: Mapping[str, Any], did: str, handle: str, pds_url: str
) -> Iterable[str]:
    if document.get("id") != did:
        yield f"id is {document.get('id')!r}, expected {did}"
    aka = document.get("alsoKnownAs")
    if not isinstance(aka, list) or f"at://{handle}" not in aka:
        yield f"alsoKnownAs {aka!r} lacks at://{handle}"
    method = _atproto_method(document, did)
    if method is None:
        yield "no verificationMethod #atproto"
    else:
        if method.get("type") != "Multikey":
            yield f"#atproto has type {method.get('type')!r}, expected Multikey"
        if not isinstance(method.get("publicKeyMultibase"), str):
            yield "#atproto has no publicKeyMultibase"
    services = [
        s
        for s in document.get("service") or []
        if isinstance(s, Mapping) and s.get("id") in ("#atproto_pds", f"{did}#atproto_pds")
    ]
    if not services:
        yield "no service #atproto_pds"
    else:
        service = services[0]
        if service.get("type") != "AtprotoPersonalDataServer":
            yield (
                f"#atproto_pds has type {service.get('type')!r}, expected AtprotoPersonalDataServer"
            )
        endpoint = service.get("serviceEndpoint")
        if not isinstance(endpoint, str) or not _same_url(endpoint, pds_url):
            yield f"#atproto_pds serviceEndpoint is {endpoint!r}, expected the PDS URL {pds_url}"


def check_did_document(probes: IdentityProbes, pds_url: str) -> Failure | None:
    """PDS-02: ``GET <directory>/<did>`` returns the DID document: id, ``alsoKnownAs``
    ``at://<handle>``, the ``#atproto`` Multikey and the ``#atproto_pds`` service at the PDS."""
    probe = probes.did_document
    document = _did_document(probe)
    if document is None:
        return Failure(
            "PDS-02",
            "the DID directory does not return the DID document",
            f"{probe.case}: expected 200 with a JSON DID document, "
            f"got {describe_response(probe.response)}",
            (probe.response,),
        )
    problems = list(_did_document_problems(document, probes.did, probes.handle, pds_url))
    if not problems:
        return None
    return Failure(
        "PDS-02",
        "DID document lacks the #atproto key, the #atproto_pds service or the handle",
        f"{probe.case}: " + "; ".join(problems),
        (probe.response,),
    )


def check_resolve_handle(probes: IdentityProbes) -> Failure | None:
    """PDS-02: ``com.atproto.identity.resolveHandle`` resolves the handle to the account's DID."""
    probe = probes.resolve_handle
    body = body_of(probe.response)
    if body is not None and body.get("did") == probes.did:
        return None
    got = f"did {body.get('did')!r}" if body is not None else describe_response(probe.response)
    return Failure(
        "PDS-02",
        "resolveHandle does not resolve the handle to its DID",
        f"{probe.case}: expected 200 with did {probes.did}, got {got}",
        (probe.response,),
    )


def check_well_known_did(probes: IdentityProbes) -> Failure | None:
    """PDS-02: ``/.well-known/atproto-did`` (asked for the handle's host) answers the DID."""
    probe = probes.well_known
    response = probe.response
    text = response.text.strip() if response.status_code == 200 else None
    if text == probes.did:
        return None
    got = "another DID or text" if text is not None else describe_response(response)
    return Failure(
        "PDS-02",
        "/.well-known/atproto-did does not answer the handle's DID",
        f"{probe.case}: expected 200 with the body {probes.did}, got {got}",
        (response,),
    )


def check_unknown_handle(probes: IdentityProbes) -> Failure | None:
    """PDS-02: resolving a handle nobody has → an XRPC error (4xx), never a 5xx."""
    checked = NegativeProbes(probes.resolve_handle, (probes.unknown_handle,))
    if (failure := control_failure("PDS-02", checked.control)) is not None:
        return failure
    problem = _xrpc_refusal_problem(probes.unknown_handle, status=None)
    if problem is None:
        return None
    return Failure(
        "PDS-02",
        "an unknown handle is not answered with an XRPC error",
        problem,
        (probes.unknown_handle.response,),
    )


# --- PDS-03 ---------------------------------------------------------------------------------


def _session_problems(probe: Probe, did: str, handle: str) -> Iterable[str]:
    body = body_of(probe.response)
    if body is None:
        yield f"{probe.case}: expected 200, got {describe_response(probe.response)}"
        return
    if body.get("did") != did:
        yield f"{probe.case}: did is {body.get('did')!r}, expected {did}"
    if not isinstance(body.get("handle"), str) or body["handle"].lower() != handle.lower():
        yield f"{probe.case}: handle is {body.get('handle')!r}, expected {handle}"
    for name in ("accessJwt", "refreshJwt"):
        if not isinstance(body.get(name), str) or not body[name]:
            yield f"{probe.case}: {name} is missing"


def check_session_login(probes: SessionProbes) -> Failure | None:
    """PDS-03: createSession with the handle and with the DID (+ password) opens a session."""
    problems = [
        *_session_problems(probes.by_handle, probes.did, probes.handle),
        *_session_problems(probes.by_did, probes.did, probes.handle),
    ]
    if not problems:
        return None
    return Failure(
        "PDS-03",
        "createSession with a correct identifier and password does not open a session",
        "; ".join(problems),
        (probes.by_handle.response, probes.by_did.response),
    )


def check_wrong_password(probes: SessionProbes) -> Failure | None:
    """PDS-03: a wrong password → 401 ``AuthenticationRequired``."""
    if (failure := control_failure("PDS-03", probes.by_handle)) is not None:
        return failure
    response = probes.wrong_password.response
    if response.status_code == 401 and _xrpc_error(response) == AUTHENTICATION_REQUIRED:
        return None
    return Failure(
        "PDS-03",
        "wrong password not refused with 401 AuthenticationRequired",
        f"{probes.wrong_password.case}: expected 401 with error {AUTHENTICATION_REQUIRED!r}, "
        f"got {describe_response(response)}",
        (response,),
    )


def check_get_session(probes: SessionProbes) -> Failure | None:
    """PDS-03: getSession with the access token returns the account's did and handle."""
    if (failure := control_failure("PDS-03", probes.by_handle)) is not None:
        return failure
    probe = probes.get_session
    if probe is None:
        return refused("PDS-03", "createSession gave no usable session", probes.by_handle)
    body = body_of(probe.response)
    if (
        body is not None
        and body.get("did") == probes.did
        and (
            isinstance(body.get("handle"), str) and body["handle"].lower() == probes.handle.lower()
        )
    ):
        return None
    got = (
        f"did {body.get('did')!r}, handle {body.get('handle')!r}"
        if body is not None
        else describe_response(probe.response)
    )
    return Failure(
        "PDS-03",
        "getSession does not return the session's did and handle",
        f"{probe.case}: expected 200 with did {probes.did} and handle {probes.handle}, got {got}",
        (probe.response,),
    )


def check_refresh_session(probes: SessionProbes) -> Failure | None:
    """PDS-03: refreshSession gives a new session whose access token works.

    Whether the consumed refresh token still works is not judged: real PDSes allow a grace
    period for reuse; the suite records what it observed as a measurement."""
    if (failure := control_failure("PDS-03", probes.by_did)) is not None:
        return failure
    if probes.refresh is None:
        return refused("PDS-03", "createSession gave no usable session", probes.by_did)
    problems = list(_session_problems(probes.refresh, probes.did, probes.handle))
    responses = [probes.refresh.response]
    if probes.refreshed_get_session is not None:
        responses.append(probes.refreshed_get_session.response)
        if not is_success(probes.refreshed_get_session.response):
            problems.append(
                f"{probes.refreshed_get_session.case}: expected 200, "
                f"got {describe_response(probes.refreshed_get_session.response)}"
            )
    if not problems:
        return None
    return Failure(
        "PDS-03",
        "refreshSession does not give a working session",
        "; ".join(problems),
        tuple(responses),
    )


def check_app_password(probes: AppPasswordProbes) -> Failure | None:
    """PDS-03: createAppPassword returns a password that opens a working session."""
    created = probes.created
    body = body_of(created.response)
    if body is None:
        return refused("PDS-03", "createAppPassword was refused", created)
    if body.get("name") != probes.name or not isinstance(body.get("password"), str):
        return Failure(
            "PDS-03",
            "createAppPassword output lacks the name or the password",
            f"{created.case}: expected name {probes.name!r} and a password",
            (created.response,),
        )
    failure = first_refused("PDS-03", (probes.login, probes.get_session))
    if failure is not None:
        return Failure(
            "PDS-03",
            "the app password does not open a working session",
            failure.message,
            failure.responses,
        )
    login_body = body_of(probes.login.response) if probes.login is not None else None
    if login_body is None or login_body.get("did") != probes.did:
        return Failure(
            "PDS-03",
            "the app-password session is not the account's",
            f"expected did {probes.did} in the app-password session",
            () if probes.login is None else (probes.login.response,),
        )
    return None


# --- PDS-04 ---------------------------------------------------------------------------------


def _b64url_decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def _jwt_parts(token: str) -> tuple[dict[str, Any], dict[str, Any], bytes, bytes] | None:
    """(header, payload, signing input, signature) of a compact JWS, without verifying."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        header = json.loads(_b64url_decode(parts[0]))
        payload = json.loads(_b64url_decode(parts[1]))
        signature = _b64url_decode(parts[2])
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(header, dict) or not isinstance(payload, dict):
        return None
    return header, payload, f"{parts[0]}.{parts[1]}".encode("ascii"), signature


def _service_claim_problems(
    probe: Probe, probes: ServiceAuthProbes, lxm: str | None
) -> Iterable[str]:
    token = token_of(probe)
    if token is None:
        yield f"{probe.case}: expected 200 with a token, got {describe_response(probe.response)}"
        return
    parts = _jwt_parts(token)
    if parts is None:
        yield f"{probe.case}: the token is not a compact JWT"
        return
    _header, claims, _input, _sig = parts
    if claims.get("iss") != probes.did:
        yield f"{probe.case}: iss is {claims.get('iss')!r}, expected the user's DID {probes.did}"
    if claims.get("aud") != probes.aud:
        yield f"{probe.case}: aud is {claims.get('aud')!r}, expected {probes.aud!r}"
    exp, iat = claims.get("exp"), claims.get("iat")
    if not isinstance(exp, int) or isinstance(exp, bool):
        yield f"{probe.case}: exp is {exp!r}, expected an integer"
    elif isinstance(iat, int) and not isinstance(iat, bool):
        if not 0 < exp - iat <= SERVICE_AUTH_DEFAULT_TTL_S:
            yield f"{probe.case}: exp - iat is {exp - iat} s, expected at most 60 s by default"
    elif exp - probes.requested_at > SERVICE_AUTH_DEFAULT_TTL_S + CLOCK_SLACK_S:
        yield (
            f"{probe.case}: exp is {exp - probes.requested_at:.0f} s ahead, expected at most "
            "60 s by default"
        )
    if lxm is not None and claims.get("lxm") != lxm:
        yield f"{probe.case}: lxm is {claims.get('lxm')!r}, expected {lxm!r}"


def check_service_auth_claims(probes: ServiceAuthProbes) -> Failure | None:
    """PDS-04: the service JWT has ``iss`` = the user's DID, ``aud`` as asked, ``exp`` at most
    60 s ahead by default, and ``lxm`` when asked for."""
    problems = [
        *_service_claim_problems(probes.plain, probes, None),
        *_service_claim_problems(probes.with_lxm, probes, probes.lxm),
    ]
    if not problems:
        return None
    return Failure(
        "PDS-04",
        "service auth token claims are wrong",
        "; ".join(problems),
        (probes.plain.response, probes.with_lxm.response),
    )


class SignatureCheckBroken(RuntimeError):
    """The verifier accepted a tampered payload: the harness, not the target, is wrong."""


def _signature_valid(did_key: str, signing_input: bytes, signature: bytes) -> bool:
    try:
        return bool(verify_signature(did_key, signing_input, signature))
    except Exception:  # the SDK raises for malformed keys or signatures
        return False


def service_token_verifies(token: str, did_key: str) -> bool:
    """Whether a service JWT's signature verifies against ``did_key`` (JOSE r||s, low-S).

    Raises ``SignatureCheckBroken`` when a tampered copy verifies too (the check's own sanity).
    """
    parts = _jwt_parts(token)
    if parts is None:
        return False
    _header, _payload, signing_input, signature = parts
    valid = _signature_valid(did_key, signing_input, signature)
    if valid and _signature_valid(did_key, signing_input + b"x", signature):
        raise SignatureCheckBroken("a tampered service-auth payload verified; cannot judge")
    return valid


def check_service_auth_signature(probes: ServiceAuthProbes) -> Failure | None:
    """PDS-04: the service JWT's signature verifies against the DID document's ``#atproto``
    key, with the JWT ``alg`` of that key (ES256K for secp256k1, ES256 for P-256)."""
    did_key = _did_key(probes.did_document)
    if did_key is None:
        return Failure(
            "PDS-04",
            "no #atproto key to verify service auth tokens with",
            f"{probes.did_document.case}: got {describe_response(probes.did_document.response)}",
            (probes.did_document.response,),
        )
    problems: list[str] = []
    responses: list[httpx.Response] = []
    for probe in (probes.plain, probes.with_lxm):
        token = token_of(probe)
        if token is None:
            problems.append(
                f"{probe.case}: expected 200 with a token, got {describe_response(probe.response)}"
            )
            responses.append(probe.response)
            continue
        parts = _jwt_parts(token)
        try:
            key_alg = parse_multikey(did_key.removeprefix("did:key:")).jwt_alg
        except Exception:
            key_alg = None
        if parts is not None and key_alg is not None and parts[0].get("alg") != key_alg:
            problems.append(
                f"{probe.case}: alg is {parts[0].get('alg')!r}, expected {key_alg} for the "
                "#atproto key"
            )
            responses.append(probe.response)
        if not service_token_verifies(token, did_key):
            problems.append(
                f"{probe.case}: the signature does not verify against the DID document's "
                "#atproto key"
            )
            responses.append(probe.response)
    if not problems:
        return None
    return Failure(
        "PDS-04",
        "service auth token is not signed with the repo key of the DID document",
        "; ".join(problems),
        (*responses, probes.did_document.response),
    )


# --- PDS-05 ---------------------------------------------------------------------------------


def _write_problem(probe: Probe | None, did: str, collection: str) -> str | None:
    if probe is None:
        return None
    body = body_of(probe.response)
    if body is None:
        return f"{probe.case}: expected 200, got {describe_response(probe.response)}"
    uri = body.get("uri")
    if "uri" in body or "cid" in body:
        if not isinstance(uri, str) or not uri.startswith(f"at://{did}/{collection}/"):
            return f"{probe.case}: uri {uri!r} is not at://{did}/{collection}/<rkey>"
        if not isinstance(body.get("cid"), str):
            return f"{probe.case}: no record cid"
    return None


def check_record_writes(crud: RecordCrud) -> Failure | None:
    """PDS-05: createRecord, putRecord (create and update), applyWrites and deleteRecord
    succeed, answering the record's at-uri and CID."""
    writes = (
        crud.created,
        crud.put_created,
        crud.put_updated,
        crud.applied,
        crud.removed_create,
        crud.removed_delete,
    )
    problems = [p for w in writes if (p := _write_problem(w, crud.did, crud.collection))]
    if crud.applied is not None and is_success(crud.applied.response):
        body = body_of(crud.applied.response) or {}
        results = body.get("results")
        if results is not None and (not isinstance(results, list) or len(results) != 3):
            problems.append(f"{crud.applied.case}: results is not a list of the 3 write results")
    if not problems:
        return None
    return Failure(
        "PDS-05",
        "record writes fail",
        "; ".join(problems),
        tuple(w.response for w in writes if w is not None),
    )


def _listed_records(pages: Sequence[Probe]) -> dict[str, Any] | None:
    """rkey → value over every page of listRecords; None when a page was refused."""
    found: dict[str, Any] = {}
    for page in pages:
        body = body_of(page.response)
        if body is None or not isinstance(body.get("records"), list):
            return None
        for record in body["records"]:
            if isinstance(record, dict) and isinstance(record.get("uri"), str):
                found[record["uri"].rsplit("/", 1)[-1]] = record.get("value")
    return found


def check_record_reads(crud: RecordCrud) -> Failure | None:
    """PDS-05: getRecord and listRecords return what was written, as written; deleted records
    are gone (getRecord → an XRPC error)."""
    if failure := first_refused("PDS-05", (crud.created, crud.put_created, crud.applied)):
        return failure
    problems: list[str] = []
    responses: list[httpx.Response] = []
    read = crud.read_created
    if read is not None:
        body = body_of(read.response)
        if body is None or body.get("value") != dict(crud.created_value):
            problems.append(f"{read.case}: the value read back is not the value written")
            responses.append(read.response)
        elif body.get("cid") != cid_of(crud.created.response):
            problems.append(f"{read.case}: cid differs from the one createRecord answered")
            responses.append(read.response)
    if crud.read_removed is not None:
        if problem := _xrpc_refusal_problem(crud.read_removed, status=None):
            problems.append(problem)
            responses.append(crud.read_removed.response)
    listed = _listed_records(crud.listed)
    if listed is None:
        problems.append("listRecords of the collection was refused")
        responses.extend(p.response for p in crud.listed)
    else:
        for rkey, value in crud.values.items():
            if rkey not in listed:
                problems.append(f"listRecords lacks the record {rkey}")
            elif listed[rkey] != dict(value):
                problems.append(f"listRecords shows {rkey} with another value than written")
        for rkey in crud.gone:
            if rkey in listed:
                problems.append(f"listRecords still shows the deleted record {rkey}")
        if problems and crud.listed:
            responses.append(crud.listed[0].response)
    if not problems:
        return None
    return Failure(
        "PDS-05",
        "records read back differ from what was written",
        "; ".join(problems),
        tuple(responses),
    )


def check_describe_repo(crud: RecordCrud, handle: str) -> Failure | None:
    """PDS-05: describeRepo names the repo's DID and handle and lists the collection written."""
    probe = crud.described
    body = body_of(probe.response)
    if body is None:
        return refused("PDS-05", "describeRepo was refused", probe)
    problems: list[str] = []
    if body.get("did") != crud.did:
        problems.append(f"did is {body.get('did')!r}, expected {crud.did}")
    if not isinstance(body.get("handle"), str) or body["handle"].lower() != handle.lower():
        problems.append(f"handle is {body.get('handle')!r}, expected {handle}")
    collections = body.get("collections")
    if not isinstance(collections, list) or crud.collection not in collections:
        problems.append(f"collections does not list {crud.collection}")
    if not problems:
        return None
    return Failure(
        "PDS-05",
        "describeRepo does not describe the repo",
        f"{probe.case}: " + "; ".join(problems),
        (probe.response,),
    )


def check_commit_revs(sequence: CommitSequence) -> Failure | None:
    """PDS-05: every write makes a commit whose rev is a TID later than the one before, and
    getLatestCommit answers that commit (the write's own ``commit`` when it names one)."""
    probes = (sequence.before, *sequence.writes, *sequence.after)
    if failure := first_refused("PDS-05", probes):
        return failure
    problems: list[str] = []
    revs: list[str] = []
    for probe in (sequence.before, *sequence.after):
        body = body_of(probe.response) or {}
        rev = body.get("rev")
        if not isinstance(rev, str) or not is_valid_tid(rev):
            problems.append(f"{probe.case}: rev {rev!r} is not a TID")
        else:
            revs.append(rev)
    if not problems:
        for earlier, later, probe in zip(revs, revs[1:], sequence.after, strict=False):
            if not later > earlier:
                problems.append(f"{probe.case}: rev {later} is not later than {earlier}")
    for write, after in zip(sequence.writes, sequence.after, strict=True):
        commit = (body_of(write.response) or {}).get("commit")
        latest = body_of(after.response) or {}
        if isinstance(commit, dict) and (
            commit.get("rev") != latest.get("rev") or commit.get("cid") != latest.get("cid")
        ):
            problems.append(
                f"{after.case}: cid/rev {latest.get('cid')}/{latest.get('rev')} differ from "
                f"the write's commit {commit.get('cid')}/{commit.get('rev')}"
            )
    if not problems:
        return None
    return Failure(
        "PDS-05",
        "commit revs are not increasing TIDs, or getLatestCommit does not match the writes",
        "; ".join(problems),
        tuple(p.response for p in probes),
    )


def proof_verification_level(probes: RecordProofProbes) -> str:
    """How far the ``sync.getRecord`` CAR verified: ``signature-verified``, ``cid-only`` or
    ``unverifiable`` (for the ``repo-verification-level`` measurement)."""
    did_key = _did_key(probes.did_document)
    if probes.proof is None or probes.rkey is None or car_response_problem(probes.proof):
        return "unverifiable"
    try:
        proof = verify_record_proof(
            probes.proof.response.content, probes.did, probes.collection, probes.rkey, did_key
        )
    except (CarInvalid, KeyError, ValueError):
        return "unverifiable"
    return proof.commit.level.value


def check_record_proof(probes: RecordProofProbes) -> Failure | None:
    """PDS-05: the ``sync.getRecord`` CAR verifies: every block matches its CID, the MST path
    leads to the record written (same CID and value), and the commit signature verifies
    against the DID document's key."""
    if (failure := control_failure("PDS-05", probes.write)) is not None:
        return failure
    responses = tuple(p.response for p in (probes.proof, probes.did_document) if p is not None)
    if problem := car_response_problem(probes.proof):
        return Failure("PDS-05", "sync.getRecord does not serve a CAR", problem, responses)
    assert probes.proof is not None and probes.rkey is not None
    did_key = _did_key(probes.did_document)
    try:
        proof = verify_record_proof(
            probes.proof.response.content, probes.did, probes.collection, probes.rkey, did_key
        )
    except (CarInvalid, KeyError, ValueError) as exc:
        return Failure(
            "PDS-05",
            "record proof CAR does not verify",
            f"{probes.proof.case}: {car_error(exc)}",
            responses,
        )
    problems = list(proof.commit.problems)
    if proof.commit.level is not VerificationLevel.SIGNATURE_VERIFIED and not problems:
        problems.append("the commit signature was not verified")
    if proof.record_cid is None:
        problems.append("the MST in the CAR does not hold the record")
    elif proof.record_cid.encode() != cid_of(probes.write.response):
        problems.append("the record CID in the proof is not the one createRecord answered")
    elif proof.value != dict(probes.value):
        problems.append("the record block in the proof is not the value written")
    if not problems:
        return None
    return Failure(
        "PDS-05",
        "record proof CAR does not verify against the DID document",
        f"{probes.proof.case}: " + "; ".join(problems),
        responses,
    )


def check_repo_export(probes: RepoExportProbes) -> Failure | None:
    """PDS-05: the ``sync.getRepo`` CAR verifies fully (CIDs, a complete MST, the commit
    signature against the DID document's key), holds every record written with its CID, and
    its commit is the one getLatestCommit names."""
    if failure := first_refused("PDS-05", (probes.write, probes.latest)):
        return failure
    responses = (probes.export.response, probes.did_document.response)
    if problem := car_response_problem(probes.export):
        return Failure("PDS-05", "sync.getRepo does not serve a CAR", problem, responses)
    did_key = _did_key(probes.did_document)
    try:
        contents = verify_repo(probes.export.response.content, probes.did, did_key)
    except (CarInvalid, KeyError, ValueError) as exc:
        return Failure(
            "PDS-05",
            "repo export CAR does not verify",
            f"{probes.export.case}: {car_error(exc)}",
            responses,
        )
    problems = list(contents.commit.problems)
    latest = body_of(probes.latest.response) or {}
    if contents.commit.commit_cid.encode() != latest.get("cid"):
        problems.append(
            f"the exported commit {contents.commit.commit_cid.encode()} is not the one "
            f"getLatestCommit names ({latest.get('cid')})"
        )
    if contents.commit.commit.get("rev") != latest.get("rev"):
        problems.append(
            f"the exported commit's rev {contents.commit.commit.get('rev')} is not "
            f"getLatestCommit's ({latest.get('rev')})"
        )
    results = (body_of(probes.write.response) or {}).get("results")
    written: dict[str, str | None] = {rkey: None for rkey in probes.rkeys}
    if isinstance(results, list):
        for result in results:
            if isinstance(result, dict) and isinstance(result.get("uri"), str):
                written[result["uri"].rsplit("/", 1)[-1]] = result.get("cid")
    for rkey, cid in written.items():
        found = contents.records.get(f"{probes.collection}/{rkey}")
        if found is None:
            problems.append(f"the export lacks the record {probes.collection}/{rkey}")
        elif cid is not None and found.encode() != cid:
            problems.append(f"the export holds {rkey} with another CID than was written")
    if not problems:
        return None
    return Failure(
        "PDS-05",
        "repo export does not verify or lacks records written",
        f"{probes.export.case}: " + "; ".join(problems),
        (*responses, probes.latest.response),
    )


def check_blob_round_trip(probes: BlobProbes) -> Failure | None:
    """PDS-05: uploadBlob answers a blob reference; once a record references it, listBlobs
    lists it and getBlob returns the bytes uploaded."""
    upload = probes.upload
    blob = blob_ref(upload.response)
    cid = blob_cid(blob)
    if blob is None or cid is None:
        return Failure(
            "PDS-05",
            "uploadBlob does not answer a blob reference",
            f'{upload.case}: expected 200 with {{"blob": {{"ref": {{"$link": ...}}}}}}, '
            f"got {describe_response(upload.response)}",
            (upload.response,),
        )
    problems: list[str] = []
    if blob.get("$type") != "blob":
        problems.append(f"{upload.case}: blob $type is {blob.get('$type')!r}, expected 'blob'")
    if blob.get("size") != len(probes.data):
        problems.append(f"{upload.case}: size {blob.get('size')!r}, expected {len(probes.data)}")
    if not isinstance(blob.get("mimeType"), str):
        problems.append(f"{upload.case}: no mimeType")
    if failure := first_refused("PDS-05", (probes.record, *probes.listed)):
        return Failure("PDS-05", "blob round trip fails", failure.message, failure.responses)
    listed: set[str] = set()
    for page in probes.listed:
        cids = (body_of(page.response) or {}).get("cids")
        listed.update(c for c in cids or [] if isinstance(c, str))
    if cid not in listed:
        problems.append("sync.listBlobs does not list the blob a record references")
    fetched = probes.fetched
    if fetched is None or fetched.response.status_code != 200:
        got = "nothing" if fetched is None else describe_response(fetched.response)
        problems.append(f"sync.getBlob: expected 200 with the bytes, got {got}")
    elif fetched.response.content != probes.data:
        problems.append("sync.getBlob returns other bytes than were uploaded")
    if not problems:
        return None
    responses = [upload.response, *(p.response for p in probes.listed)]
    if fetched is not None:
        responses.append(fetched.response)
    return Failure("PDS-05", "blob round trip fails", "; ".join(problems), tuple(responses))


def check_unknown_collection(probes: UnknownCollectionProbes) -> Failure | None:
    """PDS-05: a record of a collection without a lexicon is stored and read back as-is."""
    write = probes.write
    if not is_success(write.response):
        return Failure(
            "PDS-05",
            "record of an unknown collection refused",
            f"{write.case}: expected 200 (stored as-is, as real PDSes do), "
            f"got {describe_response(write.response)}",
            (write.response,),
        )
    read = probes.read
    if read is None:
        return Failure(
            "PDS-05",
            "record of an unknown collection has no at-uri",
            f"{write.case}: the answer names no at://<did>/<collection>/<rkey>",
            (write.response,),
        )
    body = body_of(read.response)
    if body is not None and body.get("value") == dict(probes.value):
        return None
    got = "another value" if body is not None else describe_response(read.response)
    return Failure(
        "PDS-05",
        "record of an unknown collection not stored as-is",
        f"{read.case}: expected the value written, got {got}",
        (write.response, read.response),
    )


def check_lexicon_validation(probes: LexiconValidationProbes) -> Failure | None:
    """PDS-05: a record that violates a lexicon the PDS knows is refused with 400."""
    if (failure := control_failure("PDS-05", probes.valid)) is not None:
        return failure
    problem = _xrpc_refusal_problem(probes.invalid, status=400)
    if problem is None:
        return None
    return Failure(
        "PDS-05",
        f"lexicon-invalid {probes.collection} record accepted",
        problem,
        (probes.invalid.response,),
    )
