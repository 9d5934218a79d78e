"""The hold's did:web identity and its own repo of captain/crew records (ATCR-HOLD-01)."""

from __future__ import annotations

from pathlib import Path

import httpx
from hold_support import Pds, running_hold

from reference_impl.atcr.hold.identity import DID_CONTEXT
from reference_impl.primitives import dagcbor
from reference_impl.primitives.keys import parse_public_key
from reference_impl.primitives.repo import load_repo_car

CAPTAIN = "io.atcr.hold.captain"
CREW = "io.atcr.hold.crew"


def test_did_document_and_health(hold_pds: Pds, tmp_path: Path, http: httpx.Client) -> None:
    with running_hold(hold_pds, tmp_path / "h", http) as hold:
        assert hold.did == "did:web:127.0.0.1%3A" + hold.url.rsplit(":", 1)[1]
        doc = http.get(f"{hold.url}/.well-known/did.json").json()
        key = doc["verificationMethod"][0]["publicKeyMultibase"]
        assert doc == {
            "@context": list(DID_CONTEXT),
            "id": hold.did,
            "verificationMethod": [
                {
                    "id": f"{hold.did}#atproto",
                    "type": "Multikey",
                    "controller": hold.did,
                    "publicKeyMultibase": key,
                }
            ],
            "service": [
                {"id": "#atcr_hold", "type": "AtcrHoldService", "serviceEndpoint": hold.url}
            ],
        }
        assert parse_public_key(key).curve == "secp256k1"
        port = int(hold.url.rsplit(":", 1)[1])
        health = http.get(f"{hold.url}/xrpc/_health")
        assert health.status_code == 200 and "version" in health.json()
    # The key is persisted: same data dir, same key.
    with running_hold(hold_pds, tmp_path / "h", http, port=port) as again:
        doc2 = http.get(f"{again.url}/.well-known/did.json").json()
        assert doc2["verificationMethod"][0]["publicKeyMultibase"] == key


def test_captain_and_crew_records(hold_pds: Pds, tmp_path: Path, http: httpx.Client) -> None:
    env = {
        "HOLD_OWNER": hold_pds.crew.did,
        "HOLD_CREW": f"{hold_pds.crew.did},did:plc:bbbbbbbbbbbbbbbbbbbbbbbb",
    }
    with running_hold(hold_pds, tmp_path / "h", http, env=env) as hold:
        xrpc = f"{hold.url}/xrpc"
        captain = http.get(
            f"{xrpc}/com.atproto.repo.getRecord",
            params={"repo": hold.did, "collection": CAPTAIN, "rkey": "self"},
        )
        assert captain.status_code == 200
        value = captain.json()["value"]
        assert value["owner"] == hold_pds.crew.did
        assert value["public"] is True and value["allowAllCrew"] is False
        crew = http.get(
            f"{xrpc}/com.atproto.repo.listRecords", params={"repo": hold.did, "collection": CREW}
        ).json()["records"]
        members = {r["value"]["member"]: r["value"] for r in crew}
        assert set(members) == {hold_pds.crew.did, "did:plc:bbbbbbbbbbbbbbbbbbbbbbbb"}
        assert members[hold_pds.crew.did]["permissions"] == ["blob:read", "blob:write"]
        assert members[hold_pds.crew.did]["role"] == "writer"

        described = http.get(f"{xrpc}/com.atproto.repo.describeRepo", params={"repo": hold.did})
        assert described.status_code == 200
        assert described.json()["collections"] == [CAPTAIN, CREW]

        car = http.get(f"{xrpc}/com.atproto.sync.getRepo", params={"did": hold.did})
        assert car.status_code == 200
        assert car.headers["content-type"] == "application/vnd.ipld.car"
        key = http.get(f"{hold.url}/.well-known/did.json").json()["verificationMethod"][0][
            "publicKeyMultibase"
        ]
        imported = load_repo_car(car.content, hold.did, "did:key:" + key)
        paths = {path for path in imported.records}
        assert (CAPTAIN, "self") in paths and len(paths) == 3
        assert dagcbor.decode(imported.records[(CAPTAIN, "self")][1])["owner"] == hold_pds.crew.did
        rev = imported.commit.rev
        port = int(hold.url.rsplit(":", 1)[1])

        for path, params in (
            (
                "com.atproto.repo.getRecord",
                {"repo": "did:plc:cccccccccccccccccccccccc", "collection": CAPTAIN, "rkey": "self"},
            ),
            (
                "com.atproto.repo.listRecords",
                {"repo": "did:plc:cccccccccccccccccccccccc", "collection": CREW},
            ),
            ("com.atproto.sync.getRepo", {"did": "did:plc:cccccccccccccccccccccccc"}),
        ):
            r = http.get(f"{xrpc}/{path}", params=params)
            assert r.status_code == 404 and r.json()["error"] == "RepoNotFound", path
        r = http.get(
            f"{xrpc}/com.atproto.repo.getRecord",
            params={"repo": hold.did, "collection": CREW, "rkey": "nope"},
        )
        assert r.status_code == 404 and r.json()["error"] == "RecordNotFound"
        r = http.get(f"{xrpc}/com.atproto.repo.getRecord", params={"repo": hold.did})
        assert r.status_code == 400

    # Restart with the same settings: no new commit. Changed settings: captain updated, one
    # more crew record, nothing duplicated.
    with running_hold(hold_pds, tmp_path / "h", http, env=env, port=port) as hold:
        car = http.get(f"{hold.url}/xrpc/com.atproto.sync.getRepo", params={"did": hold.did})
        assert load_repo_car(car.content, hold.did).commit.rev == rev
    env2 = {
        **env,
        "HOLD_PUBLIC": "false",
        "HOLD_CREW": f"{env['HOLD_CREW']},{hold_pds.outsider.did}",
    }
    with running_hold(hold_pds, tmp_path / "h", http, env=env2, port=port) as hold:
        car = http.get(f"{hold.url}/xrpc/com.atproto.sync.getRepo", params={"did": hold.did})
        imported = load_repo_car(car.content, hold.did)
        assert imported.commit.rev != rev
        crew_records = [p for p in imported.records if p[0] == CREW]
        assert len(crew_records) == 3
        assert dagcbor.decode(imported.records[(CAPTAIN, "self")][1])["public"] is False


def test_new_identity_starts_a_new_repo(hold_pds: Pds, tmp_path: Path, http: httpx.Client) -> None:
    with running_hold(hold_pds, tmp_path / "h", http):
        pass
    with running_hold(
        hold_pds, tmp_path / "h", http, env={"HOLD_DID": "did:web:hold.example"}
    ) as hold:
        car = http.get(f"{hold.url}/xrpc/com.atproto.sync.getRepo", params={"did": hold.did})
        assert car.status_code == 200
        assert load_repo_car(car.content, "did:web:hold.example").commit.did == hold.did
