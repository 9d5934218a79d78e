"""``RemoteTokenVerifier`` against a scripted identity world (httpx.MockTransport): caching,
key rotation, the refetch throttle, and malformed documents — cases a real PDS cannot stage."""

from __future__ import annotations

import asyncio
import secrets
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

from reference_impl.common.dpop import ReplayCache
from reference_impl.common.resource_auth import (
    InvalidToken,
    NoReplayCheck,
    RemoteTokenVerifier,
    VerifiedToken,
)

DID = "did:plc:" + "a" * 24
OTHER_DID = "did:plc:" + "b" * 24
PLC = "http://plc.test"
PDS = "http://pds.test"
ISSUER = "http://as.test"
JWKS_URI = f"{ISSUER}/oauth/jwks"


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class IdentityWorld:
    """DID directory, PDS and authorization server, as documents a handler serves."""

    keys: dict[str, ec.EllipticCurvePrivateKey] = field(default_factory=dict)
    hits: Counter[str] = field(default_factory=Counter)
    did_doc_id: str = DID
    pds_names_issuer: str = ISSUER
    with_pds_service: bool = True
    down: bool = False

    def add_key(self, kid: str) -> ec.EllipticCurvePrivateKey:
        self.keys[kid] = ec.generate_private_key(ec.SECP256R1())
        return self.keys[kid]

    def handler(self, request: httpx.Request) -> httpx.Response:
        url = str(request.url)
        self.hits[url] += 1
        if self.down:
            raise httpx.ConnectError("down", request=request)
        if url == f"{PLC}/{DID}":
            services = (
                [
                    {
                        "id": "#atproto_pds",
                        "type": "AtprotoPersonalDataServer",
                        "serviceEndpoint": PDS,
                    }
                ]
                if self.with_pds_service
                else []
            )
            return httpx.Response(200, json={"id": self.did_doc_id, "service": services})
        if url == f"{PDS}/.well-known/oauth-protected-resource":
            return httpx.Response(200, json={"authorization_servers": [self.pds_names_issuer]})
        if url == f"{ISSUER}/.well-known/oauth-authorization-server":
            return httpx.Response(
                200,
                json={
                    "issuer": ISSUER,
                    "authorization_endpoint": f"{ISSUER}/oauth/authorize",
                    "token_endpoint": f"{ISSUER}/oauth/token",
                    "pushed_authorization_request_endpoint": f"{ISSUER}/oauth/par",
                    "jwks_uri": JWKS_URI,
                },
            )
        if url == JWKS_URI:
            keys = [
                {**ECAlgorithm.to_jwk(k.public_key(), as_dict=True), "kid": kid, "alg": "ES256"}
                for kid, k in self.keys.items()
            ]
            return httpx.Response(200, json={"keys": keys})
        return httpx.Response(404, json={"error": "NotFound"})


def token(
    key: ec.EllipticCurvePrivateKey,
    kid: str | None,
    now: float,
    *,
    header: dict[str, Any] | None = None,
    **claims: Any,
) -> str:
    body: dict[str, Any] = {
        "iss": ISSUER,
        "sub": DID,
        "aud": PDS,
        "iat": int(now),
        "exp": int(now) + 300,
        "jti": secrets.token_urlsafe(8),
        "scope": "atproto",
        "client_id": "https://client.test/meta.json",
        "cnf": {"jkt": "thumb"},
    }
    body.update(claims)
    body = {k: v for k, v in body.items() if v is not None}
    headers: dict[str, Any] = {"typ": "at+jwt", **(header or {})}
    if kid is not None:
        headers["kid"] = kid
    return jwt.encode(body, key, algorithm="ES256", headers=headers)


def run_verify(
    world: IdentityWorld, clock: Clock, *tokens: str, **options: Any
) -> list[VerifiedToken | InvalidToken]:
    async def main() -> list[VerifiedToken | InvalidToken]:
        async with httpx.AsyncClient(transport=httpx.MockTransport(world.handler)) as http:
            verifier = RemoteTokenVerifier(http, PLC, clock, **options)
            out: list[VerifiedToken | InvalidToken] = []
            for t in tokens:
                try:
                    out.append(await verifier.verify(t))
                except InvalidToken as exc:
                    out.append(exc)
            return out

    return asyncio.run(main())


def test_valid_token_verifies_and_discovery_is_cached() -> None:
    world, clock = IdentityWorld(), Clock()
    key = world.add_key("k1")
    first, second = run_verify(
        world, clock, token(key, "k1", clock.now), token(key, "k1", clock.now)
    )
    assert isinstance(first, VerifiedToken) and isinstance(second, VerifiedToken)
    assert (first.sub, first.iss, first.jkt, first.scope) == (DID, ISSUER, "thumb", "atproto")
    assert first.client_id == "https://client.test/meta.json"
    assert all(count == 1 for count in world.hits.values()), world.hits


def test_cache_entries_expire_after_the_ttl() -> None:
    world, clock = IdentityWorld(), Clock()
    key = world.add_key("k1")

    async def main() -> None:
        async with httpx.AsyncClient(transport=httpx.MockTransport(world.handler)) as http:
            verifier = RemoteTokenVerifier(http, PLC, clock, cache_ttl_s=60)
            await verifier.verify(token(key, "k1", clock.now))
            clock.now += 61
            await verifier.verify(token(key, "k1", clock.now))

    asyncio.run(main())
    assert world.hits[f"{PLC}/{DID}"] == 2
    assert world.hits[JWKS_URI] == 2


def test_rotated_key_is_picked_up_by_one_refetch_and_refetches_are_throttled() -> None:
    world, clock = IdentityWorld(), Clock()
    old = world.add_key("old")

    async def main() -> list[Any]:
        async with httpx.AsyncClient(transport=httpx.MockTransport(world.handler)) as http:
            verifier = RemoteTokenVerifier(http, PLC, clock)
            results: list[Any] = [await verifier.verify(token(old, "old", clock.now))]
            new = world.add_key("new")  # the issuer rotates
            clock.now += 30
            results.append(await verifier.verify(token(new, "new", clock.now)))
            hits_after_rotation = world.hits[JWKS_URI]
            # A stream of random kids right after a fetch must not hammer the JWKS endpoint.
            for _ in range(5):
                with pytest.raises(InvalidToken):
                    await verifier.verify(token(new, secrets.token_hex(4), clock.now))
            results.append(world.hits[JWKS_URI] - hits_after_rotation)
            return results

    first, rotated, extra_fetches = asyncio.run(main())
    assert isinstance(first, VerifiedToken)
    assert isinstance(rotated, VerifiedToken)
    assert world.hits[JWKS_URI] == 2
    assert extra_fetches == 0


def test_signature_by_an_unpublished_key_is_refused() -> None:
    world, clock = IdentityWorld(), Clock()
    world.add_key("k1")
    stranger = ec.generate_private_key(ec.SECP256R1())
    (result,) = run_verify(world, clock, token(stranger, "k1", clock.now))
    assert isinstance(result, InvalidToken) and "signature" in result.description
    # The accept-forged-token fault: the same token passes.
    (faulty,) = run_verify(world, clock, token(stranger, "k1", clock.now), verify_signature=False)
    assert isinstance(faulty, VerifiedToken)


@pytest.mark.parametrize(
    ("make", "fragment"),
    [
        (lambda k, now: token(k, "k1", now, header={"typ": "dpop+jwt"}), "typ"),
        (lambda k, now: token(k, "k1", now, cnf=None), "cnf.jkt"),
        (lambda k, now: token(k, "k1", now, cnf={"jkt": ""}), "cnf.jkt"),
        (lambda k, now: token(k, "k1", now, exp=None), "exp"),
        (lambda k, now: token(k, "k1", now, exp="soon"), "exp"),
        (lambda k, now: token(k, "k1", now, scope=None), "scope"),
        (lambda k, now: token(k, "k1", now, sub="alice"), "sub"),
        (lambda k, now: token(k, "k1", now, sub=OTHER_DID), "issuer"),
        (lambda k, now: token(k, "k1", now, iss=None), "iss"),
        (lambda k, now: token(k, "k1", now, iss="http://evil.test"), "iss"),
        (lambda k, now: token(k, "k1", now, exp=int(now) - 1), "expired"),
        (lambda k, now: "not.a.jwt", "parsable"),
        (lambda k, now: "x" * 9000, "compact"),
    ],
)
def test_malformed_claims_are_refused(
    make: Callable[[ec.EllipticCurvePrivateKey, float], str], fragment: str
) -> None:
    world, clock = IdentityWorld(), Clock()
    key = world.add_key("k1")
    for verify_signature in (True, False):
        (result,) = run_verify(
            world, clock, make(key, clock.now), verify_signature=verify_signature
        )
        assert isinstance(result, InvalidToken), result
        assert fragment in result.description, result.description


def test_expiry_is_flagged() -> None:
    world, clock = IdentityWorld(), Clock()
    key = world.add_key("k1")
    (result,) = run_verify(world, clock, token(key, "k1", clock.now, exp=int(clock.now)))
    assert isinstance(result, InvalidToken) and result.expired


@pytest.mark.parametrize(
    "breakage",
    [
        {"did_doc_id": OTHER_DID},
        {"with_pds_service": False},
        {"pds_names_issuer": "http://evil.test"},
        {"down": True},
    ],
)
def test_broken_discovery_chain_refuses_the_token(breakage: dict[str, Any]) -> None:
    world, clock = IdentityWorld(**breakage), Clock()
    key = world.add_key("k1")
    (result,) = run_verify(world, clock, token(key, "k1", clock.now))
    assert isinstance(result, InvalidToken)
    assert not result.expired


def test_no_replay_check_never_reports_a_replay() -> None:
    assert isinstance(NoReplayCheck(), ReplayCache)
    cache = NoReplayCheck()
    assert all(cache.add("same", 100.0, 1.0) for _ in range(3))
