"""CORS-01..04 against Stratos and its AppView: preflights, exposed headers on every response
class, and the whole DPoP flow from a page on another origin in real headless Chromium.

429s are not provoked here: one costs a DID's whole write budget (the STR-RL tests see 429s).
The one server error every XRPC service can be asked for is 501 MethodNotImplemented for an
unknown method (XRPC-01); when a service answers that with 404 instead, no 5xx is checked. The
report lists the classes checked and why the others were not.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx
import pytest

from conformance.browser.page import FlowTarget
from conformance.browser.runner import run_browser_dpop_flow
from conformance.checks.base import require
from conformance.checks.cors import (
    check_browser_dpop_flow,
    check_exposed_headers,
    check_preflight,
    check_preflight_max_age,
    preflight_max_age,
)
from conformance.clients.dpop import DpopAuth, NonceStore
from conformance.clients.oauth import OAuthClient, OAuthSession
from conformance.plugin import Measure
from conformance.redact import Redactor
from conformance.scenarios.cors import (
    CLASS_5XX,
    CLASS_429,
    ActualRequest,
    ActualResponseProbes,
    PreflightProbes,
    default_preflights,
    get_request,
    post_json_request,
    probe_actual_responses,
    probe_preflights,
)

if TYPE_CHECKING:
    from conformance.suites.stratos.conftest import StratosRoles

STATUS = "zone.stratos.enrollment.status"
HYDRATE_RECORDS = "zone.stratos.repo.hydrateRecords"
UNENROLL = "zone.stratos.enrollment.unenroll"
TIMELINE = "zone.stratos.feed.getTimeline"
POST = "zone.stratos.feed.post"
NO_SUCH_RKEY = "3zzzzzzzzzzz2"  # a valid TID no one wrote
NOT_A_TOKEN = "atconform-not-a-token"
NOT_PROBED = (
    (CLASS_429, "not provoked: it costs a DID's whole write budget (the STR-RL tests see 429s)"),
)
UNKNOWN_NSID = "com.example.atconform.doesNotExist"
NO_5XX = (
    "the unknown method was answered with 404 (XRPC-01 allows it), and a conforming service "
    "offers no other way to cause a server error"
)


@pytest.fixture(scope="module")
def owner_session(roles: StratosRoles, oauth_client: OAuthClient, pds_url: str) -> OAuthSession:
    """A fresh OAuth session of the owner for this module (tokens live ≤ 15 minutes)."""
    owner = roles["owner"]
    return oauth_client.login(pds_url, owner.handle, owner.password)


def _xrpc(base: str, nsid: str, **params: str) -> str:
    return str(httpx.URL(f"{base.rstrip('/')}/xrpc/{nsid}", params=params or None))


def _nonce_less(session: OAuthSession, redactor: Redactor) -> DpopAuth:
    """The owner's token with a proof that carries no nonce, as a client's first request."""
    return DpopAuth(
        session.dpop_key,
        session.access_token,
        nonces=NonceStore(),
        secret_sink=redactor.add,
        max_nonce_retries=0,
    )


def _record_classes(measure: Measure, probes: ActualResponseProbes, service: str) -> None:
    not_probed = list(probes.not_probed)
    if CLASS_5XX not in probes.classes:
        not_probed.append((CLASS_5XX, NO_5XX))
    measure(
        f"{service} response classes checked",
        ", ".join(probes.classes),
        note="; ".join(f"{c} not checked: {why}" for c, why in not_probed),
    )


def _unknown_method(base: str) -> ActualRequest:
    """The one 5xx every XRPC service can be asked for: 501 MethodNotImplemented (XRPC-01)."""
    return get_request(
        "an unknown method (501 MethodNotImplemented)", CLASS_5XX, _xrpc(base, UNKNOWN_NSID)
    )


def _record_max_age(measure: Measure, probes: PreflightProbes, service: str) -> None:
    for probe in probes.probes:
        value = preflight_max_age(probe.response)
        measure(
            f"{service} preflight max-age ({probe.request.method})",
            value if value is not None else "absent",
            "s" if value is not None else "",
            note="the reference sends 86400; Chromium caps it at 7200",
        )


# --- CORS-01 ---------------------------------------------------------------------------------


@pytest.mark.requirement("CORS-01")
def test_stratos_preflight_allows_atproto_browser_clients(
    http: httpx.Client, stratos_url: str
) -> None:
    probes = probe_preflights(
        http,
        default_preflights(_xrpc(stratos_url, STATUS), _xrpc(stratos_url, HYDRATE_RECORDS)),
    )
    require(check_preflight(probes))


@pytest.mark.requirement("CORS-01")
def test_appview_preflight_allows_atproto_browser_clients(
    http: httpx.Client, appview_url: str
) -> None:
    timeline = _xrpc(appview_url, TIMELINE)
    require(check_preflight(probe_preflights(http, default_preflights(timeline, timeline))))


# --- CORS-02 ---------------------------------------------------------------------------------


@pytest.mark.requirement("CORS-02")
def test_stratos_preflight_is_cacheable(
    http: httpx.Client, stratos_url: str, measure: Measure
) -> None:
    probes = probe_preflights(
        http,
        default_preflights(_xrpc(stratos_url, STATUS), _xrpc(stratos_url, HYDRATE_RECORDS)),
    )
    _record_max_age(measure, probes, "stratos")
    require(check_preflight_max_age(probes))


@pytest.mark.requirement("CORS-02")
def test_appview_preflight_is_cacheable(
    http: httpx.Client, appview_url: str, measure: Measure
) -> None:
    timeline = _xrpc(appview_url, TIMELINE)
    probes = probe_preflights(http, default_preflights(timeline, timeline))
    _record_max_age(measure, probes, "appview")
    require(check_preflight_max_age(probes))


# --- CORS-03 ---------------------------------------------------------------------------------


def stratos_actual_requests(
    stratos_url: str, did: str, session: OAuthSession, redactor: Redactor
) -> list[ActualRequest]:
    status_url = _xrpc(stratos_url, STATUS, did=did)
    missing_uri = f"at://{did}/{POST}/{NO_SUCH_RKEY}"
    return [
        get_request("enrollment.status, unauthenticated", "2xx", status_url),
        get_request("enrollment.status, authenticated", "2xx", status_url, auth=session.auth()),
        get_request(
            "server.listDomains", "2xx", _xrpc(stratos_url, "zone.stratos.server.listDomains")
        ),
        post_json_request(
            "repo.hydrateRecords of a record that does not exist",
            "2xx",
            _xrpc(stratos_url, HYDRATE_RECORDS),
            {"uris": [missing_uri]},
            auth=session.auth(),
        ),
        get_request(
            "a valid proof without a nonce (use_dpop_nonce expected)",
            "401",
            status_url,
            auth=_nonce_less(session, redactor),
        ),
        get_request(
            "an invalid access token and no DPoP proof",
            "401",
            status_url,
            extra_headers={"Authorization": f"DPoP {NOT_A_TOKEN}"},
        ),
        post_json_request(
            "enrollment.unenroll without credentials", "401", _xrpc(stratos_url, UNENROLL), {}
        ),
        get_request(
            "repo.getRecord of a record that does not exist",
            "404",
            _xrpc(
                stratos_url,
                "com.atproto.repo.getRecord",
                repo=did,
                collection=POST,
                rkey=NO_SUCH_RKEY,
            ),
        ),
        get_request(
            "repo.hydrateRecord of a record that does not exist",
            "404",
            _xrpc(stratos_url, "zone.stratos.repo.hydrateRecord", uri=missing_uri),
        ),
        get_request(
            "enrollment.status without its required did", "400", _xrpc(stratos_url, STATUS)
        ),
        _unknown_method(stratos_url),
    ]


@pytest.mark.requirement("CORS-03")
def test_stratos_responses_of_every_class_expose_the_headers_clients_read(
    http: httpx.Client,
    stratos_url: str,
    roles: StratosRoles,
    owner_session: OAuthSession,
    redactor: Redactor,
    measure: Measure,
) -> None:
    requests = stratos_actual_requests(stratos_url, roles["owner"].did, owner_session, redactor)
    probes = probe_actual_responses(http, requests, not_probed=NOT_PROBED)
    _record_classes(measure, probes, "stratos")
    require(check_exposed_headers(probes))


@pytest.mark.requirement("CORS-03")
def test_appview_responses_expose_the_headers_clients_read(
    http: httpx.Client,
    appview_url: str,
    owner_session: OAuthSession,
    redactor: Redactor,
    measure: Measure,
) -> None:
    timeline = _xrpc(appview_url, TIMELINE, limit="1")
    requests = [
        get_request("feed.getTimeline, authenticated", "2xx", timeline, auth=owner_session.auth()),
        get_request(
            "a valid proof without a nonce (use_dpop_nonce expected)",
            "401",
            timeline,
            auth=_nonce_less(owner_session, redactor),
        ),
        get_request(
            "an invalid access token and no DPoP proof",
            "401",
            timeline,
            extra_headers={"Authorization": f"DPoP {NOT_A_TOKEN}"},
        ),
        _unknown_method(appview_url),
    ]
    probes = probe_actual_responses(http, requests, not_probed=NOT_PROBED)
    _record_classes(measure, probes, "appview")
    # The AppView serves no records, so no 404 is certain to be reachable (an unknown method may
    # answer 404 or 501, XRPC-01); every response obtained is judged all the same.
    require(check_exposed_headers(probes, required_classes=("2xx", "401")))


# --- CORS-04 ---------------------------------------------------------------------------------


def _browser_flow(
    url: str, session: OAuthSession, redactor: Redactor, measure: Measure, service: str
) -> None:
    target = FlowTarget(url, session.access_token, session.dpop_key)
    result = run_browser_dpop_flow(target, secret_sink=redactor.add, redact=redactor.text)
    measure(f"{service} browser DPoP flow", result.summary(), note=f"page {result.page_origin}")
    require(check_browser_dpop_flow(result))


@pytest.mark.requirement("CORS-04")
def test_stratos_dpop_flow_works_from_a_page_on_another_origin(
    stratos_url: str,
    roles: StratosRoles,
    owner_session: OAuthSession,
    redactor: Redactor,
    measure: Measure,
) -> None:
    url = _xrpc(stratos_url, STATUS, did=roles["owner"].did)
    _browser_flow(url, owner_session, redactor, measure, "stratos")


@pytest.mark.requirement("CORS-04")
def test_appview_dpop_flow_works_from_a_page_on_another_origin(
    appview_url: str, owner_session: OAuthSession, redactor: Redactor, measure: Measure
) -> None:
    url = _xrpc(appview_url, TIMELINE, limit="1")
    _browser_flow(url, owner_session, redactor, measure, "appview")
