"""PdsSync against a real reference PDS: stubs follow Stratos writes, unenrolment cleans up,
and an outage of the PDS only delays delivery (in order), never loses it."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from stratos_oauth_support import (
    ENROLLMENT,
    POST,
    SERVICE_DID,
    StratosWorld,
    enroll,
    pds_record,
    stratos_world,
    wait_for,
)

from conformance.clients.dpop import DpopKey, make_dpop_proof
from reference_impl.stratos.records import RecordWrite

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StratosWorld]:
    with stratos_world(tmp_path_factory.mktemp("stratos-sync")) as running:
        yield running


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=30) as client:
        yield client


def post(text: str, created_at: str = "2026-11-20T12:00:00.000Z") -> dict[str, Any]:
    return {
        "$type": POST,
        "text": text,
        "createdAt": created_at,
        "boundary": {"values": [{"value": f"{SERVICE_DID}/engineering"}]},
    }


def write(world: StratosWorld, did: str, *writes: RecordWrite) -> Any:
    return world.stratos.writes.apply(did, did, list(writes), None, None)


def stub_of(http: httpx.Client, world: StratosWorld, did: str, rkey: str) -> dict[str, Any] | None:
    return pds_record(http, world, did, POST, rkey)


def test_stubs_follow_creates_updates_and_deletes(world: StratosWorld, http: httpx.Client) -> None:
    alice = world.alice
    assert enroll(world, http, alice, "engineering").status_code == 200

    created = write(world, alice.did, RecordWrite("create", POST, None, post("secret plans")))
    (result,) = created.results
    rkey = result.uri.rsplit("/", 1)[1]
    stub = wait_for(lambda: stub_of(http, world, alice.did, rkey))
    assert stub["value"] == {
        "$type": POST,
        "text": "",
        "createdAt": "2026-11-20T12:00:00.000Z",
        "source": {
            "vary": "authenticated",
            "subject": {"uri": f"at://{alice.did}/{POST}/{rkey}", "cid": result.cid},
            "service": f"{SERVICE_DID}#stratos",
        },
    }
    assert "secret plans" not in str(stub)  # the content never leaves Stratos

    updated = write(world, alice.did, RecordWrite("update", POST, rkey, post("revised plans")))
    new_cid = updated.results[0].cid
    assert new_cid != result.cid
    wait_for(
        lambda: (
            (s := stub_of(http, world, alice.did, rkey))
            and s["value"]["source"]["subject"]["cid"] == new_cid
        )
    )

    write(world, alice.did, RecordWrite("delete", POST, rkey))
    wait_for(lambda: stub_of(http, world, alice.did, rkey) is None)
    wait_for(lambda: world.sync.pending(alice.did) == [])


def test_unenrolling_removes_record_and_stubs_and_ends_the_session(
    world: StratosWorld, http: httpx.Client
) -> None:
    bob = world.bob
    assert enroll(world, http, bob, "engineering").status_code == 200
    outcome = write(
        world,
        bob.did,
        RecordWrite("create", POST, None, post("one")),
        RecordWrite("create", POST, None, post("two")),
    )
    rkeys = [r.uri.rsplit("/", 1)[1] for r in outcome.results]
    for rkey in rkeys:
        wait_for(lambda rkey=rkey: stub_of(http, world, bob.did, rkey))
    session = world.session(bob.did)
    assert session is not None

    world.stratos.enrollments.unenroll(bob.did)
    wait_for(lambda: pds_record(http, world, bob.did, ENROLLMENT, SERVICE_DID) is None)
    for rkey in rkeys:
        wait_for(lambda rkey=rkey: stub_of(http, world, bob.did, rkey) is None)
    wait_for(lambda: world.session(bob.did) is None)

    # Revoked at the PDS too: the old access token no longer works there.
    key = DpopKey(session.dpop_key.cryptography_private_key)
    url = f"{world.pds}/xrpc/com.atproto.repo.createRecord"

    def create(nonce: str | None) -> httpx.Response:
        proof = make_dpop_proof(key, "POST", url, nonce=nonce, access_token=session.access_token)
        return http.post(
            url,
            json={"repo": bob.did, "collection": POST, "record": post("after leaving")},
            headers={"Authorization": f"DPoP {session.access_token}", "DPoP": proof},
        )

    first = create(None)
    refused = create(first.headers.get("dpop-nonce"))
    assert refused.status_code == 401, refused.text
    assert "revoked" in refused.json()["message"]


def test_a_pds_outage_delays_delivery_in_order_and_loses_nothing(
    world: StratosWorld, http: httpx.Client
) -> None:
    """Runs last in this module: it stops and restarts the PDS."""
    alice = world.alice
    assert enroll(world, http, alice, "engineering").status_code == 200
    world.runtime.kill("pds", signal.SIGTERM)

    kept = write(world, alice.did, RecordWrite("create", POST, None, post("kept")))
    gone = write(world, alice.did, RecordWrite("create", POST, None, post("gone")))
    kept_rkey = kept.results[0].uri.rsplit("/", 1)[1]
    gone_rkey = gone.results[0].uri.rsplit("/", 1)[1]
    write(world, alice.did, RecordWrite("delete", POST, gone_rkey))

    # The oldest row is retried with backoff; the later ones wait behind it.
    rows = wait_for(
        lambda: (p := world.sync.pending(alice.did)) and p[0].attempts >= 2 and p, timeout=15
    )
    assert [(r.kind, r.rkey) for r in rows] == [
        ("put", kept_rkey),
        ("put", gone_rkey),
        ("delete", gone_rkey),
    ]
    assert all(r.attempts == 0 for r in rows[1:])

    world.runtime.restart("pds")
    wait_for(lambda: world.sync.pending(alice.did) == [], timeout=15)
    assert stub_of(http, world, alice.did, kept_rkey) is not None
    assert stub_of(http, world, alice.did, gone_rkey) is None
