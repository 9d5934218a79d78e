"""XRPC checks (XRPC-01..04): unknown methods, the error envelope, lexicon-violating input, and
output schemas.

``check_error_envelope`` applies to *any* error response a suite has in hand; the lexicon
catalog (``lexicons.load_catalog()``) supplies the error names each method declares and the
output schemas.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import httpx

from conformance.checks.base import Failure
from conformance.scenarios.base import describe_response, dpop_challenge, json_body
from conformance.scenarios.xrpc import (
    CallProbe,
    LexiconViolationProbes,
    UnknownMethodProbes,
    nsid_of,
)

if TYPE_CHECKING:
    from lexicons import Catalog

GENERIC_ERRORS = frozenset(
    {
        "InvalidRequest",
        "AuthRequired",
        "InvalidToken",
        "ExpiredToken",
        "Forbidden",
        "RateLimitExceeded",
        "MethodNotImplemented",
        "InternalServerError",
        "NotFound",
        "AuthenticationRequired",
    }
)
# OAuth/DPoP error names a resource server may put in the body of a 401 that carries a
# `WWW-Authenticate: DPoP` challenge (real PDSes do).
DPOP_401_ERRORS = frozenset({"use_dpop_nonce", "invalid_dpop_proof", "invalid_token"})
JSON = "application/json"


def media_type(response: httpx.Response) -> str:
    """The response's media type, lower-cased, without parameters ("" when absent)."""
    return response.headers.get("content-type", "").split(";", 1)[0].strip().lower()


def _is_json(response: httpx.Response) -> bool:
    kind = media_type(response)
    return kind == JSON or kind.endswith("+json")


def declared_errors(catalog: Catalog | None, nsid: str | None) -> frozenset[str]:
    """The error names the lexicon declares for ``nsid`` (empty when unknown)."""
    if catalog is None or nsid is None:
        return frozenset()
    method = catalog.method(nsid)
    return frozenset(method.errors) if method is not None else frozenset()


# --- XRPC-01 ---------------------------------------------------------------------------------


def _unknown_method_problem(probe: CallProbe) -> str | None:
    response = probe.response
    body = json_body(response)
    if response.status_code not in (501, 404):
        return f"{probe.case}: expected 501 (or 404), got {describe_response(response)}"
    if media_type(response) == "text/html" or response.content.lstrip()[:1] == b"<":
        return (
            f"{probe.case}: expected a JSON body, got an HTML page ({describe_response(response)})"
        )
    if not _is_json(response) or not isinstance(body, dict):
        return f"{probe.case}: expected a JSON object body, got {describe_response(response)}"
    if body.get("error") != "MethodNotImplemented":
        return f"{probe.case}: expected error 'MethodNotImplemented', got {body.get('error')!r}"
    return None


def check_unknown_method(probes: UnknownMethodProbes) -> Failure | None:
    """XRPC-01: an unknown NSID → 501 (or 404) ``{"error": "MethodNotImplemented"}``, never HTML."""
    bad = [
        (p, problem) for p in (probes.get, probes.post) if (problem := _unknown_method_problem(p))
    ]
    if not bad:
        return None
    return Failure(
        "XRPC-01",
        "unknown XRPC method not answered with MethodNotImplemented",
        "; ".join(problem for _, problem in bad),
        tuple(p.response for p, _ in bad),
    )


# --- XRPC-02 ---------------------------------------------------------------------------------


def error_envelope_problem(
    response: httpx.Response,
    *,
    nsid: str | None = None,
    catalog: Catalog | None = None,
    extra_names: Iterable[str] = (),
) -> str | None:
    """Why an error response is not a proper XRPC error envelope, or None (also for non-errors)."""
    if response.status_code < 400:
        return None
    nsid = nsid if nsid is not None else nsid_of(response)
    where = (
        f"{response.request.method} {nsid or response.request.url.path} → {response.status_code}"
    )
    if not _is_json(response):
        got = response.headers.get("content-type")
        return f"{where}: expected Content-Type application/json, got {got!r}"
    body = json_body(response)
    if not isinstance(body, dict):
        return f'{where}: expected a JSON object {{"error", "message"}}, got {type(body).__name__}'
    error, message = body.get("error"), body.get("message")
    if not isinstance(error, str) or not error:
        return f"{where}: expected a string 'error' in the body, got {error!r}"
    if not isinstance(message, str):
        return f"{where}: expected a string 'message' in the body, got {type(message).__name__}"
    allowed = GENERIC_ERRORS | declared_errors(catalog, nsid) | frozenset(extra_names)
    if response.status_code == 401 and dpop_challenge(response) is not None:
        allowed |= DPOP_401_ERRORS
    if error not in allowed:
        return (
            f"{where}: error name {error!r} is neither declared by the lexicon for {nsid} "
            "nor a generic XRPC error name"
        )
    return None


def check_error_envelope(
    response: httpx.Response,
    *,
    nsid: str | None = None,
    catalog: Catalog | None = None,
    extra_names: Iterable[str] = (),
) -> Failure | None:
    """XRPC-02: an error response is JSON ``{"error": <Name>, "message": <text>}`` with a name the
    lexicon declares for the method (``nsid``, default: read from the request path) or a generic
    one. Non-error responses pass (not applicable)."""
    problem = error_envelope_problem(response, nsid=nsid, catalog=catalog, extra_names=extra_names)
    if problem is None:
        return None
    return Failure("XRPC-02", "error response is not an XRPC error envelope", problem, (response,))


def check_error_envelopes(
    responses: Iterable[httpx.Response],
    *,
    catalog: Catalog | None = None,
    extra_names: Iterable[str] = (),
) -> Failure | None:
    """XRPC-02 over many responses (each one's NSID read from its request path)."""
    names = tuple(extra_names)
    bad = [
        (r, problem)
        for r in responses
        if (problem := error_envelope_problem(r, catalog=catalog, extra_names=names)) is not None
    ]
    if not bad:
        return None
    return Failure(
        "XRPC-02",
        "error responses are not XRPC error envelopes",
        "; ".join(problem for _, problem in bad),
        tuple(r for r, _ in bad),
    )


# --- XRPC-03 ---------------------------------------------------------------------------------


def _violation_problem(probe: CallProbe, catalog: Catalog | None) -> str | None:
    response = probe.response
    allowed = {"InvalidRequest"} | declared_errors(catalog, probe.call.nsid)
    expected = "400 InvalidRequest" + (" (or a declared error)" if len(allowed) > 1 else "")
    if response.status_code >= 500:
        return (
            f"{probe.case}: expected {expected}, got a server error {describe_response(response)}"
        )
    if response.status_code != 400:
        return f"{probe.case}: expected {expected}, got {describe_response(response)}"
    body = json_body(response)
    error = body.get("error") if isinstance(body, dict) else None
    if error not in allowed:
        return f"{probe.case}: expected {expected}, got 400 with error {error!r}"
    return None


def check_lexicon_violations(
    probes: LexiconViolationProbes, *, catalog: Catalog | None = None
) -> Failure | None:
    """XRPC-03: lexicon-violating input → 400 ``InvalidRequest`` (or a declared error), never 5xx.

    Every valid control call must succeed first, or the rejections prove nothing.
    """
    refused = [p for p in probes.controls if not 200 <= p.response.status_code < 300]
    if refused:
        return Failure(
            "XRPC-03",
            "a valid call was refused, so the rejections prove nothing",
            "; ".join(
                f"control {p.case}: expected 2xx, got {describe_response(p.response)}"
                for p in refused
            ),
            tuple(p.response for p in refused),
        )
    bad = [(p, problem) for p in probes.cases if (problem := _violation_problem(p, catalog))]
    if not bad:
        return None
    crashed = any(p.response.status_code >= 500 for p, _ in bad)
    return Failure(
        "XRPC-03",
        "lexicon-violating input "
        + ("crashed the server (5xx)" if crashed else "not rejected with 400 InvalidRequest"),
        "; ".join(problem for _, problem in bad),
        tuple(p.response for p, _ in bad),
    )


# --- XRPC-04 ---------------------------------------------------------------------------------


def check_output_schema(response: httpx.Response, nsid: str, catalog: Catalog) -> Failure | None:
    """XRPC-04: a 2xx response validates against the lexicon's output for ``nsid``.

    Non-2xx responses pass (not applicable). Raises ``LookupError`` when the catalog has no
    query/procedure lexicon for ``nsid`` (a harness problem, not the target's).
    """
    from lexicons import LexiconValidationError

    if not 200 <= response.status_code < 300:
        return None
    method = catalog.method(nsid)
    if method is None or method.kind == "subscription":
        raise LookupError(f"no query or procedure lexicon for {nsid!r}")
    declared = method.output_encoding
    if declared is None:
        return None
    title = f"{nsid} response does not match its lexicon output"
    if declared.lower() == JSON:
        if not _is_json(response):
            return Failure(
                "XRPC-04",
                title,
                f"expected Content-Type {JSON}, got {response.headers.get('content-type')!r}",
                (response,),
            )
        body = json_body(response)
        try:
            catalog.validate_output(nsid, body)
        except LexiconValidationError as exc:
            return Failure(
                "XRPC-04", title, f"output invalid at {exc.path}: {exc.message}", (response,)
            )
        return None
    if declared != "*/*" and not media_type(response).startswith(
        declared.split(";")[0].strip().lower().rstrip("*")
    ):
        return Failure(
            "XRPC-04",
            title,
            f"expected Content-Type {declared}, got {response.headers.get('content-type')!r}",
            (response,),
        )
    return None
