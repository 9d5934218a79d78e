"""CORS-01..04: each check passes against a correct app and fails, with exactly its requirement
ID, against an app missing one header (real HTTP; CORS-04 in real headless Chromium)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from cors_fakes import (
    BOOM,
    BROKEN,
    CREATE,
    LIMITED,
    MISSING,
    PROTECTED,
    CorsSettings,
    serve_cors_app,
)

from conformance.browser.flow import (
    STEP_AUTHORIZATION_ONLY,
    STEP_DPOP_ONLY,
    STEP_FIRST,
    STEP_RETRY,
    STEP_SIMPLE,
    BrowserFlowResult,
    BrowserStep,
    NetworkResponse,
    result_from_page,
)
from conformance.browser.page import DpopFlowPage, FlowTarget, page_html
from conformance.browser.runner import (
    CHROMIUM_ENV,
    INSTALL_HINT,
    BrowserUnavailable,
    chromium_context,
    find_chromium,
    run_dpop_flow,
)
from conformance.checks.base import Failure
from conformance.checks.cors import (
    AUTHORIZATION_NOT_ALLOWED,
    CORS_TABLE,
    DPOP_NOT_ALLOWED,
    NONCE_NOT_EXPOSED,
    WWW_AUTHENTICATE_NOT_EXPOSED,
    browser_symptoms,
    check_browser_dpop_flow,
    check_exposed_headers,
    check_preflight,
    check_preflight_max_age,
    missing_allowed_headers,
    missing_exposed_headers,
    preflight_max_age,
)
from conformance.clients.dpop import DpopAuth, DpopKey, NonceStore
from conformance.scenarios.cors import (
    CLASS_5XX,
    CLASS_429,
    EXPOSED_HEADERS,
    REQUESTED_HEADERS,
    ActualRequest,
    default_preflights,
    get_request,
    header_list,
    post_json_request,
    probe_actual_responses,
    probe_preflights,
    status_class,
)

TOKEN = "atconform-test-token.not-a-real.jwt"


def actual_requests(base: str, key: DpopKey) -> list[ActualRequest]:
    protected = f"{base}/xrpc/{PROTECTED}"
    nonce_less = DpopAuth(key, TOKEN, nonces=NonceStore(), max_nonce_retries=0)
    return [
        get_request("unauthenticated query", "2xx", protected),
        post_json_request("procedure", "2xx", f"{base}/xrpc/{CREATE}", {"x": 1}),
        get_request(
            "Authorization without a DPoP proof",
            "401",
            protected,
            extra_headers={"Authorization": f"DPoP {TOKEN}"},
        ),
        get_request("a proof without a nonce", "401", protected, auth=nonce_less),
        get_request("nonexistent record", "404", f"{base}/xrpc/{MISSING}"),
        get_request("over the rate limit", "429", f"{base}/xrpc/{LIMITED}"),
        get_request("server error", "5xx", f"{base}/xrpc/{BOOM}"),
    ]


def run_checks(http: httpx.Client, base: str) -> dict[str, Failure | None]:
    preflights = probe_preflights(
        http, default_preflights(f"{base}/xrpc/{PROTECTED}", f"{base}/xrpc/{CREATE}")
    )
    actual = probe_actual_responses(http, actual_requests(base, DpopKey.generate()))
    return {
        "CORS-01": check_preflight(preflights),
        "CORS-02": check_preflight_max_age(preflights),
        "CORS-03": check_exposed_headers(actual),
    }


def failing(results: dict[str, Failure | None]) -> set[str]:
    for req_id, failure in results.items():
        if failure is not None:
            assert failure.requirement == req_id, failure
    return {req_id for req_id, failure in results.items() if failure is not None}


# --- CORS-01..03 against real HTTP apps ------------------------------------------------------

BROKEN_HTTP: list[tuple[str, CorsSettings, set[str]]] = [
    *(
        (f"{h} not in Allow-Headers", CorsSettings().without_allowed(h), {"CORS-01"})
        for h in REQUESTED_HEADERS
    ),
    ("POST not in Allow-Methods", CorsSettings(allow_methods=("GET", "OPTIONS")), {"CORS-01"}),
    (
        "Allow-Headers '*' (does not cover authorization)",
        CorsSettings(allow_headers=("*",)),
        {"CORS-01"},
    ),
    ("no Max-Age", CorsSettings(max_age=None), {"CORS-02"}),
    ("Max-Age 0", CorsSettings(max_age=0), {"CORS-02"}),
    *(
        (f"{h} not in Expose-Headers", CorsSettings().without_exposed(h), {"CORS-03"})
        for h in EXPOSED_HEADERS
    ),
    ("no CORS headers on error responses", CorsSettings(cors_on_errors=False), {"CORS-03"}),
    ("preflight answered 405", CorsSettings(preflight_status=405), {"CORS-01", "CORS-02"}),
    ("no Allow-Origin at all", CorsSettings(allow_origin="none"), {"CORS-01", "CORS-03"}),
    (
        "Allow-Origin for another origin",
        CorsSettings(allow_origin="https://other.example"),
        {"CORS-01", "CORS-03"},
    ),
]


def test_correct_app_passes_cors_01_to_03(http: httpx.Client) -> None:
    with serve_cors_app() as base:
        assert failing(run_checks(http, base)) == set()


@pytest.mark.parametrize(
    "settings",
    [
        CorsSettings(allow_origin="*"),
        CorsSettings(allow_headers=("*", "Authorization")),
        CorsSettings(expose_headers=("*",)),
        CorsSettings(allow_methods=("*",)),
    ],
    ids=[
        "origin-wildcard",
        "headers-wildcard-plus-authorization",
        "expose-wildcard",
        "methods-wildcard",
    ],
)
def test_wildcards_are_accepted_where_the_fetch_standard_allows_them(
    http: httpx.Client, settings: CorsSettings
) -> None:
    with serve_cors_app(settings) as base:
        assert failing(run_checks(http, base)) == set()


@pytest.mark.parametrize(
    ("settings", "expected"),
    [(s, e) for _, s, e in BROKEN_HTTP],
    ids=[name for name, _, _ in BROKEN_HTTP],
)
def test_each_broken_header_fails_exactly_its_requirement(
    http: httpx.Client, settings: CorsSettings, expected: set[str]
) -> None:
    with serve_cors_app(settings) as base:
        results = run_checks(http, base)
    assert failing(results) == expected


def test_missing_header_is_named_in_the_message(http: httpx.Client) -> None:
    with serve_cors_app(CorsSettings().without_allowed("dpop")) as base:
        preflight = check_preflight(
            probe_preflights(
                http, default_preflights(f"{base}/xrpc/{PROTECTED}", f"{base}/xrpc/{CREATE}")
            )
        )
    assert preflight is not None
    assert "Access-Control-Allow-Headers lacks dpop" in preflight.message
    with serve_cors_app(CorsSettings().without_exposed("dpop-nonce")) as base:
        exposed = check_exposed_headers(
            probe_actual_responses(http, actual_requests(base, DpopKey.generate()))
        )
    assert exposed is not None
    assert "lacks dpop-nonce" in exposed.message
    assert TOKEN not in exposed.message


def test_every_status_class_is_probed_by_the_fake(http: httpx.Client) -> None:
    with serve_cors_app() as base:
        probes = probe_actual_responses(http, actual_requests(base, DpopKey.generate()))
    assert set(probes.classes) == {"2xx", "401", "404", CLASS_429, CLASS_5XX}
    assert all(p.status_class == p.expected for p in probes.probes)


def test_a_required_class_not_obtained_fails(http: httpx.Client) -> None:
    with serve_cors_app() as base:
        probes = probe_actual_responses(
            http,
            [get_request("query", "2xx", f"{base}/xrpc/{PROTECTED}")],
            not_probed=[(CLASS_429, "too costly"), (CLASS_5XX, "no way to cause one")],
        )
    failure = check_exposed_headers(probes)
    assert failure is not None and failure.requirement == "CORS-03"
    assert "no 401, 404 response could be obtained" in failure.message
    assert check_exposed_headers(probes, required_classes=("2xx",)) is None
    assert probes.not_probed == ((CLASS_429, "too costly"), (CLASS_5XX, "no way to cause one"))


# --- helpers (unit) --------------------------------------------------------------------------


def _response(headers: list[tuple[str, str]], status: int = 204) -> httpx.Response:
    return httpx.Response(status, headers=headers, request=httpx.Request("OPTIONS", "http://x/"))


def test_header_lists_are_case_insensitive_and_merge_repeated_headers() -> None:
    response = _response(
        [
            ("Access-Control-Allow-Headers", "Authorization, DPoP"),
            ("access-control-allow-headers", " content-type ,,atproto-proxy"),
        ]
    )
    assert header_list(response, "access-control-allow-headers") == (
        "authorization",
        "dpop",
        "content-type",
        "atproto-proxy",
    )
    assert missing_allowed_headers(response, REQUESTED_HEADERS) == ("atproto-accept-labelers",)


def test_wildcard_allow_headers_never_covers_authorization() -> None:
    response = _response([("Access-Control-Allow-Headers", "*")])
    assert missing_allowed_headers(response, REQUESTED_HEADERS) == ("authorization",)


def test_expose_wildcard_and_max_age_parsing() -> None:
    assert missing_exposed_headers(_response([("Access-Control-Expose-Headers", "*")])) == ()
    assert missing_exposed_headers(_response([])) == EXPOSED_HEADERS
    assert preflight_max_age(_response([("Access-Control-Max-Age", "86400")])) == 86400
    assert preflight_max_age(_response([("Access-Control-Max-Age", "soon")])) is None
    assert preflight_max_age(_response([])) is None


def test_status_classes() -> None:
    assert [status_class(s) for s in (200, 204, 401, 404, 429, 500, 503, 400)] == [
        "2xx",
        "2xx",
        "401",
        "404",
        "429",
        "5xx",
        "5xx",
        "400",
    ]


# --- CORS-04: symptom mapping on hand-made results (no browser) ------------------------------


def _step(name: str, **kwargs: Any) -> BrowserStep:
    return BrowserStep(name, **kwargs)


def _result(*steps: BrowserStep, network: tuple[NetworkResponse, ...] = ()) -> BrowserFlowResult:
    return BrowserFlowResult("http://127.0.0.1:1", "GET http://127.0.0.1:2/xrpc/x", steps, network)


READABLE_ALL = {"dpop-nonce": True, "www-authenticate": True}


def test_completed_flow_passes() -> None:
    result = _result(
        _step(STEP_SIMPLE, status=200),
        _step(STEP_FIRST, status=401, readable=READABLE_ALL, challenge_error="use_dpop_nonce"),
        _step(STEP_RETRY, status=200, sent_nonce=True, readable={"dpop-nonce": True}),
        _step(STEP_DPOP_ONLY, status=401, readable=READABLE_ALL),
        _step(STEP_AUTHORIZATION_ONLY, status=401, readable=READABLE_ALL),
    )
    assert browser_symptoms(result) == ()
    assert check_browser_dpop_flow(result) is None


def test_a_server_without_nonces_passes_when_the_first_call_succeeds() -> None:
    result = _result(
        _step(STEP_SIMPLE, status=200),
        _step(STEP_FIRST, status=200),
        _step(STEP_RETRY, ran=False, skipped="no nonce needed"),
        _step(STEP_DPOP_ONLY, status=401, readable=READABLE_ALL),
        _step(STEP_AUTHORIZATION_ONLY, status=401, readable=READABLE_ALL),
    )
    assert check_browser_dpop_flow(result) is None


def test_unreadable_headers_without_network_records_are_still_named() -> None:
    result = _result(
        _step(STEP_SIMPLE, status=200),
        _step(STEP_FIRST, status=401, body_error="use_dpop_nonce"),
        _step(STEP_RETRY, ran=False, skipped="cannot see use_dpop_nonce"),
        _step(STEP_DPOP_ONLY, status=401),
        _step(STEP_AUTHORIZATION_ONLY, status=401),
    )
    assert [f.symptom for f in browser_symptoms(result)] == [
        NONCE_NOT_EXPOSED,
        WWW_AUTHENTICATE_NOT_EXPOSED,
    ]


def test_a_header_the_server_never_sent_is_not_a_cors_symptom() -> None:
    """No DPoP-Nonce on the wire is a DPoP problem (DPOP-02), not an exposure one: the flow
    still fails, but no CORS-table row is named for it."""
    network = tuple(
        NetworkResponse(step, "GET", 401, ("www-authenticate",), challenge_error="use_dpop_nonce")
        for step in (STEP_FIRST, STEP_RETRY)
    )
    result = _result(
        _step(STEP_SIMPLE, status=200),
        _step(
            STEP_FIRST,
            status=401,
            readable={"www-authenticate": True},
            challenge_error="use_dpop_nonce",
        ),
        _step(
            STEP_RETRY,
            status=401,
            readable={"www-authenticate": True},
            challenge_error="use_dpop_nonce",
        ),
        _step(STEP_DPOP_ONLY, status=401, readable={"www-authenticate": True}),
        _step(STEP_AUTHORIZATION_ONLY, status=401, readable={"www-authenticate": True}),
        network=network,
    )
    assert browser_symptoms(result) == ()
    failure = check_browser_dpop_flow(result)
    assert failure is not None and failure.requirement == "CORS-04"
    assert "does not complete" in failure.title


def test_both_allow_headers_missing_names_both_symptoms() -> None:
    result = _result(
        _step(STEP_SIMPLE, status=200),
        _step(STEP_FIRST, threw=True, error="TypeError: Failed to fetch"),
        _step(STEP_RETRY, ran=False, skipped="blocked"),
        _step(STEP_DPOP_ONLY, threw=True, error="TypeError: Failed to fetch"),
        _step(STEP_AUTHORIZATION_ONLY, threw=True, error="TypeError: Failed to fetch"),
    )
    failure = check_browser_dpop_flow(result)
    assert failure is not None
    assert DPOP_NOT_ALLOWED.symptom in failure.title
    assert AUTHORIZATION_NOT_ALLOWED.symptom in failure.title


def test_page_output_is_parsed_defensively() -> None:
    result = result_from_page(
        {"steps": [{"name": "first", "status": "401", "readable": {"DPoP-Nonce": 1}}, "junk"]},
        page_origin="http://127.0.0.1:1",
        target="GET http://127.0.0.1:2/",
    )
    assert result.page_error is None
    (step,) = result.steps
    assert step.status is None and step.can_read("dpop-nonce")
    assert result_from_page(None, page_origin="o", target="t").page_error


def test_the_page_holds_no_secret_and_proofs_are_made_server_side() -> None:
    key = DpopKey.generate()
    html = page_html()
    assert TOKEN not in html and key.thumbprint not in html
    assert "/proof" in html and "console." not in html
    seen: list[str] = []
    server = DpopFlowPage(
        FlowTarget("http://127.0.0.1:9/xrpc/x?did=d", TOKEN, key), secret_sink=seen.append
    )
    assert seen == [TOKEN]
    assert TOKEN not in repr(server.target)


def test_missing_chromium_is_an_error_with_an_install_hint(tmp_path: Path) -> None:
    with pytest.raises(BrowserUnavailable) as raised:
        find_chromium(tmp_path / "no-chromium-here")
    message = str(raised.value)
    assert "\n" not in message
    assert "apt-get install chromium" in message and "pip install atconform[browser]" in message
    assert INSTALL_HINT in message


def test_chromium_can_be_named_in_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = tmp_path / "chromium"
    fake.write_text("#!/bin/sh\n")
    monkeypatch.setenv(CHROMIUM_ENV, str(fake))
    assert find_chromium() == fake
    monkeypatch.setenv(CHROMIUM_ENV, str(tmp_path / "missing"))
    with pytest.raises(BrowserUnavailable, match="apt-get install chromium"):
        find_chromium()


def test_missing_playwright_is_an_error_with_an_install_hint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = tmp_path / "chromium"
    fake.write_text("#!/bin/sh\n")
    monkeypatch.setitem(sys.modules, "playwright.sync_api", None)
    with pytest.raises(BrowserUnavailable, match=r"pip install atconform\[browser\]"):
        with chromium_context(fake):
            pass


def test_the_table_has_the_four_rows_of_identity_md() -> None:
    assert [s.symptom for s in CORS_TABLE] == [
        "preflight fails; every authenticated request is a CORS error",
        "client cannot read the nonce; 401 loop",
        "client cannot see use_dpop_nonce; generic auth failure",
        "the token never arrives; every request 401",
    ]


# --- CORS-04 in real headless Chromium -------------------------------------------------------

CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One Chromium launch for every browser test of this module."""
    if not CHROMIUM.exists():
        pytest.skip("Chromium is not installed at /usr/bin/chromium (apt-get install chromium)")
    with chromium_context(CHROMIUM) as context:
        yield context


def _run(browser: Any, settings: CorsSettings, secrets: list[str]) -> BrowserFlowResult:
    with serve_cors_app(settings) as base:
        target = FlowTarget(f"{base}/xrpc/{PROTECTED}?did=did:plc:abc", TOKEN, DpopKey.generate())
        return run_dpop_flow(browser, target, secret_sink=secrets.append)


@pytest.mark.browser
def test_browser_flow_completes_against_a_correct_app(browser: Any) -> None:
    secrets: list[str] = []
    result = _run(browser, CorsSettings(), secrets)
    assert check_browser_dpop_flow(result) is None, result.summary()
    first, retry = result.step(STEP_FIRST), result.step(STEP_RETRY)
    assert first is not None and first.status == 401 and first.challenge_error == "use_dpop_nonce"
    assert first.can_read("dpop-nonce") and first.can_read("www-authenticate")
    assert retry is not None and retry.sent_nonce and retry.status == 200
    # proofs were made by the page's server and registered; none leaks into the result
    proofs = [s for s in secrets if s != TOKEN]
    assert len(proofs) >= 3
    shown = repr(result) + result.summary() + " ".join(result.console)
    assert all(secret not in shown for secret in secrets)


@pytest.mark.browser
@pytest.mark.parametrize("header", list(BROKEN))
def test_browser_flow_names_exactly_the_symptom_of_the_missing_header(
    browser: Any, header: str
) -> None:
    result = _run(browser, BROKEN[header], [])
    symptoms = browser_symptoms(result)
    assert [f.symptom.header for f in symptoms] == [header], result.summary()
    failure = check_browser_dpop_flow(result)
    assert failure is not None and failure.requirement == "CORS-04"
    assert symptoms[0].symptom.symptom in failure.title
    assert TOKEN not in failure.title + failure.message


@pytest.mark.browser
def test_browser_flow_without_any_allow_origin_fails_without_guessing_a_row(browser: Any) -> None:
    result = _run(browser, CorsSettings(allow_origin="none"), [])
    assert browser_symptoms(result) == ()
    failure = check_browser_dpop_flow(result)
    assert failure is not None and failure.requirement == "CORS-04"
    assert "no response is readable cross-origin" in failure.title


@pytest.mark.browser
def test_browser_flow_with_a_wildcard_origin_completes(browser: Any) -> None:
    result = _run(browser, replace(CorsSettings(), allow_origin="*"), [])
    assert check_browser_dpop_flow(result) is None, result.summary()
