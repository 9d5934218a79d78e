"""STR-BND-01..08: the boundary rule on every read path, the writes it forbids, timing, and the
AppView feed.

The owner writes records bounded to the domain it shares with the peer, records without
boundary, and a listing sequence mixing both; the outsider writes one bounded to its own domain.
Each test runs a ``conformance.scenarios.stratos_access`` probe as owner, peer, outsider or an
unauthenticated caller and hands what came back to one ``conformance.checks.stratos_access``
check. Accounts log in afresh for this module (access tokens are short-lived).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx
import pytest

from conformance.checks.base import require
from conformance.checks.stratos_access import (
    MIN_TIMING_SAMPLES,
    check_boundary_writes,
    check_hidden_like_missing,
    check_indexing,
    check_listing_hides,
    check_sync_record_boundary,
    check_timing,
    check_unauthenticated_like_missing,
    check_visible_reads,
    relative_difference,
    timing_summary,
)
from conformance.clients.oauth import OAuthClient
from conformance.clients.stratos import EnrollmentAttempt, qualify
from conformance.clients.xrpc import XrpcClient
from conformance.plugin import Measure, disabled
from conformance.scenarios.stratos_access import (
    BoundaryRecords,
    Viewer,
    body_object,
    list_domains,
    probe_boundary_writes,
    probe_hidden_reads,
    probe_indexing,
    probe_listing,
    probe_sync_records,
    probe_visible_reads,
    sample_not_found_timing,
    write_boundary_records,
)
from conformance.target import TargetProfile

if TYPE_CHECKING:  # the suite's conftest is loaded by pytest, not imported
    from conformance.suites.stratos.conftest import StratosRoles


# --- module fixtures ------------------------------------------------------------------------------


def account_domains(
    role: str, roles: StratosRoles, enrolled: dict[str, EnrollmentAttempt], service_did: str
) -> frozenset[str]:
    """The qualified domains the role is enrolled in: the enrolment's answer, else the
    profile's bare names qualified with the service DID."""
    attempt = enrolled.get(role)
    body = attempt.body if attempt is not None else None
    listed = body.get("boundaries") if isinstance(body, dict) else None
    if isinstance(listed, list) and all(isinstance(d, str) for d in listed):
        return frozenset(qualify(service_did, d) for d in listed)
    return frozenset(qualify(service_did, b) for b in roles[role].boundaries)


@pytest.fixture(scope="module")
def viewers(
    roles: StratosRoles,
    enrolled: dict[str, EnrollmentAttempt],
    oauth_client: OAuthClient,
    pds_url: str,
    service_did: str,
) -> dict[str, Viewer]:
    """owner, peer and outsider, each with a fresh OAuth session; and the unauthenticated."""
    out: dict[str, Viewer] = {"anonymous": Viewer.anonymous()}
    for role in ("owner", "peer", "outsider"):
        account = roles[role]
        session = oauth_client.login(pds_url, account.handle, account.password)
        domains = account_domains(role, roles, enrolled, service_did)
        out[role] = Viewer(role, account.did, session.auth(), domains)
    return out


@pytest.fixture(scope="module")
def shared_domain(viewers: dict[str, Viewer]) -> str:
    shared = sorted(viewers["owner"].domains & viewers["peer"].domains)
    if not shared:
        disabled("the owner and peer accounts share no boundary domain")
    return shared[0]


@pytest.fixture(scope="module")
def records(stratos: XrpcClient, viewers: dict[str, Viewer], shared_domain: str) -> BoundaryRecords:
    owner, peer, outsider = viewers["owner"], viewers["peer"], viewers["outsider"]
    foreign = sorted(outsider.domains - owner.domains - peer.domains)
    return write_boundary_records(
        stratos,
        owner,
        shared_domain,
        outsider=outsider,
        foreign_domain=foreign[0] if foreign else None,
    )


# --- STR-BND-01..05: reads ------------------------------------------------------------------------


@pytest.mark.requirement("STR-BND-01")
def test_owner_and_peer_read_bounded_record(
    stratos: XrpcClient, records: BoundaryRecords, viewers: dict[str, Viewer]
) -> None:
    probes = probe_visible_reads(
        stratos, records, viewers["owner"], viewers["peer"], viewers["outsider"]
    )
    require(check_visible_reads(probes))


@pytest.mark.requirement("STR-BND-02")
def test_hidden_record_answers_like_missing(
    stratos: XrpcClient, records: BoundaryRecords, viewers: dict[str, Viewer]
) -> None:
    reverse = (viewers["owner"], records.foreign) if records.foreign is not None else None
    probes = probe_hidden_reads(
        stratos, records, viewers["outsider"], viewers["peer"], reverse=reverse
    )
    require(check_hidden_like_missing(probes))


@pytest.mark.requirement("STR-BND-03")
def test_unauthenticated_gets_the_same_404(
    stratos: XrpcClient, records: BoundaryRecords, viewers: dict[str, Viewer]
) -> None:
    probes = probe_hidden_reads(stratos, records, viewers["anonymous"], viewers["peer"])
    require(check_unauthenticated_like_missing(probes))


@pytest.mark.requirement("STR-BND-04")
def test_listing_and_hydration_leave_hidden_records_out(
    stratos: XrpcClient, records: BoundaryRecords, viewers: dict[str, Viewer], measure: Measure
) -> None:
    probes = probe_listing(stratos, records, viewers["owner"], viewers["outsider"], viewers["peer"])
    measure(
        "outsider listing pages",
        len(probes.viewer_pages),
        "pages",
        note=f"listRecords with limit {probes.limit}, {len(probes.hidden)} hidden records written",
    )
    require(check_listing_hides(probes))


@pytest.mark.requirement("STR-BND-05")
def test_sync_get_record_applies_the_boundary(
    stratos: XrpcClient, records: BoundaryRecords, viewers: dict[str, Viewer]
) -> None:
    probes = probe_sync_records(
        stratos,
        records,
        viewers["owner"],
        viewers["peer"],
        [viewers["outsider"], viewers["anonymous"]],
    )
    require(check_sync_record_boundary(probes))


# --- STR-BND-06: writes ---------------------------------------------------------------------------


@pytest.mark.requirement("STR-BND-06")
def test_boundaries_the_writer_may_not_use_are_refused(
    stratos: XrpcClient,
    viewers: dict[str, Viewer],
    shared_domain: str,
    service_did: str,
    measure: Measure,
) -> None:
    owner = viewers["owner"]
    candidates = sorted(viewers["outsider"].domains - owner.domains)
    if not candidates:
        body = body_object(list_domains(stratos)) or {}
        listed = body.get("domains")
        names = [d for d in listed if isinstance(d, str)] if isinstance(listed, list) else []
        candidates = sorted({qualify(service_did, d) for d in names} - owner.domains)
    forbidden = candidates[0] if candidates else None
    probes = probe_boundary_writes(stratos, owner, shared_domain, forbidden)
    if probes.forbidden is None:
        measure(
            "ForbiddenBoundary not probed",
            "the service lists no domain outside the owner's enrolment",
            note="only ServiceMismatch was checked",
        )
    require(check_boundary_writes(probes))


# --- STR-BND-07: timing ---------------------------------------------------------------------------


@pytest.mark.requirement("STR-BND-07")
def test_timing_does_not_reveal_existence(
    stratos: XrpcClient, records: BoundaryRecords, viewers: dict[str, Viewer], measure: Measure
) -> None:
    hidden = records.hidden_from_outsider
    if not hidden:
        raise RuntimeError("no hidden record was written; nothing to time")
    samples = sample_not_found_timing(
        stratos, viewers["outsider"], hidden, samples=MIN_TIMING_SAMPLES, controls=records.writes
    )
    count = min(len(samples.hidden_s), len(samples.missing_s))
    if count < MIN_TIMING_SAMPLES:
        raise RuntimeError(f"only {count} timing samples within the time budget")
    summary = timing_summary(samples)
    note = f"{count} interleaved getRecord samples each, by the outsider"
    measure("hidden 404 latency median", round(summary["hidden_median_ms"], 3), "ms", note=note)
    measure("hidden 404 latency p95", round(summary["hidden_p95_ms"], 3), "ms", note=note)
    measure("missing 404 latency median", round(summary["missing_median_ms"], 3), "ms", note=note)
    measure("missing 404 latency p95", round(summary["missing_p95_ms"], 3), "ms", note=note)
    difference = relative_difference(summary["hidden_median_ms"], summary["missing_median_ms"])
    measure(
        "hidden vs missing median difference",
        round(difference * 100, 1),
        "%",
        note="relative to the missing-record median; the requirement wants < 20 %",
    )
    require(check_timing(samples))


# --- STR-BND-08: the AppView feed -----------------------------------------------------------------


@pytest.mark.requirement("STR-BND-08")
def test_appview_feed_respects_the_boundary(
    stratos: XrpcClient,
    appview_url: str,
    session_http: httpx.Client,
    viewers: dict[str, Viewer],
    shared_domain: str,
    target: TargetProfile,
    measure: Measure,
) -> None:
    appview = XrpcClient(appview_url, session_http)
    window = target.stratos.indexing_window_s
    probes = probe_indexing(
        stratos,
        appview,
        viewers["owner"],
        viewers["peer"],
        viewers["outsider"],
        shared_domain,
        window_s=window,
    )
    if probes.lag_s is not None:
        measure(
            "AppView indexing lag",
            round(probes.lag_s * 1000, 1),
            "ms",
            note=f"createRecord acknowledged → post in the peer's timeline (window {window:g} s)",
        )
    measure(
        "outsider timeline watched",
        round(probes.outsider_watch_s, 2),
        "s",
        note="the post never appeared in the outsider's timeline meanwhile"
        if probes.leaked is None
        else "the post appeared in the outsider's timeline",
    )
    require(check_indexing(probes))
