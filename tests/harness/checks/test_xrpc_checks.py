"""XRPC-01..04: each check passes against a conforming app and fails, with its requirement ID,
against an app that answers wrongly (real HTTP), plus unit tests on hand-made responses."""

from __future__ import annotations

import json

import httpx
import pytest
from fake_resource_server import CREATE_THING, GET_THING, TEST_LEXICONS, Running

from conformance.checks.xrpc import (
    check_error_envelope,
    check_error_envelopes,
    check_lexicon_violations,
    check_output_schema,
    check_unknown_method,
)
from conformance.scenarios.dpop import probe_proof_presence
from conformance.scenarios.xrpc import (
    XrpcCall,
    nsid_of,
    pds_lexicon_controls,
    pds_lexicon_violations,
    probe_lexicon_violations,
    probe_unknown_method,
    send_call,
)
from lexicons import Catalog

DID = "did:plc:abcdefghijklmnopqrstuvwx"

CONTROLS = (
    XrpcCall(GET_THING, "valid id", (("id", DID),)),
    XrpcCall(GET_THING, "valid id and limit", (("id", DID), ("limit", "20"))),
    XrpcCall(CREATE_THING, "valid name", body={"name": "ok"}),
)
VIOLATIONS = (
    XrpcCall(GET_THING, "required param id missing"),
    XrpcCall(GET_THING, "id is not a DID", (("id", "not a did"),)),
    XrpcCall(GET_THING, "limit is not an integer", (("id", DID), ("limit", "abc"))),
    XrpcCall(GET_THING, "limit above the maximum", (("id", DID), ("limit", "1000"))),
    XrpcCall(CREATE_THING, "name longer than maxLength 10", body={"name": "x" * 11}),
    XrpcCall(CREATE_THING, "name is a number", body={"name": 5}),
    XrpcCall(CREATE_THING, "body is not JSON", raw=b"{nope", content_type="application/json"),
)


@pytest.fixture
def catalog() -> Catalog:
    return Catalog(list(TEST_LEXICONS))


def _response(
    status: int,
    body: object = None,
    *,
    content: bytes | None = None,
    headers: dict[str, str] | None = None,
    nsid: str = GET_THING,
) -> httpx.Response:
    request = httpx.Request("GET", f"http://127.0.0.1:1/xrpc/{nsid}")
    all_headers = dict(headers or {})
    if content is None:
        content = json.dumps(body).encode()
        all_headers.setdefault("content-type", "application/json; charset=utf-8")
    return httpx.Response(status, headers=all_headers, content=content, request=request)


# --- XRPC-01 ---------------------------------------------------------------------------------


def test_unknown_method_passes_against_conforming_app(running: Running, http: httpx.Client) -> None:
    with running() as (_server, base):
        probes = probe_unknown_method(http, base)
    assert probes.get.response.status_code == 501
    assert probes.post.call.http_method == "POST"
    assert check_unknown_method(probes) is None


def test_unknown_method_fails_on_html_404(running: Running, http: httpx.Client) -> None:
    with running("html_404") as (_server, base):
        failure = check_unknown_method(probe_unknown_method(http, base))
    assert failure is not None and failure.requirement == "XRPC-01"
    assert "HTML page" in failure.message
    assert len(failure.responses) == 2


def test_unknown_method_wrong_error_name() -> None:
    from conformance.scenarios.xrpc import CallProbe, UnknownMethodProbes

    call = XrpcCall("com.example.atconform.doesNotExist", "unknown")
    good = CallProbe(call, _response(404, {"error": "MethodNotImplemented", "message": "no"}))
    bad = CallProbe(call, _response(501, {"error": "NotFound", "message": "no"}))
    assert check_unknown_method(UnknownMethodProbes(call.nsid, good, good)) is None
    failure = check_unknown_method(UnknownMethodProbes(call.nsid, good, bad))
    assert failure is not None and "'NotFound'" in failure.message


# --- XRPC-02 ---------------------------------------------------------------------------------


def _error_responses(http: httpx.Client, base: str) -> list[httpx.Response]:
    responses = [p.response for p in probe_lexicon_violations(http, base, VIOLATIONS).cases]
    unknown = probe_unknown_method(http, base)
    responses += [unknown.get.response, unknown.post.response]
    return responses


def test_error_envelope_passes_against_conforming_app(
    running: Running, http: httpx.Client, catalog: Catalog
) -> None:
    with running() as (server, base):
        responses = _error_responses(http, base)
        # DPoP 401s carry OAuth error names in the body; allowed with a DPoP challenge
        responses += [p.response for p in probe_proof_presence(http, server.endpoint(base)).cases]
    assert all(r.status_code >= 400 for r in responses)
    assert check_error_envelopes(responses, catalog=catalog) is None


def test_error_envelope_fails_on_non_envelope_errors(
    running: Running, http: httpx.Client, catalog: Catalog
) -> None:
    with running("non_envelope_errors") as (_server, base):
        responses = _error_responses(http, base)
    failure = check_error_envelopes(responses, catalog=catalog)
    assert failure is not None and failure.requirement == "XRPC-02"
    assert "expected a string 'error'" in failure.message
    single = check_error_envelope(responses[0], catalog=catalog)
    assert single is not None and single.requirement == "XRPC-02"


def test_error_envelope_rules(catalog: Catalog) -> None:
    ok = {"error": "InvalidRequest", "message": "bad"}
    assert check_error_envelope(_response(400, ok)) is None
    assert check_error_envelope(_response(200, {"anything": 1})) is None  # not an error: n/a
    # declared by the lexicon for the method
    declared = {"error": "ThingNotFound", "message": "gone"}
    assert check_error_envelope(_response(400, declared), catalog=catalog) is None
    assert check_error_envelope(_response(400, declared)) is not None  # no lexicon: unknown name
    assert (
        check_error_envelope(_response(400, declared, nsid=CREATE_THING), catalog=catalog)
        is not None
    )
    # missing message, wrong types, HTML, wrong content type
    assert check_error_envelope(_response(400, {"error": "InvalidRequest"})) is not None
    assert check_error_envelope(_response(400, {"error": 5, "message": "x"})) is not None
    assert check_error_envelope(_response(400, ["InvalidRequest"])) is not None
    html = _response(500, content=b"<html>oops</html>", headers={"content-type": "text/html"})
    failure = check_error_envelope(html)
    assert failure is not None and "text/html" in failure.message
    text = _response(400, content=json.dumps(ok).encode(), headers={"content-type": "text/plain"})
    assert check_error_envelope(text) is not None
    # OAuth names only on a 401 with a DPoP challenge
    nonce = {"error": "use_dpop_nonce", "message": "need a nonce"}
    challenged = _response(401, nonce, headers={"www-authenticate": 'DPoP error="use_dpop_nonce"'})
    assert check_error_envelope(challenged) is None
    assert check_error_envelope(_response(401, nonce)) is not None
    assert check_error_envelope(_response(400, nonce)) is not None
    # extra names a suite allows
    assert (
        check_error_envelope(
            _response(400, {"error": "Custom", "message": ""}), extra_names=["Custom"]
        )
        is None
    )


# --- XRPC-03 ---------------------------------------------------------------------------------


def test_lexicon_violations_pass_against_conforming_app(
    running: Running, http: httpx.Client, catalog: Catalog
) -> None:
    with running() as (_server, base):
        probes = probe_lexicon_violations(http, base, VIOLATIONS, controls=CONTROLS)
    assert [p.response.status_code for p in probes.controls] == [200, 200, 200]
    assert check_lexicon_violations(probes, catalog=catalog) is None


@pytest.mark.parametrize("fault", ["crash_on_bad_params", "lenient_params"])
def test_lexicon_violations_fail_against_broken_app(
    fault: str, running: Running, http: httpx.Client, catalog: Catalog
) -> None:
    with running(fault) as (_server, base):
        failure = check_lexicon_violations(
            probe_lexicon_violations(http, base, VIOLATIONS, controls=CONTROLS), catalog=catalog
        )
    assert failure is not None and failure.requirement == "XRPC-03"
    if fault == "crash_on_bad_params":
        assert "5xx" in failure.title
        assert "limit is not an integer" in failure.message
        assert all(r.status_code >= 500 for r in failure.responses)
    else:
        assert "got 200" in failure.message


def test_lexicon_violations_control_refused(
    running: Running, http: httpx.Client, catalog: Catalog
) -> None:
    with running("reject_all") as (_server, base):
        failure = check_lexicon_violations(
            probe_lexicon_violations(http, base, VIOLATIONS[:2], controls=CONTROLS[:1]),
            catalog=catalog,
        )
    assert failure is not None and failure.requirement == "XRPC-03"
    assert "valid call was refused" in failure.title


def test_lexicon_violation_declared_error_accepted(catalog: Catalog) -> None:
    from conformance.scenarios.xrpc import CallProbe, LexiconViolationProbes

    call = XrpcCall(GET_THING, "unknown id")
    declared = CallProbe(call, _response(400, {"error": "ThingNotFound", "message": "x"}))
    assert (
        check_lexicon_violations(LexiconViolationProbes((), (declared,)), catalog=catalog) is None
    )
    undeclared = CallProbe(call, _response(400, {"error": "Nope", "message": "x"}))
    failure = check_lexicon_violations(LexiconViolationProbes((), (undeclared,)), catalog=catalog)
    assert failure is not None and "'Nope'" in failure.message
    not_found = CallProbe(call, _response(404, {"error": "NotFound", "message": "x"}))
    assert (
        check_lexicon_violations(LexiconViolationProbes((), (not_found,)), catalog=catalog)
        is not None
    )


def test_pds_violation_list_is_well_formed() -> None:
    from lexicons import load_catalog

    loaded = load_catalog()
    calls = pds_lexicon_violations(DID) + pds_lexicon_controls(DID)
    assert len({c.case for c in calls}) == len(calls)
    for call in calls:
        assert call.nsid.startswith("com.atproto.")
        method = loaded.method(call.nsid)
        if method is not None:  # the bundled lexicon set is still growing
            assert call.http_method == ("GET" if method.kind == "query" else "POST")


# --- XRPC-04 ---------------------------------------------------------------------------------


def test_output_schema_passes_against_conforming_app(
    running: Running, http: httpx.Client, catalog: Catalog
) -> None:
    with running() as (_server, base):
        response = send_call(http, base, CONTROLS[0])
        created = send_call(http, base, CONTROLS[2])
    assert nsid_of(response) == GET_THING
    assert check_output_schema(response, GET_THING, catalog) is None
    assert check_output_schema(created, CREATE_THING, catalog) is None


def test_output_schema_fails_on_missing_field(
    running: Running, http: httpx.Client, catalog: Catalog
) -> None:
    with running("output_missing_field") as (_server, base):
        response = send_call(http, base, CONTROLS[0])
    failure = check_output_schema(response, GET_THING, catalog)
    assert failure is not None and failure.requirement == "XRPC-04"
    assert "count" in failure.message
    assert failure.responses == (response,)


def test_output_schema_rules(catalog: Catalog) -> None:
    good = {"thing": {"id": DID, "count": 3}}
    assert check_output_schema(_response(200, good), GET_THING, catalog) is None
    assert check_output_schema(_response(400, {"x": 1}), GET_THING, catalog) is None  # n/a
    wrong_type = {"thing": {"id": DID, "count": "3"}}
    assert check_output_schema(_response(200, wrong_type), GET_THING, catalog) is not None
    as_text = _response(
        200, content=json.dumps(good).encode(), headers={"content-type": "text/plain"}
    )
    failure = check_output_schema(as_text, GET_THING, catalog)
    assert failure is not None and "text/plain" in failure.message
    with pytest.raises(LookupError):
        check_output_schema(_response(200, good), "com.example.atconform.unknown", catalog)


def test_pds_violations_are_invalid_by_the_harness_own_syntax_rules() -> None:
    from lexicons.syntax import is_valid_handle

    calls = {c.why: c for c in pds_lexicon_violations(DID)}
    handle = dict(calls["repo is a handle longer than 253 characters"].params)["repo"]
    assert len(handle) > 253 and not is_valid_handle(handle)
    assert all(len(label) <= 63 for label in handle.split("."))
    assert not is_valid_handle(dict(calls["handle is not a handle"].params)["handle"])
