"""Repository behaviour of the reference PDS over real HTTP (PDS-05 details the suite relies on)."""

from __future__ import annotations

import signal

import httpx
from atproto_crypto.verify import verify_signature
from pds_helpers import bearer, new_account, post_record

from conformance.repo_verify import atproto_signing_key, verify_repo

POST = "zone.stratos.feed.post"


def test_apply_writes_is_atomic(pds, http: httpx.Client) -> None:
    alice = new_account(http, pds.url)
    before = http.get(
        pds.xrpc("com.atproto.sync.getLatestCommit"), params={"did": alice["did"]}
    ).json()
    response = http.post(
        pds.xrpc("com.atproto.repo.applyWrites"),
        headers=bearer(alice),
        json={
            "repo": alice["did"],
            "writes": [
                {
                    "$type": "com.atproto.repo.applyWrites#create",
                    "collection": POST,
                    "value": post_record("ok"),
                },
                # Over 300 graphemes: the lexicon refuses it, so the whole batch must be refused.
                {
                    "$type": "com.atproto.repo.applyWrites#create",
                    "collection": POST,
                    "value": post_record("x" * 301),
                },
            ],
        },
    )
    assert response.status_code == 400
    assert response.json()["error"] == "InvalidRequest"
    after = http.get(
        pds.xrpc("com.atproto.sync.getLatestCommit"), params={"did": alice["did"]}
    ).json()
    assert after == before
    listed = http.get(
        pds.xrpc("com.atproto.repo.listRecords"), params={"repo": alice["did"], "collection": POST}
    )
    assert listed.json()["records"] == []


def test_swap_commit_and_swap_record(pds, http: httpx.Client) -> None:
    alice = new_account(http, pds.url)
    created = http.post(
        pds.xrpc("com.atproto.repo.createRecord"),
        headers=bearer(alice),
        json={
            "repo": alice["did"],
            "collection": POST,
            "rkey": "3kaaaaaaaaaa2",
            "record": post_record("v1"),
        },
    ).json()
    stale = http.post(
        pds.xrpc("com.atproto.repo.putRecord"),
        headers=bearer(alice),
        json={
            "repo": alice["did"],
            "collection": POST,
            "rkey": "3kaaaaaaaaaa2",
            "record": post_record("v2"),
            "swapRecord": "bafyreie5cvv4h45feadgeuwhbcutmh6t2ceseocckahdoe6uat64zmz454",
        },
    )
    assert stale.status_code == 400 and stale.json()["error"] == "InvalidSwap"
    ok = http.post(
        pds.xrpc("com.atproto.repo.putRecord"),
        headers=bearer(alice),
        json={
            "repo": alice["did"],
            "collection": POST,
            "rkey": "3kaaaaaaaaaa2",
            "record": post_record("v2"),
            "swapRecord": created["cid"],
            "swapCommit": created["commit"]["cid"],
        },
    )
    assert ok.status_code == 200, ok.text
    assert ok.json()["commit"]["rev"] > created["commit"]["rev"]
    old_commit = http.post(
        pds.xrpc("com.atproto.repo.deleteRecord"),
        headers=bearer(alice),
        json={
            "repo": alice["did"],
            "collection": POST,
            "rkey": "3kaaaaaaaaaa2",
            "swapCommit": created["commit"]["cid"],
        },
    )
    assert old_commit.status_code == 400 and old_commit.json()["error"] == "InvalidSwap"


def test_cannot_write_into_another_repo(pds, http: httpx.Client) -> None:
    alice, bob = new_account(http, pds.url), new_account(http, pds.url)
    response = http.post(
        pds.xrpc("com.atproto.repo.createRecord"),
        headers=bearer(alice),
        json={"repo": bob["did"], "collection": POST, "record": post_record("intruder")},
    )
    assert response.status_code == 401
    listed = http.get(
        pds.xrpc("com.atproto.repo.listRecords"), params={"repo": bob["did"], "collection": POST}
    )
    assert listed.json()["records"] == []


def test_unknown_collections_are_stored_as_is(pds, http: httpx.Client) -> None:
    alice = new_account(http, pds.url)
    response = http.post(
        pds.xrpc("com.atproto.repo.createRecord"),
        headers=bearer(alice),
        json={
            "repo": alice["did"],
            "collection": "com.example.custom",
            "record": {"anything": [1, 2]},
        },
    )
    assert response.status_code == 200 and response.json()["validationStatus"] == "unknown"
    rkey = response.json()["uri"].rsplit("/", 1)[1]
    got = http.get(
        pds.xrpc("com.atproto.repo.getRecord"),
        params={"repo": alice["handle"], "collection": "com.example.custom", "rkey": rkey},
    )
    assert got.json()["value"] == {"$type": "com.example.custom", "anything": [1, 2]}


def test_since_export_holds_only_newer_blocks(pds, http: httpx.Client) -> None:
    alice = new_account(http, pds.url)
    first = http.post(
        pds.xrpc("com.atproto.repo.createRecord"),
        headers=bearer(alice),
        json={"repo": alice["did"], "collection": POST, "record": post_record("one")},
    ).json()
    second = http.post(
        pds.xrpc("com.atproto.repo.createRecord"),
        headers=bearer(alice),
        json={"repo": alice["did"], "collection": POST, "record": post_record("two")},
    ).json()
    full = http.get(pds.xrpc("com.atproto.sync.getRepo"), params={"did": alice["did"]}).content
    partial = http.get(
        pds.xrpc("com.atproto.sync.getRepo"),
        params={"did": alice["did"], "since": first["commit"]["rev"]},
    ).content
    assert second["cid"].encode() and len(partial) < len(full)
    from conformance.repo_verify import read_car

    partial_cids = {c.encode() for c in read_car(partial).blocks}
    assert second["cid"] in partial_cids and second["commit"]["cid"] in partial_cids
    assert first["cid"] not in partial_cids


def test_blobs_upload_reference_and_list(pds, http: httpx.Client) -> None:
    alice = new_account(http, pds.url)
    blob = http.post(
        pds.xrpc("com.atproto.repo.uploadBlob"),
        headers={**bearer(alice), "Content-Type": "text/plain"},
        content=b"hello blob",
    ).json()["blob"]
    missing = {
        "$type": "blob",
        "ref": {"$link": "bafkreiahl6hd6ix4wwjpdqt3bbrxltxkvtdwppkdurmdz76tq2c5hiozxm"},
        "mimeType": "text/plain",
        "size": 3,
    }
    refused = http.post(
        pds.xrpc("com.atproto.repo.createRecord"),
        headers=bearer(alice),
        json={"repo": alice["did"], "collection": "com.example.file", "record": {"file": missing}},
    )
    assert refused.status_code == 400 and refused.json()["error"] == "BlobNotFound"
    assert (
        http.get(pds.xrpc("com.atproto.sync.listBlobs"), params={"did": alice["did"]}).json()[
            "cids"
        ]
        == []
    )
    http.post(
        pds.xrpc("com.atproto.repo.createRecord"),
        headers=bearer(alice),
        json={"repo": alice["did"], "collection": "com.example.file", "record": {"file": blob}},
    )
    listed = http.get(pds.xrpc("com.atproto.sync.listBlobs"), params={"did": alice["did"]}).json()
    assert listed["cids"] == [blob["ref"]["$link"]]
    served = http.get(
        pds.xrpc("com.atproto.sync.getBlob"),
        params={"did": alice["did"], "cid": blob["ref"]["$link"]},
    )
    assert served.content == b"hello blob" and served.headers["content-type"].startswith(
        "text/plain"
    )


def test_service_auth_token_verifies_against_did_document(pds, http: httpx.Client) -> None:
    import base64
    import json

    alice = new_account(http, pds.url)
    token = http.get(
        pds.xrpc("com.atproto.server.getServiceAuth"),
        headers=bearer(alice),
        params={"aud": "did:web:hold.example.test", "lxm": "io.atcr.hold.initiateUpload"},
    ).json()["token"]
    header_b64, payload_b64, sig_b64 = token.split(".")
    payload = json.loads(base64.urlsafe_b64decode(payload_b64 + "=="))
    assert payload["iss"] == alice["did"] and payload["aud"] == "did:web:hold.example.test"
    assert (
        payload["lxm"] == "io.atcr.hold.initiateUpload"
        and 0 < payload["exp"] - payload["iat"] <= 60
    )
    document = http.get(f"{pds.url}/{alice['did']}").json()
    key = atproto_signing_key(document)
    assert key is not None
    signature = base64.urlsafe_b64decode(sig_b64 + "==")
    assert verify_signature(key, f"{header_b64}.{payload_b64}".encode(), signature)
    too_long = http.get(
        pds.xrpc("com.atproto.server.getServiceAuth"),
        headers=bearer(alice),
        params={"aud": "did:web:hold.example.test", "exp": payload["iat"] + 600},
    )
    assert too_long.status_code == 400 and too_long.json()["error"] == "BadExpiration"


def test_acknowledged_write_survives_kill_9(pds, http: httpx.Client) -> None:
    alice = new_account(http, pds.url)
    created = http.post(
        pds.xrpc("com.atproto.repo.createRecord"),
        headers=bearer(alice),
        json={"repo": alice["did"], "collection": POST, "record": post_record("durable")},
    )
    assert created.status_code == 200
    pds.runtime.kill("pds", signal.SIGKILL)
    pds.runtime.restart("pds")
    rkey = created.json()["uri"].rsplit("/", 1)[1]
    got = http.get(
        pds.xrpc("com.atproto.repo.getRecord"),
        params={"repo": alice["did"], "collection": POST, "rkey": rkey},
    )
    assert got.status_code == 200 and got.json()["value"]["text"] == "durable"
    # The repository still verifies, and new commits continue above the old revision.
    document = http.get(f"{pds.url}/{alice['did']}").json()
    contents = verify_repo(
        http.get(pds.xrpc("com.atproto.sync.getRepo"), params={"did": alice["did"]}).content,
        alice["did"],
        atproto_signing_key(document),
    )
    assert contents.commit.level.value == "signature-verified"
    login = http.post(
        pds.xrpc("com.atproto.server.createSession"),
        json={"identifier": alice["handle"], "password": alice["password"]},
    )
    again = http.post(
        pds.xrpc("com.atproto.repo.createRecord"),
        headers=bearer(login.json()),
        json={"repo": alice["did"], "collection": POST, "record": post_record("after restart")},
    )
    assert again.json()["commit"]["rev"] > created.json()["commit"]["rev"]
