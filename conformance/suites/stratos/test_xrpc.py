"""XRPC-01..04 against Stratos (and its AppView where the profile names one).

XRPC-02's service-wide error names: the Stratos lexicons declare ``NotEnrolled`` only for
``enrollment.unenroll`` and ``RecordNotFound`` only for the record reads, yet the Stratos spec
requires them from other methods too — STR-ENR-02 ("every authenticated call it makes answers
NotEnrolled"), STR-BND-02 (``RecordNotFound`` for every hidden record), STR-BND-06
(``InvalidRecord`` on writes) — and ``EnrollmentDenied`` (STR-ENR-02) is the enrollment flow's.
So they are accepted from every method (``STRATOS_ERROR_NAMES``).

XRPC-03 uses Stratos-specific lexicon violations (``stratos_lexicon_violations``), sent with the
owner's credentials so a service that checks auth before params still reaches param validation.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import httpx
import pytest

from conformance.checks.base import require
from conformance.checks.xrpc import (
    check_error_envelopes,
    check_lexicon_violations,
    check_output_schema,
    check_unknown_method,
)
from conformance.clients.oauth import OAuthClient, OAuthSession
from conformance.clients.stratos import EnrollmentAttempt, post_record
from conformance.clients.xrpc import XrpcClient
from conformance.scenarios.xrpc import XrpcCall, probe_lexicon_violations, probe_unknown_method
from lexicons import Catalog, load_catalog

if TYPE_CHECKING:
    from conformance.suites.stratos.conftest import StratosRoles

# Error names the Stratos spec requires beyond what each lexicon declares (see module doc).
STRATOS_ERROR_NAMES = ("NotEnrolled", "RecordNotFound", "InvalidRecord", "EnrollmentDenied")

POST = "zone.stratos.feed.post"
NO_SUCH_RKEY = "3zzzzzzzzzzz2"
STATUS = "zone.stratos.enrollment.status"
HYDRATE_RECORD = "zone.stratos.repo.hydrateRecord"
HYDRATE_RECORDS = "zone.stratos.repo.hydrateRecords"
TIMELINE = "zone.stratos.feed.getTimeline"


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


@pytest.fixture(scope="module")
def owner_session(roles: StratosRoles, oauth_client: OAuthClient, pds_url: str) -> OAuthSession:
    """A fresh OAuth session of the owner for this module (tokens live ≤ 15 minutes)."""
    owner = roles["owner"]
    return oauth_client.login(pds_url, owner.handle, owner.password)


def _uri(did: str, rkey: str = NO_SUCH_RKEY) -> str:
    return f"at://{did}/{POST}/{rkey}"


# --- the data: Stratos calls that are valid, and ones that violate the lexicons -------------


def stratos_lexicon_controls(did: str) -> tuple[XrpcCall, ...]:
    """Valid calls (with the owner's credentials; ``did`` enrolled) that must succeed."""
    return (
        XrpcCall(STATUS, "valid did", (("did", did),)),
        XrpcCall("zone.stratos.server.listDomains", "no parameters"),
        XrpcCall("zone.stratos.identity.resolveEnrollments", "valid did", (("did", did),)),
        XrpcCall(HYDRATE_RECORDS, "one valid at-uri", body={"uris": [_uri(did)]}),
        XrpcCall(
            "com.atproto.repo.listRecords",
            "valid repo and collection",
            (("repo", did), ("collection", POST), ("limit", "5")),
        ),
    )


def stratos_lexicon_violations(did: str) -> tuple[XrpcCall, ...]:
    """Lexicon-violating calls to Stratos reads (``did``: the enrolled owner)."""
    list_records = "com.atproto.repo.listRecords"
    collection = ("collection", POST)
    return (
        XrpcCall(STATUS, "required param did missing"),
        XrpcCall(STATUS, "did is not a DID", (("did", "not-a-did"),)),
        XrpcCall(
            "zone.stratos.identity.resolveEnrollments", "did is not a DID", (("did", "bad did"),)
        ),
        XrpcCall(HYDRATE_RECORD, "required param uri missing"),
        XrpcCall(HYDRATE_RECORD, "uri is not an at-uri", (("uri", "https://example.com/x"),)),
        XrpcCall(HYDRATE_RECORD, "cid is not a CID", (("uri", _uri(did)), ("cid", "not-a-cid"))),
        XrpcCall(
            HYDRATE_RECORDS,
            "101 uris (at most 100)",
            body={"uris": [_uri(did, f"3zzzzzzzzz{i:03d}") for i in range(101)]},
        ),
        XrpcCall(HYDRATE_RECORDS, "uris is a string, not an array", body={"uris": _uri(did)}),
        XrpcCall(HYDRATE_RECORDS, "a uri that is not an at-uri", body={"uris": ["not-a-uri"]}),
        XrpcCall(HYDRATE_RECORDS, "required input uris missing", body={}),
        XrpcCall(
            HYDRATE_RECORDS,
            "body is not JSON",
            raw=b"{not json",
            content_type="application/json",
        ),
        XrpcCall("zone.stratos.sync.getRepo", "did is not a DID", (("did", "not-a-did"),)),
        XrpcCall(
            "zone.stratos.sync.getRepo",
            "since is not a TID",
            (("did", did), ("since", "not-a-tid")),
        ),
        XrpcCall(list_records, "repo is not a DID or handle", (("repo", "not a did"), collection)),
        XrpcCall(list_records, "collection is not an NSID", (("repo", did), ("collection", "x y"))),
        XrpcCall(
            list_records, "limit is not an integer", (("repo", did), collection, ("limit", "abc"))
        ),
        XrpcCall(
            list_records,
            "limit above the maximum of 100",
            (("repo", did), collection, ("limit", "1000")),
        ),
        XrpcCall(
            "com.atproto.repo.getRecord", "required param rkey missing", (("repo", did), collection)
        ),
        XrpcCall("com.atproto.repo.describeRepo", "required param repo missing"),
        XrpcCall(
            "com.atproto.sync.getRecord",
            "did is not a DID",
            (("did", "not-a-did"), collection, ("rkey", NO_SUCH_RKEY)),
        ),
        XrpcCall(
            "com.atproto.sync.listBlobs",
            "limit is not an integer",
            (("did", did), ("limit", "abc")),
        ),
    )


# --- XRPC-01 ---------------------------------------------------------------------------------


@pytest.mark.requirement("XRPC-01")
def test_unknown_methods_answer_method_not_implemented(
    http: httpx.Client, stratos_url: str
) -> None:
    require(check_unknown_method(probe_unknown_method(http, stratos_url)))


@pytest.mark.requirement("XRPC-01")
def test_appview_unknown_methods_answer_method_not_implemented(
    http: httpx.Client, appview_url: str
) -> None:
    require(check_unknown_method(probe_unknown_method(http, appview_url)))


# --- XRPC-02 ---------------------------------------------------------------------------------


@pytest.mark.requirement("XRPC-02")
def test_error_responses_use_the_xrpc_envelope(
    http: httpx.Client,
    stratos_url: str,
    roles: StratosRoles,
    owner_session: OAuthSession,
    oauth_client: OAuthClient,
    pds_url: str,
    catalog: Catalog,
) -> None:
    stratos = XrpcClient(stratos_url, http)
    did = roles["owner"].did
    responses = [
        stratos.query("com.example.atconform.doesNotExist"),
        stratos.query(STATUS),  # required did missing
        stratos.query(
            "com.atproto.repo.getRecord", {"repo": did, "collection": POST, "rkey": NO_SUCH_RKEY}
        ),
        stratos.query(HYDRATE_RECORD, {"uri": _uri(did)}),
        stratos.procedure(
            HYDRATE_RECORDS,
            {"uris": [_uri(did, f"3zzzzzzzzz{i:03d}") for i in range(101)]},
            auth=owner_session.auth(),
        ),
        stratos.procedure("zone.stratos.enrollment.unenroll", {}),  # no credentials
        stratos.query(STATUS, {"did": did}, headers={"Authorization": "DPoP not-a-token"}),
        stratos.query("com.atproto.repo.listRecords", {"repo": did, "collection": "x y"}),
    ]
    denied = roles.get("denied")
    if denied is not None:
        # An account outside the allowlist reading its own repo: NotEnrolled (STR-ENR-02).
        session = oauth_client.login(pds_url, denied.handle, denied.password)
        responses.append(
            stratos.query(
                "com.atproto.repo.listRecords",
                {"repo": denied.did, "collection": POST},
                auth=session.auth(),
            )
        )
    # Every probe above should be an error; one that is not is another requirement's concern
    # (DPOP-*, XRPC-03, STR-*): this test judges the error responses it got.
    errors = [r for r in responses if r.status_code >= 400]
    assert errors, "none of the probes was answered with an error; nothing to judge"
    require(check_error_envelopes(errors, catalog=catalog, extra_names=STRATOS_ERROR_NAMES))


@pytest.mark.requirement("XRPC-02")
def test_appview_error_responses_use_the_xrpc_envelope(
    http: httpx.Client, appview_url: str, catalog: Catalog
) -> None:
    appview = XrpcClient(appview_url, http)
    responses = [
        appview.query("com.example.atconform.doesNotExist"),
        appview.query(TIMELINE),  # no credentials
        appview.query(TIMELINE, headers={"Authorization": "DPoP not-a-token"}),
    ]
    errors = [r for r in responses if r.status_code >= 400]
    assert errors, "expected the AppView to answer these probes with errors"
    require(check_error_envelopes(errors, catalog=catalog, extra_names=STRATOS_ERROR_NAMES))


# --- XRPC-03 ---------------------------------------------------------------------------------


@pytest.mark.requirement("XRPC-03")
def test_lexicon_violations_are_invalid_requests(
    http: httpx.Client,
    stratos_url: str,
    roles: StratosRoles,
    enrolled: dict[str, EnrollmentAttempt],
    owner_session: OAuthSession,
    catalog: Catalog,
) -> None:
    did = roles["owner"].did
    probes = probe_lexicon_violations(
        http,
        stratos_url,
        stratos_lexicon_violations(did),
        controls=stratos_lexicon_controls(did),
        auth=owner_session.auth(),
    )
    require(check_lexicon_violations(probes, catalog=catalog))


@pytest.mark.requirement("XRPC-03")
def test_appview_lexicon_violations_are_invalid_requests(
    http: httpx.Client, appview_url: str, owner_session: OAuthSession, catalog: Catalog
) -> None:
    probes = probe_lexicon_violations(
        http,
        appview_url,
        (
            XrpcCall(TIMELINE, "limit is not an integer", (("limit", "abc"),)),
            XrpcCall(TIMELINE, "limit above the maximum of 100", (("limit", "1000"),)),
            XrpcCall(TIMELINE, "limit below the minimum of 1", (("limit", "0"),)),
        ),
        controls=(XrpcCall(TIMELINE, "valid limit", (("limit", "5"),)),),
        auth=owner_session.auth(),
    )
    require(check_lexicon_violations(probes, catalog=catalog))


# --- XRPC-04 ---------------------------------------------------------------------------------


@pytest.fixture
def readable_record(
    http: httpx.Client,
    stratos_url: str,
    roles: StratosRoles,
    enrolled: dict[str, EnrollmentAttempt],
    owner_session: OAuthSession,
) -> Iterator[tuple[str, dict[str, httpx.Response]]]:
    """A record in the owner's repo: an existing one when there is one (no write spent), else
    one created for the test and deleted afterwards (two writes), so repo-shape tests
    (STR-ENR-04: "an enrolled user who has written nothing") see the repo as it was."""
    stratos = XrpcClient(stratos_url, http)
    did = roles["owner"].did
    auth = owner_session.auth()
    listed = stratos.query(
        "com.atproto.repo.listRecords", {"repo": did, "collection": POST, "limit": 1}, auth=auth
    )
    records = listed.json().get("records", []) if listed.status_code == 200 else []
    if records:
        yield str(records[0]["uri"]), {}
        return
    created = stratos.procedure(
        "com.atproto.repo.createRecord",
        {"repo": did, "collection": POST, "record": post_record("atconform XRPC-04 output probe")},
        auth=auth,
    )
    if created.status_code != 200:
        pytest.fail(
            f"cannot create a record to check outputs with: createRecord → {created.status_code}"
        )
    uri = str(created.json()["uri"])
    made = {"com.atproto.repo.createRecord": created}
    try:
        yield uri, made
    finally:
        rkey = uri.rsplit("/", 1)[1]
        made["com.atproto.repo.deleteRecord"] = stratos.procedure(
            "com.atproto.repo.deleteRecord",
            {"repo": did, "collection": POST, "rkey": rkey},
            auth=auth,
        )


@pytest.mark.requirement("XRPC-04")
def test_responses_match_their_output_schemas(
    http: httpx.Client,
    stratos_url: str,
    roles: StratosRoles,
    owner_session: OAuthSession,
    readable_record: tuple[str, dict[str, httpx.Response]],
    catalog: Catalog,
) -> None:
    stratos = XrpcClient(stratos_url, http)
    did = roles["owner"].did
    auth = owner_session.auth()
    uri, made = readable_record
    rkey = uri.rsplit("/", 1)[1]
    calls: dict[str, httpx.Response] = {
        **made,
        STATUS: stratos.query(STATUS, {"did": did}, auth=auth),
        "zone.stratos.server.listDomains": stratos.query("zone.stratos.server.listDomains"),
        "zone.stratos.identity.resolveEnrollments": stratos.query(
            "zone.stratos.identity.resolveEnrollments", {"did": did}
        ),
        "com.atproto.repo.describeRepo": stratos.query(
            "com.atproto.repo.describeRepo", {"repo": did}, auth=auth
        ),
        "com.atproto.repo.listRecords": stratos.query(
            "com.atproto.repo.listRecords", {"repo": did, "collection": POST}, auth=auth
        ),
        "com.atproto.repo.getRecord": stratos.query(
            "com.atproto.repo.getRecord",
            {"repo": did, "collection": POST, "rkey": rkey},
            auth=auth,
        ),
        HYDRATE_RECORD: stratos.query(HYDRATE_RECORD, {"uri": uri}, auth=auth),
        HYDRATE_RECORDS: stratos.procedure(HYDRATE_RECORDS, {"uris": [uri, _uri(did)]}, auth=auth),
    }
    for nsid, response in calls.items():
        assert response.status_code == 200, (
            f"{nsid} did not succeed ({response.status_code}); cannot check its output"
        )
        require(check_output_schema(response, nsid, catalog))


@pytest.mark.requirement("XRPC-04")
def test_appview_timeline_matches_its_output_schema(
    http: httpx.Client,
    appview_url: str,
    owner_session: OAuthSession,
    catalog: Catalog,
) -> None:
    response = XrpcClient(appview_url, http).query(
        TIMELINE, {"limit": 10}, auth=owner_session.auth()
    )
    assert response.status_code == 200, (
        f"{TIMELINE} did not succeed ({response.status_code}); cannot check its output"
    )
    require(check_output_schema(response, TIMELINE, catalog))
