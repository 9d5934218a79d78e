"""PDS-06..PDS-11: each check passes against a conforming authorization server and returns a
Failure with exactly its requirement ID against one that breaks that one rule (real HTTP,
``oauth_fakes``), through the same scenario the identity suite runs."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm
from oauth_fakes import FakeAs, running_fake_as

from conformance.checks.base import Failure
from conformance.checks.oauth import (
    check_access_token_claims,
    check_access_token_signature,
    check_as_nonce_challenge,
    check_authorization_page,
    check_authorization_redirect,
    check_client_assertion_iat,
    check_jwks_public,
    check_loopback_client,
    check_par_requires_dpop,
    check_pkce_s256_only,
    check_protected_resource,
    check_refresh_key_binding,
    check_refresh_single_use,
    check_revocation,
    check_server_metadata,
    check_token_requires_dpop,
    check_token_response,
    check_unknown_redirect_uri,
    check_unpushed_refused,
    check_unreachable_client,
    check_wrong_verifier,
    mentions_iat,
)
from conformance.clients.dpop import DpopKey
from conformance.clients.oauth import AuthServerInfo, OAuthClient, OAuthSession
from conformance.redact import Redactor
from conformance.scenarios.base import Probe
from conformance.scenarios.oauth import (
    TokenExchange,
    closed_loopback_url,
    hosted_confidential_client,
    probe_authorization,
    probe_client_assertion_iat,
    probe_discovery,
    probe_jwks,
    probe_loopback_client,
    probe_par_nonce,
    probe_par_without_dpop,
    probe_pkce_methods,
    probe_redirect_uri,
    probe_refresh_key_binding,
    probe_refresh_reuse,
    probe_revocation,
    probe_token_exchange,
    probe_token_without_dpop,
    probe_unpushed_authorization,
    probe_unreachable_client,
    probe_wrong_verifier,
)


@dataclass(frozen=True)
class Ctx:
    """One fake AS and the harness client pointed at it."""

    state: FakeAs
    http: httpx.Client
    redactor: Redactor
    client: OAuthClient
    server: AuthServerInfo

    def login(self) -> OAuthSession:
        return self.client.login(self.state.base, self.state.handle, self.state.password)


def _metadata(c: Ctx) -> Failure | None:
    return check_server_metadata(probe_discovery(c.http, c.state.base))


def _resource(c: Ctx) -> Failure | None:
    return check_protected_resource(probe_discovery(c.http, c.state.base))


def _jwks(c: Ctx) -> Failure | None:
    return check_jwks_public(probe_discovery(c.http, c.state.base))


def _unpushed(c: Ctx) -> Failure | None:
    return check_unpushed_refused(probe_unpushed_authorization(c.client, c.server))


def _par_dpop(c: Ctx) -> Failure | None:
    return check_par_requires_dpop(probe_par_without_dpop(c.client, c.server))


def _token_dpop(c: Ctx) -> Failure | None:
    probes = probe_token_without_dpop(c.client, c.server, c.state.handle, c.state.password)
    return check_token_requires_dpop(probes)


def _nonce(c: Ctx) -> Failure | None:
    return check_as_nonce_challenge(probe_par_nonce(c.client, c.server))


def _pkce(c: Ctx) -> Failure | None:
    return check_pkce_s256_only(probe_pkce_methods(c.client, c.server))


def _verifier(c: Ctx) -> Failure | None:
    probes = probe_wrong_verifier(c.client, c.server, c.state.handle, c.state.password)
    return check_wrong_verifier(probes)


def _page(c: Ctx) -> Failure | None:
    probes = probe_authorization(c.client, c.server, c.state.handle, c.state.password)
    return check_authorization_page(probes)


def _redirect(c: Ctx) -> Failure | None:
    probes = probe_authorization(c.client, c.server, c.state.handle, c.state.password)
    return check_authorization_redirect(probes, c.server.issuer)


def _token_response(c: Ctx) -> Failure | None:
    exchange = probe_token_exchange(c.client, c.server, c.state.handle, c.state.password)
    return check_token_response(exchange, c.state.did)


def _token_claims(c: Ctx) -> Failure | None:
    exchange = probe_token_exchange(c.client, c.server, c.state.handle, c.state.password)
    return check_access_token_claims(exchange, c.state.did, c.server.issuer)


def _token_signature(c: Ctx) -> Failure | None:
    exchange = probe_token_exchange(c.client, c.server, c.state.handle, c.state.password)
    return check_access_token_signature(exchange, probe_jwks(c.http, c.server))


def _refresh_reuse(c: Ctx) -> Failure | None:
    return check_refresh_single_use(probe_refresh_reuse(c.client, c.login()))


def _refresh_key(c: Ctx) -> Failure | None:
    probes = probe_refresh_key_binding(c.client, c.login(), c.login(), DpopKey.generate())
    return check_refresh_key_binding(probes)


def _revocation(c: Ctx) -> Failure | None:
    resource = f"{c.state.base}/xrpc/com.atproto.server.getSession"
    return check_revocation(probe_revocation(c.client, c.login(), resource))


def _redirect_uri(c: Ctx) -> Failure | None:
    return check_unknown_redirect_uri(probe_redirect_uri(c.client, c.server))


def _unreachable(c: Ctx) -> Failure | None:
    probes = probe_unreachable_client(c.client, c.server, closed_loopback_url())
    return check_unreachable_client(probes)


def _loopback(c: Ctx) -> Failure | None:
    return check_loopback_client(probe_loopback_client(c.client, c.server))


def _assertion_iat(c: Ctx) -> Failure | None:
    with hosted_confidential_client(c.http, c.redactor) as client:
        return check_client_assertion_iat(probe_client_assertion_iat(client, c.server))


@dataclass(frozen=True)
class Facet:
    name: str
    requirement: str
    run: Callable[[Ctx], Failure | None]
    faults: tuple[str, ...]  # misbehaviours that must make this check fail


FACETS = (
    Facet(
        "server-metadata",
        "PDS-06",
        _metadata,
        ("no_require_par", "plain_advertised", "no_private_key_jwt"),
    ),
    Facet("protected-resource", "PDS-06", _resource, ("two_auth_servers",)),
    Facet("jwks-public", "PDS-06", _jwks, ("private_jwks",)),
    Facet("unpushed-refused", "PDS-07", _unpushed, ("accept_unpushed",)),
    Facet("par-requires-dpop", "PDS-07", _par_dpop, ("par_without_dpop",)),
    Facet("token-requires-dpop", "PDS-07", _token_dpop, ("token_without_dpop",)),
    Facet(
        "as-nonce-challenge",
        "PDS-07",
        _nonce,
        ("no_nonce_required", "nonce_error_without_header"),
    ),
    Facet(
        "pkce-s256-only",
        "PDS-08",
        _pkce,
        ("accept_plain", "accept_missing_challenge", "refuse_all_par"),
    ),
    Facet("wrong-verifier", "PDS-08", _verifier, ("ignore_verifier", "verifier_wrong_error")),
    Facet("authorization-page", "PDS-09", _page, ("json_page",)),
    Facet("authorization-redirect", "PDS-09", _redirect, ("no_iss", "wrong_state")),
    Facet("token-response", "PDS-10", _token_response, ("no_sub_in_response",)),
    Facet("access-token-claims", "PDS-10", _token_claims, ("no_cnf", "long_exp")),
    Facet("access-token-signature", "PDS-10", _token_signature, ("foreign_signing_key",)),
    Facet("refresh-single-use", "PDS-10", _refresh_reuse, ("reuse_refresh",)),
    Facet("refresh-key-binding", "PDS-10", _refresh_key, ("refresh_any_key",)),
    Facet("revocation", "PDS-10", _revocation, ("no_revocation",)),
    Facet("unknown-redirect-uri", "PDS-11", _redirect_uri, ("any_redirect_uri",)),
    Facet("unreachable-client", "PDS-11", _unreachable, ("unreachable_invalid_client",)),
    Facet("loopback-client", "PDS-11", _loopback, ("reject_loopback",)),
    Facet("client-assertion-iat", "PDS-11", _assertion_iat, ("no_iat_check",)),
)


@contextmanager
def fake_as(misbehaviour: str | None = None) -> Iterator[Ctx]:
    """A fake AS (conforming, or with one misbehaviour) and the harness's client for it."""
    redactor = Redactor()
    with running_fake_as(misbehaviour) as state, httpx.Client(timeout=15.0) as http:
        redactor.add(state.password)
        client = OAuthClient(http, redactor)
        yield Ctx(state, http, redactor, client, client.discover(state.base))


def _assert_secret_free(failure: Failure, redactor: Redactor) -> None:
    for text in (failure.title, failure.message):
        for secret in redactor.known_values():
            assert secret not in text, "a Failure quotes a secret"


@pytest.mark.parametrize("facet", FACETS, ids=lambda f: f.name)
def test_check_passes_against_conforming_server(facet: Facet) -> None:
    with fake_as() as ctx:
        failure = facet.run(ctx)
    assert failure is None, failure


@pytest.mark.parametrize(
    ("facet", "fault"),
    [(f, fault) for f in FACETS for fault in f.faults],
    ids=lambda v: v.name if isinstance(v, Facet) else v,
)
def test_check_fails_against_broken_server(facet: Facet, fault: str) -> None:
    with fake_as(fault) as ctx:
        failure = facet.run(ctx)
    assert failure is not None, f"{facet.name} did not notice {fault}"
    assert failure.requirement == facet.requirement
    assert failure.title and failure.message and failure.responses
    if fault != "refuse_all_par":
        # The defect itself was noticed, not a refused control request.
        assert "correct request was refused" not in failure.title, failure
    _assert_secret_free(failure, ctx.redactor)


def test_refused_control_is_reported_not_passed() -> None:
    facet = next(f for f in FACETS if f.name == "pkce-s256-only")
    with fake_as("refuse_all_par") as ctx:
        failure = facet.run(ctx)
    assert failure is not None
    assert "correct request was refused" in failure.title


def test_iat_refusal_description_is_reported() -> None:
    with fake_as() as ctx, hosted_confidential_client(ctx.http, ctx.redactor) as client:
        probes = probe_client_assertion_iat(client, ctx.server)
    assert mentions_iat(probes.cases[0])
    assert not mentions_iat(probes.control)


def test_confidential_client_metadata_is_served() -> None:
    with fake_as() as ctx, hosted_confidential_client(ctx.http, ctx.redactor) as client:
        doc = ctx.http.get(client.client_id).json()
    assert doc["client_id"] == client.client_id
    assert doc["token_endpoint_auth_method"] == "private_key_jwt"
    keys = doc["jwks"]["keys"]
    assert keys and all("d" not in k for k in keys)


def test_signature_check_rejects_tokens_signed_by_another_key() -> None:
    """The JWKS check's own sanity, without a server: a token by a stranger key never verifies."""
    signer, stranger = (ec.generate_private_key(ec.SECP256R1()) for _ in range(2))
    token = jwt.encode({"sub": "did:plc:x"}, signer, algorithm="ES256", headers={"kid": "k"})
    request = httpx.Request("POST", "http://127.0.0.1/oauth/token")
    response = httpx.Response(200, json={"access_token": token}, request=request)
    exchange = TokenExchange(Probe("token", response), "jkt")

    def keys(key: ec.EllipticCurvePrivateKey) -> Probe:
        jwk = {**ECAlgorithm.to_jwk(key.public_key(), as_dict=True), "kid": "k"}
        jwks_request = httpx.Request("GET", "http://127.0.0.1/oauth/jwks")
        return Probe("jwks", httpx.Response(200, json={"keys": [jwk]}, request=jwks_request))

    assert check_access_token_signature(exchange, keys(signer)) is None
    failure = check_access_token_signature(exchange, keys(stranger))
    assert failure is not None and failure.requirement == "PDS-10"
