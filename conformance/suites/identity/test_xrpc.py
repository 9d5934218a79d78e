"""XRPC-01..04 against the PDS: method routing, the error envelope, lexicon input and output."""

from __future__ import annotations

import httpx
import pytest

from conformance.checks.base import require
from conformance.checks.xrpc import (
    check_error_envelopes,
    check_lexicon_violations,
    check_output_schema,
    check_unknown_method,
)
from conformance.clients.pds import PdsClient, Session
from conformance.clients.xrpc import XrpcClient
from conformance.provision import AccountCredentials
from conformance.redact import Redactor
from conformance.scenarios.xrpc import (
    pds_lexicon_controls,
    pds_lexicon_violations,
    probe_lexicon_violations,
    probe_unknown_method,
)
from lexicons import Catalog, load_catalog


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


@pytest.mark.requirement("XRPC-01")
def test_unknown_methods_answer_method_not_implemented(http: httpx.Client, pds_url: str) -> None:
    require(check_unknown_method(probe_unknown_method(http, pds_url)))


@pytest.mark.requirement("XRPC-02")
def test_error_responses_use_the_xrpc_envelope(
    http: httpx.Client,
    pds_url: str,
    account: AccountCredentials,
    catalog: Catalog,
    redactor: Redactor,
) -> None:
    pds = PdsClient(XrpcClient(pds_url, http), redactor)
    responses = [
        http.get(f"{pds_url.rstrip('/')}/xrpc/com.example.atconform.doesNotExist"),
        pds.create_session(account.handle, account.password + "-wrong"),
        pds.get_session(None),  # no credentials
        pds.get_record(account.did, "com.example.atconform.nothing", "3kaaaaaaaaaa2"),
        pds.describe_repo("did:plc:aaaaaaaaaaaaaaaaaaaaaaaa"),
        pds.sync_get_latest_commit("did:plc:aaaaaaaaaaaaaaaaaaaaaaaa"),
        pds.list_records(account.did, "not an nsid"),
    ]
    errors = [r for r in responses if r.status_code >= 400]
    assert len(errors) == len(responses), "every probe above must be answered with an error"
    require(check_error_envelopes(errors, catalog=catalog))


@pytest.mark.requirement("XRPC-03")
def test_lexicon_violations_are_invalid_requests(
    http: httpx.Client, pds_url: str, account: AccountCredentials, catalog: Catalog
) -> None:
    probes = probe_lexicon_violations(
        http,
        pds_url,
        pds_lexicon_violations(account.did),
        controls=pds_lexicon_controls(account.did),
    )
    require(check_lexicon_violations(probes, catalog=catalog))


@pytest.mark.requirement("XRPC-04")
def test_responses_match_their_output_schemas(
    http: httpx.Client,
    pds_url: str,
    account: AccountCredentials,
    legacy_session: Session,
    catalog: Catalog,
    redactor: Redactor,
) -> None:
    pds = PdsClient(XrpcClient(pds_url, http), redactor)
    created = pds.create_record(
        legacy_session, account.did, "com.example.atconform.note", {"text": "output schema probe"}
    )
    rkey = (
        created.json()["uri"].rsplit("/", 1)[1] if created.status_code == 200 else "3kaaaaaaaaaa2"
    )
    calls = {
        "com.atproto.server.describeServer": pds.describe_server(),
        "com.atproto.server.getSession": pds.get_session(legacy_session),
        "com.atproto.repo.createRecord": created,
        "com.atproto.repo.describeRepo": pds.describe_repo(account.did),
        "com.atproto.repo.listRecords": pds.list_records(account.did, "com.example.atconform.note"),
        "com.atproto.repo.getRecord": pds.get_record(
            account.did, "com.example.atconform.note", rkey
        ),
        "com.atproto.identity.resolveHandle": pds.resolve_handle(account.handle),
        "com.atproto.sync.getLatestCommit": pds.sync_get_latest_commit(account.did),
        "com.atproto.sync.listBlobs": pds.sync_list_blobs(account.did),
        "com.atproto.server.getServiceAuth": pds.get_service_auth(
            legacy_session, aud="did:web:atconform.test"
        ),
    }
    for nsid, response in calls.items():
        assert response.status_code == 200, (
            f"{nsid} did not succeed ({response.status_code}); cannot check its output"
        )
        require(check_output_schema(response, nsid, catalog))
