"""ATCR-* checks against the tiny in-memory ATCR (``atcr_fakes``): each passes on the correct
fake and returns a Failure with exactly its requirement ID on the fake broken for it."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest
from atcr_fakes import PASSWORD, SERVICE, running_atcr, user

from conformance.checks.atcr import (
    check_base_challenge,
    check_blob_placement,
    check_client_metadata,
    check_concurrent_layers,
    check_crew_rules,
    check_foreign_token,
    check_hold_did_document,
    check_multipart,
    check_namespace_protection,
    check_no_session_push,
    check_push_records,
    check_round_trip,
    check_same_tag_race,
    check_tag_deletion,
    check_tampered_tokens,
    check_token_issuance,
    check_unknown_pulls,
)
from conformance.checks.base import Failure
from conformance.clients.oci import RegistryAuth, RegistryClient
from conformance.clients.pds import PdsClient
from conformance.clients.xrpc import XrpcClient
from conformance.redact import Redactor
from conformance.scenarios.atcr import (
    AtcrUser,
    probe_base_unauthenticated,
    probe_blob_placement,
    probe_client_metadata,
    probe_concurrent_layers,
    probe_crew,
    probe_cross_namespace,
    probe_hold_identity,
    probe_multipart,
    probe_no_session_push,
    probe_push_records,
    probe_round_trip,
    probe_same_tag_race,
    probe_tag_deletion,
    probe_tampered_tokens,
    probe_tokens,
    probe_unknown_pulls,
)

ALICE, BOB, CAROL, DAVE = (user(h) for h in ("alice.test", "bob.test", "carol.test",
                                             "dave.test"))


def failed(failure: Failure | None, requirement: str) -> Failure:
    assert failure is not None, "the check did not notice"
    assert failure.requirement == requirement
    assert failure.title
    assert PASSWORD not in failure.message and "Bearer ey" not in failure.message
    return failure


@pytest.fixture
def redactor() -> Redactor:
    return Redactor()


@pytest.fixture
def registry_for(redactor: Redactor) -> Iterator[Callable[[str, AtcrUser], RegistryClient]]:
    clients: list[httpx.Client] = []

    def make(url: str, who: AtcrUser) -> RegistryClient:
        client = httpx.Client(auth=RegistryAuth(redactor, who.handle, who.password),
                              timeout=20.0)
        clients.append(client)
        return RegistryClient(client, url)

    yield make
    for client in clients:
        client.close()


def pds_of(url: str, http: httpx.Client, redactor: Redactor) -> PdsClient:
    return PdsClient(XrpcClient(url, http), redactor)


# --- ATCR-AUTH-* -------------------------------------------------------------------------------


@pytest.mark.parametrize("fault", [None, "no-realm"])
def test_base_challenge(http: httpx.Client, fault: str | None) -> None:
    with running_atcr(*([fault] if fault else [])) as (url, _):
        verdict = check_base_challenge(probe_base_unauthenticated(http, url), url)
    if fault is None:
        assert verdict is None
    else:
        assert "realm" in failed(verdict, "ATCR-AUTH-01").message


@pytest.mark.parametrize("fault", [None, "token-unsigned-jwks", "pull-only"])
def test_token_issuance(http: httpx.Client, redactor: Redactor, fault: str | None) -> None:
    with running_atcr(*([fault] if fault else [])) as (url, _):
        probes = probe_tokens(http, url, service=SERVICE, user=ALICE,
                              own_repo=ALICE.repo("app"), other_repo=BOB.repo("app"),
                              redactor=redactor)
    verdict = check_token_issuance(probes)
    if fault is None:
        assert verdict is None
    else:
        failed(verdict, "ATCR-AUTH-02")


@pytest.mark.parametrize("fault", [None, "push-anywhere"])
def test_namespace_protection(
    http: httpx.Client, redactor: Redactor, registry_for: Callable[..., RegistryClient],
    fault: str | None,
) -> None:
    with running_atcr("crew-ignored", *([fault] if fault else [])) as (url, _):
        probes = probe_cross_namespace(http, url, registry_for(url, ALICE),
                                       pds_of(url, http, redactor), service=SERVICE,
                                       user_a=ALICE, user_b=BOB, redactor=redactor)
    verdict = check_namespace_protection(probes)
    if fault is None:
        assert verdict is None
    else:
        failed(verdict, "ATCR-AUTH-03")


@pytest.mark.parametrize("fault", [None, "push-anywhere"])
def test_foreign_token(http: httpx.Client, redactor: Redactor, fault: str | None) -> None:
    with running_atcr(*([fault] if fault else [])) as (url, _):
        probes = probe_tokens(http, url, service=SERVICE, user=ALICE,
                              own_repo=ALICE.repo("app"), other_repo=BOB.repo("app"),
                              redactor=redactor)
    assert check_token_issuance(probes) is None  # the own-repository grant is still exact
    verdict = check_foreign_token(probes)
    if fault is None:
        assert verdict is None
    else:
        assert "another user" in failed(verdict, "ATCR-AUTH-03").title


@pytest.mark.parametrize("fault", [None, "accept-tampered"])
def test_tampered_tokens(http: httpx.Client, redactor: Redactor, fault: str | None) -> None:
    with running_atcr(*([fault] if fault else [])) as (url, _):
        probes = probe_tampered_tokens(http, url, service=SERVICE, user=ALICE,
                                       repo=ALICE.repo("app"), redactor=redactor)
    verdict = check_tampered_tokens(probes)
    if fault is None:
        assert verdict is None
    else:
        failed(verdict, "ATCR-AUTH-04")


# --- ATCR-OAUTH-* ------------------------------------------------------------------------------


@pytest.mark.parametrize("fault", [None, "metadata-404"])
def test_client_metadata(http: httpx.Client, fault: str | None) -> None:
    with running_atcr(*([fault] if fault else [])) as (url, _):
        verdict = check_client_metadata(probe_client_metadata(http, url))
    if fault is None:
        assert verdict is None
    else:
        failed(verdict, "ATCR-OAUTH-01")


@pytest.mark.parametrize("fault", [None, "no-session-500"])
def test_no_session_push(http: httpx.Client, redactor: Redactor, fault: str | None) -> None:
    with running_atcr(*([fault] if fault else [])) as (url, _):
        probes = probe_no_session_push(http, url, service=SERVICE, user=DAVE, redactor=redactor)
    verdict = check_no_session_push(probes)
    if fault is None:
        assert verdict is None
    else:
        assert "5xx" in failed(verdict, "ATCR-OAUTH-03").title


# --- ATCR-REC-* --------------------------------------------------------------------------------


@pytest.mark.parametrize("fault", [None, "no-records"])
def test_push_records(
    http: httpx.Client, redactor: Redactor, registry_for: Callable[..., RegistryClient],
    fault: str | None,
) -> None:
    with running_atcr(*([fault] if fault else [])) as (url, _):
        probes = probe_push_records(registry_for(url, ALICE), pds_of(url, http, redactor), http,
                                    url, ALICE)
    verdict = check_push_records(probes)
    if fault is None:
        assert verdict is None
    else:
        failed(verdict, "ATCR-REC-01")


@pytest.mark.parametrize("fault", [None, "unknown-200"])
def test_unknown_pulls(registry_for: Callable[..., RegistryClient], fault: str | None) -> None:
    with running_atcr(*([fault] if fault else [])) as (url, _):
        verdict = check_unknown_pulls(probe_unknown_pulls(registry_for(url, ALICE), ALICE))
    if fault is None:
        assert verdict is None
    else:
        failed(verdict, "ATCR-REC-02")


@pytest.mark.parametrize("fault", [None, "tag-cache"])
def test_tag_deletion(
    http: httpx.Client, redactor: Redactor, registry_for: Callable[..., RegistryClient],
    fault: str | None,
) -> None:
    with running_atcr(*([fault] if fault else [])) as (url, _):
        pds = pds_of(url, http, redactor)
        session = pds.login(ALICE.handle, PASSWORD)
        probes = probe_tag_deletion(registry_for(url, ALICE), pds, ALICE, session)
    verdict = check_tag_deletion(probes)
    if fault is None:
        assert verdict is None
    else:
        failed(verdict, "ATCR-REC-03")


@pytest.mark.parametrize("fault", [None, "reformat-manifest"])
def test_round_trip(registry_for: Callable[..., RegistryClient], fault: str | None) -> None:
    with running_atcr(*([fault] if fault else [])) as (url, _):
        verdict = check_round_trip(probe_round_trip(registry_for(url, ALICE), ALICE))
    if fault is None:
        assert verdict is None
    else:
        failed(verdict, "ATCR-REC-04")


# --- ATCR-HOLD-01/02/03/05 ---------------------------------------------------------------------


@pytest.mark.parametrize("fault", [None, "no-atproto-vm"])
def test_hold_did_document(http: httpx.Client, fault: str | None) -> None:
    with running_atcr(*([fault] if fault else [])) as (url, _):
        verdict = check_hold_did_document(probe_hold_identity(http, url).document, url)
    if fault is None:
        assert verdict is None
    else:
        failed(verdict, "ATCR-HOLD-01")


def test_hold_did_document_wrong_endpoint(http: httpx.Client) -> None:
    with running_atcr() as (url, _):
        document = probe_hold_identity(http, url).document
    failed(check_hold_did_document(document, "http://127.0.0.1:1"), "ATCR-HOLD-01")


@pytest.mark.parametrize("fault", [None, "blob-wrong-bytes"])
def test_blob_placement(
    http: httpx.Client, redactor: Redactor, registry_for: Callable[..., RegistryClient],
    fault: str | None,
) -> None:
    with running_atcr(*([fault] if fault else [])) as (url, _):
        probes = probe_blob_placement(
            registry_for(url, ALICE), pds_of(url, http, redactor), http, ALICE,
            default_hold_did=probe_hold_identity(http, url).did, default_hold_url=url)
    verdict = check_blob_placement(probes)
    if fault is None:
        assert verdict is None
    else:
        failed(verdict, "ATCR-HOLD-02")


@pytest.mark.parametrize("fault", [None, "crew-ignored"])
def test_crew_rules(
    http: httpx.Client, registry_for: Callable[..., RegistryClient], fault: str | None
) -> None:
    with running_atcr(*([fault] if fault else [])) as (url, _):
        probes = probe_crew(http, url, registry_for(url, ALICE), registry_for(url, CAROL),
                            ALICE, CAROL)
    verdict = check_crew_rules(probes)
    if fault is None:
        assert verdict is None
    else:
        assert "not crew" in failed(verdict, "ATCR-HOLD-03").title


@pytest.mark.parametrize("fault", [None, "no-digest-check"])
def test_multipart(http: httpx.Client, redactor: Redactor, fault: str | None) -> None:
    with running_atcr(*([fault] if fault else [])) as (url, _):
        pds = pds_of(url, http, redactor)
        probes = probe_multipart(http, pds, pds.login(ALICE.handle, PASSWORD), url)
    verdict = check_multipart(probes)
    if fault is None:
        assert verdict is None
    else:
        assert "wrong digest" in failed(verdict, "ATCR-HOLD-05").title


# --- ATCR-CONC-* -------------------------------------------------------------------------------


@pytest.mark.parametrize("fault", [None, "nonce-leak"])
def test_concurrent_layers(
    registry_for: Callable[..., RegistryClient], fault: str | None
) -> None:
    with running_atcr(*([fault] if fault else [])) as (url, _):
        push = probe_concurrent_layers(registry_for(url, ALICE), ALICE, layers=8)
    verdict = check_concurrent_layers(push)
    if fault is None:
        assert verdict is None
    else:
        failed(verdict, "ATCR-CONC-01")


@pytest.mark.parametrize("fault", [None, "shared-tags"])
def test_same_tag_race(
    http: httpx.Client, redactor: Redactor, registry_for: Callable[..., RegistryClient],
    fault: str | None,
) -> None:
    with running_atcr(*([fault] if fault else [])) as (url, _):
        race = probe_same_tag_race(pds_of(url, http, redactor),
                                   [(registry_for(url, ALICE), ALICE),
                                    (registry_for(url, BOB), BOB)])
    verdict = check_same_tag_race(race)
    if fault is None:
        assert verdict is None
    else:
        failed(verdict, "ATCR-CONC-02")
