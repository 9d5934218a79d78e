"""CORS probes (CORS-01..03): preflights, and actual responses of every status class, sent the
way a browser sends them (with an ``Origin``). ``checks.cors`` judges what comes back.

The origins used are plain strings in request headers: no traffic goes to them. CORS-04 (the
whole DPoP flow in a real browser) lives in ``conformance.browser``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import httpx

# What a browser ATProto client asks for in its preflights (identity.md, CORS-01).
REQUESTED_HEADERS = (
    "authorization",
    "dpop",
    "content-type",
    "atproto-accept-labelers",
    "atproto-proxy",
)
REQUIRED_METHODS = ("GET", "POST")
# What it must be able to read from every actual response (CORS-03).
EXPOSED_HEADERS = (
    "dpop-nonce",
    "www-authenticate",
    "ratelimit-limit",
    "ratelimit-policy",
    "ratelimit-remaining",
    "ratelimit-reset",
)
# Arbitrary web-app origins ("from any origin"); never contacted.
ORIGIN = "https://app.atconform.example"
OTHER_ORIGIN = "http://localhost:5173"

# Status classes of actual responses, as CORS-03 names them.
CLASS_2XX = "2xx"
CLASS_401 = "401"
CLASS_404 = "404"
CLASS_429 = "429"
CLASS_5XX = "5xx"
REQUIRED_CLASSES = (CLASS_2XX, CLASS_401, CLASS_404)


def status_class(status: int) -> str:
    """The class CORS-03 files a status under: ``2xx``, ``401``, ``404``, ``429``, ``5xx``, or
    the status itself for others (``400``, ``403``, ``3xx``...)."""
    if 200 <= status < 300:
        return CLASS_2XX
    if status >= 500:
        return CLASS_5XX
    return str(status)


def header_list(response: httpx.Response, name: str) -> tuple[str, ...]:
    """A comma-separated list header (every occurrence), items stripped and lower-cased."""
    items: list[str] = []
    for value in response.headers.get_list(name):
        items.extend(item.strip().lower() for item in value.split(","))
    return tuple(item for item in items if item)


# --- CORS-01 / 02 ----------------------------------------------------------------------------


@dataclass(frozen=True)
class PreflightRequest:
    """One preflight to send: the URL, the method and headers the "page" asks for, its origin."""

    url: str
    method: str
    origin: str = ORIGIN
    headers: tuple[str, ...] = REQUESTED_HEADERS

    @property
    def case(self) -> str:
        path = httpx.URL(self.url).path
        return f"preflight OPTIONS {path} from {self.origin} for {self.method}"


@dataclass(frozen=True)
class PreflightProbe:
    request: PreflightRequest
    response: httpx.Response

    @property
    def case(self) -> str:
        return self.request.case


@dataclass(frozen=True)
class PreflightProbes:
    probes: tuple[PreflightProbe, ...]


def send_preflight(http: httpx.Client, request: PreflightRequest) -> httpx.Response:
    """An ``OPTIONS`` exactly as Chromium sends it for a non-simple cross-origin request."""
    return http.options(
        request.url,
        headers={
            "Origin": request.origin,
            "Access-Control-Request-Method": request.method,
            "Access-Control-Request-Headers": ",".join(request.headers),
        },
    )


def probe_preflights(http: httpx.Client, requests: Sequence[PreflightRequest]) -> PreflightProbes:
    return PreflightProbes(tuple(PreflightProbe(r, send_preflight(http, r)) for r in requests))


def default_preflights(query_url: str, procedure_url: str) -> tuple[PreflightRequest, ...]:
    """A GET preflight for a query and a POST preflight for a procedure, from two origins."""
    return (
        PreflightRequest(query_url, "GET", ORIGIN),
        PreflightRequest(procedure_url, "POST", OTHER_ORIGIN),
    )


# --- CORS-03 ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ActualRequest:
    """One actual (non-preflight) request as a browser page would make it.

    ``expected`` is the status class the request is meant to reach (what the suite aims for);
    the check files each response under the class it actually got. ``send`` gets the client and
    the headers to add (``Origin``) and returns the response; it must not put a secret in
    ``case``.
    """

    case: str
    expected: str
    send: Callable[[httpx.Client, dict[str, str]], httpx.Response]


@dataclass(frozen=True)
class ActualProbe:
    case: str
    expected: str
    response: httpx.Response

    @property
    def status_class(self) -> str:
        return status_class(self.response.status_code)


@dataclass(frozen=True)
class ActualResponseProbes:
    """The actual responses gathered, and the status classes deliberately not probed (with
    the reason, for the report)."""

    origin: str
    probes: tuple[ActualProbe, ...]
    not_probed: tuple[tuple[str, str], ...] = ()

    @property
    def classes(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(p.status_class for p in self.probes))


def probe_actual_responses(
    http: httpx.Client,
    requests: Sequence[ActualRequest],
    *,
    origin: str = ORIGIN,
    not_probed: Sequence[tuple[str, str]] = (),
) -> ActualResponseProbes:
    """Send every request with ``Origin: <origin>``; returns what came back."""
    headers = {"Origin": origin}
    probes = tuple(ActualProbe(r.case, r.expected, r.send(http, dict(headers))) for r in requests)
    return ActualResponseProbes(origin, probes, tuple(not_probed))


def get_request(
    case: str,
    expected: str,
    url: str,
    *,
    auth: httpx.Auth | None = None,
    extra_headers: dict[str, str] | None = None,
) -> ActualRequest:
    """A GET of ``url`` (optionally with an httpx auth flow and fixed extra headers)."""

    def send(http: httpx.Client, headers: dict[str, str]) -> httpx.Response:
        merged = {**(extra_headers or {}), **headers}
        if auth is None:
            return http.get(url, headers=merged)
        return http.get(url, headers=merged, auth=auth)

    return ActualRequest(case, expected, send)


def post_json_request(
    case: str, expected: str, url: str, body: object, *, auth: httpx.Auth | None = None
) -> ActualRequest:
    """A JSON POST of ``body`` to ``url`` (optionally with an httpx auth flow)."""

    def send(http: httpx.Client, headers: dict[str, str]) -> httpx.Response:
        if auth is None:
            return http.post(url, json=body, headers=headers)
        return http.post(url, json=body, headers=headers, auth=auth)

    return ActualRequest(case, expected, send)
