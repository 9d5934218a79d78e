"""DPOP-01..12: Stratos as a DPoP resource server for tokens issued by the users' own PDSes.

The probes are the identity suite's, unchanged, pointed at an authenticated Stratos *read*
(``zone.stratos.enrollment.status`` for the owner: auth is optional there, but a presented
``Authorization`` that is invalid must be refused, and the caller's own ``boundaries`` appear
only to an authenticated caller) — never a write, which would spend the owner's rate budget.

Two Stratos-specific cases are added to the shared probe sets:

- DPOP-03: a proof whose ``htu`` is the user's PDS (the "requests go to the PDS" pitfall);
- DPOP-09: a token from a *rogue authorization server* that the harness serves on loopback with
  valid metadata and a JWKS holding the key that signed the token. Stratos verifies tokens
  remotely; it must insist that the issuer is the authorization server of the user's own PDS
  (``sub`` → DID document → PDS → protected-resource metadata), not trust whatever ``iss`` says.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from conformance.checks import dpop as checks
from conformance.checks.base import require
from conformance.clients.dpop import htu_of
from conformance.clients.oauth import OAuthClient, OAuthSession
from conformance.localserver import serve_in_thread
from conformance.plugin import Measure
from conformance.redact import Redactor
from conformance.scenarios import dpop as probes
from conformance.scenarios.base import NegativeProbes, Probe
from conformance.scenarios.dpop import DpopCaller, ProtectedEndpoint, token_signed_by

if TYPE_CHECKING:
    from conformance.suites.stratos.conftest import StratosRoles

PROTECTED_NSID = "zone.stratos.enrollment.status"


@pytest.fixture(scope="module")
def owner_session(roles: StratosRoles, oauth_client: OAuthClient, pds_url: str) -> OAuthSession:
    """A fresh OAuth session of the owner for this module (tokens live ≤ 15 minutes)."""
    owner = roles["owner"]
    return oauth_client.login(pds_url, owner.handle, owner.password)


@pytest.fixture
def protected_endpoint(
    owner_session: OAuthSession, stratos_url: str, redactor: Redactor
) -> ProtectedEndpoint:
    """An authenticated Stratos read with the owner's PDS-issued token and DPoP key."""
    url = httpx.URL(f"{stratos_url}/xrpc/{PROTECTED_NSID}", params={"did": owner_session.did})
    return ProtectedEndpoint(
        url=str(url),
        method="GET",
        access_token=owner_session.access_token,
        key=owner_session.dpop_key,
        secret_sink=redactor.add,
    )


class RogueIssuer:
    """An OAuth authorization server nobody should trust, on loopback: its metadata, protected-
    resource document and JWKS are all valid, and its key signs the rogue token."""

    kid = "atconform-rogue-1"

    def __init__(self) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self._lock = threading.Lock()
        self.fetches = 0

    def _seen(self) -> None:
        with self._lock:
            self.fetches += 1

    async def _metadata(self, request: Request) -> Response:
        self._seen()
        issuer = str(request.base_url).rstrip("/")
        return JSONResponse(
            {
                "issuer": issuer,
                "jwks_uri": f"{issuer}/oauth/jwks",
                "token_endpoint": f"{issuer}/oauth/token",
                "authorization_endpoint": f"{issuer}/oauth/authorize",
                "dpop_signing_alg_values_supported": ["ES256"],
                "scopes_supported": ["atproto"],
            }
        )

    async def _resource(self, request: Request) -> Response:
        self._seen()
        issuer = str(request.base_url).rstrip("/")
        return JSONResponse({"resource": issuer, "authorization_servers": [issuer]})

    async def _jwks(self, request: Request) -> Response:
        self._seen()
        jwk: dict[str, Any] = ECAlgorithm.to_jwk(self.key.public_key(), as_dict=True)
        return JSONResponse({"keys": [{**jwk, "kid": self.kid, "alg": "ES256", "use": "sig"}]})

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/.well-known/oauth-authorization-server", self._metadata),
                Route("/.well-known/oauth-protected-resource", self._resource),
                Route("/oauth/jwks", self._jwks),
            ]
        )


@pytest.mark.requirement("DPOP-01")
def test_missing_duplicate_or_unparsable_proof_is_refused(
    http: httpx.Client, protected_endpoint: ProtectedEndpoint
) -> None:
    require(checks.check_proof_presence(probes.probe_proof_presence(http, protected_endpoint)))


@pytest.mark.requirement("DPOP-02")
def test_missing_or_stale_nonce_gets_a_fresh_one(
    http: httpx.Client, protected_endpoint: ProtectedEndpoint
) -> None:
    require(checks.check_nonce_challenge(probes.probe_nonce_challenge(http, protected_endpoint)))


@pytest.mark.requirement("DPOP-03")
def test_htm_and_htu_must_match_the_stratos_request(
    http: httpx.Client, protected_endpoint: ProtectedEndpoint, pds_url: str
) -> None:
    shared = probes.probe_htm_htu(http, protected_endpoint)
    caller = DpopCaller(http, protected_endpoint)
    caller.prime()
    pds_htu = htu_of(f"{pds_url.rstrip('/')}/xrpc/{PROTECTED_NSID}")
    pitfall = Probe(
        "htu for the user's PDS origin instead of Stratos (the 'requests go to the PDS' pitfall)",
        caller.send_built(lambda n: [caller.proof(n, htu=pds_htu)]),
    )
    require(checks.check_htm_htu_binding(NegativeProbes(shared.control, (*shared.cases, pitfall))))


@pytest.mark.requirement("DPOP-04")
def test_iat_outside_the_window_is_refused(
    http: httpx.Client, protected_endpoint: ProtectedEndpoint
) -> None:
    require(
        checks.check_iat_window(
            probes.probe_iat_window(http, protected_endpoint, offset_seconds=300)
        )
    )


@pytest.mark.requirement("DPOP-05")
def test_replayed_proof_is_refused(
    http: httpx.Client, protected_endpoint: ProtectedEndpoint
) -> None:
    require(checks.check_replay_rejected(probes.probe_replay(http, protected_endpoint)))


@pytest.mark.requirement("DPOP-06")
def test_ath_must_hash_the_presented_token(
    http: httpx.Client, protected_endpoint: ProtectedEndpoint
) -> None:
    require(checks.check_ath_binding(probes.probe_ath(http, protected_endpoint)))


@pytest.mark.requirement("DPOP-07")
def test_proof_key_must_match_the_token_binding(
    http: httpx.Client, protected_endpoint: ProtectedEndpoint
) -> None:
    require(checks.check_key_binding(probes.probe_key_binding(http, protected_endpoint)))


@pytest.mark.requirement("DPOP-08")
def test_proof_type_and_algorithm_are_enforced(
    http: httpx.Client, protected_endpoint: ProtectedEndpoint
) -> None:
    require(
        checks.check_proof_type_and_alg(probes.probe_proof_type_and_alg(http, protected_endpoint))
    )


@pytest.mark.requirement("DPOP-09")
def test_forged_foreign_or_expired_tokens_are_refused(
    http: httpx.Client, protected_endpoint: ProtectedEndpoint, measure: Measure
) -> None:
    rogue = RogueIssuer()
    with serve_in_thread(rogue.app()) as rogue_url:
        shared = probes.probe_forged_tokens(http, protected_endpoint, foreign_issuer=rogue_url)
        token = token_signed_by(
            protected_endpoint.access_token, rogue.key, kid=rogue.kid, changes={"iss": rogue_url}
        )
        caller = DpopCaller(http, protected_endpoint)
        caller.prime()
        rogue_case = Probe(
            "access token issued and signed by an authorization server that is not the user's "
            "PDS's (valid metadata and JWKS served on loopback)",
            caller.send_built(lambda n: [caller.proof(n, token=token)], token=token),
        )
    measure(
        "rogue issuer documents fetched",
        rogue.fetches,
        note="requests the service made to the rogue authorization server (0 is ideal: the "
        "issuer check should come before any fetch)",
    )
    require(
        checks.check_token_verified(NegativeProbes(shared.control, (*shared.cases, rogue_case)))
    )


@pytest.mark.requirement("DPOP-10")
def test_dpop_bound_token_as_bearer_is_refused(
    http: httpx.Client, protected_endpoint: ProtectedEndpoint
) -> None:
    require(checks.check_bearer_rejected(probes.probe_bearer_scheme(http, protected_endpoint)))


@pytest.mark.requirement("DPOP-11")
def test_successful_responses_carry_a_nonce_and_old_nonces_have_grace(
    http: httpx.Client, protected_endpoint: ProtectedEndpoint
) -> None:
    require(checks.check_nonce_rotation(probes.probe_nonce_rotation(http, protected_endpoint)))


@pytest.mark.requirement("DPOP-12")
def test_concurrent_requests_sharing_a_nonce_do_not_race(
    http: httpx.Client, protected_endpoint: ProtectedEndpoint
) -> None:
    require(
        checks.check_no_nonce_race(
            probes.probe_concurrent_nonce(http, protected_endpoint, clients=10)
        )
    )
