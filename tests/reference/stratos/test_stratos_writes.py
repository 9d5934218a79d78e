"""Writes at the reference Stratos (STR-REPO-*, STR-BND-06, STR-VER-03)."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from stratos_support import DESIGN, ENGINEERING, RunningStratos, auth, new_did, post

from conformance.repo_verify import verify_repo
from reference_impl.primitives.tid import is_later, is_valid_tid

POST = "zone.stratos.feed.post"


@pytest.fixture
def writer(svc: RunningStratos) -> str:
    did = new_did()
    svc.enroll(did, "engineering")
    return did


def _records(svc: RunningStratos, did: str) -> list[dict[str, Any]]:
    body = svc.get(
        "com.atproto.repo.listRecords", {"repo": did, "collection": POST, "limit": 100}, did
    ).json()
    records: list[dict[str, Any]] = body["records"]
    return records


def _head_rev(svc: RunningStratos, did: str) -> str:
    head = svc.stratos.repos.head(did)
    assert head is not None
    return head[1]


@pytest.mark.requirement("STR-REPO-01", "STR-VER-03")
def test_create_read_back_and_revs(svc: RunningStratos, writer: str) -> None:
    first_rev = _head_rev(svc, writer)
    record = post("hello", [ENGINEERING])
    response = svc.create(writer, record)
    assert response.status_code == 200, response.text
    body = response.json()
    collection, rkey = body["uri"].removeprefix(f"at://{writer}/").split("/")
    assert collection == POST and is_valid_tid(rkey)
    assert set(body["commit"]) == {"cid", "rev"} and body["validationStatus"] == "valid"
    assert is_later(body["commit"]["rev"], first_rev)
    read = svc.get(
        "com.atproto.repo.getRecord", {"repo": writer, "collection": POST, "rkey": rkey}, writer
    ).json()
    assert read == {"uri": body["uri"], "cid": body["cid"], "value": record}

    second = svc.create(writer, post("again")).json()
    assert is_later(second["commit"]["rev"], body["commit"]["rev"])
    export = svc.get("zone.stratos.sync.getRepo", {"did": writer}, writer)
    key = svc.stratos.enrollments.get(writer).signing_did_key
    contents = verify_repo(export.content, writer, key)
    assert contents.commit.level == "signature-verified"
    assert {k.split("/")[1] for k in contents.records} == {rkey, second["uri"].rsplit("/", 1)[1]}


def test_hooks_and_events_see_each_commit(svc: RunningStratos, writer: str) -> None:
    before = len(svc.hooks.changes)
    created = svc.create(writer, post("hooked")).json()
    did, changes = svc.hooks.changes[before]
    assert did == writer and len(changes) == 1
    change = changes[0]
    assert (change.action, change.collection, change.cid) == ("create", POST, created["cid"])
    assert change.record is not None and change.record["text"] == "hooked"
    assert change.uri(writer) == created["uri"]
    assert svc.stratos.repos.pending_publications(writer) == []


@pytest.mark.requirement("STR-REPO-02")
def test_foreign_collection_and_foreign_repo_are_refused(svc: RunningStratos, writer: str) -> None:
    foreign = {"$type": "app.bsky.feed.post", "text": "x", "createdAt": "2026-01-01T00:00:00Z"}
    response = svc.post(
        "com.atproto.repo.createRecord",
        {"repo": writer, "collection": "app.bsky.feed.post", "record": foreign},
        writer,
    )
    assert response.status_code == 400 and response.json()["error"] == "InvalidRequest"

    other = new_did()
    svc.enroll(other, "engineering")
    into_other = svc.post(
        "com.atproto.repo.createRecord",
        {"repo": other, "collection": POST, "record": post("not mine")},
        writer,
    )
    assert into_other.status_code == 401 and into_other.json()["error"] == "AuthRequired"
    assert _records(svc, writer) == [] and _records(svc, other) == []
    described = svc.get("com.atproto.repo.describeRepo", {"repo": writer}, writer).json()
    assert described["collections"] == []


def test_anonymous_and_bad_credentials(svc: RunningStratos, writer: str) -> None:
    body = {"repo": writer, "collection": POST, "record": post("x")}
    anonymous = svc.post("com.atproto.repo.createRecord", body)
    assert anonymous.status_code == 401 and anonymous.json()["error"] == "AuthRequired"
    garbage = svc.http.post(
        svc.xrpc("com.atproto.repo.createRecord"), json=body, headers={"Authorization": "Nope"}
    )
    assert garbage.status_code == 401
    # An invalid Authorization header is refused even where auth is optional.
    read = svc.http.get(
        svc.xrpc("zone.stratos.enrollment.status"),
        params={"did": writer},
        headers={"Authorization": "Nope"},
    )
    assert read.status_code == 401


@pytest.mark.requirement("STR-BND-06")
@pytest.mark.parametrize(
    ("domain", "reason"),
    [
        (DESIGN, "ForbiddenBoundary"),  # this service's, but the writer is not enrolled in it
        ("did:web:stratos.test/unknown", "ForbiddenBoundary"),
        ("did:web:elsewhere.test/engineering", "ServiceMismatch"),
    ],
)
def test_boundary_the_writer_may_not_use(
    svc: RunningStratos, writer: str, domain: str, reason: str
) -> None:
    response = svc.create(writer, post("nope", [ENGINEERING, domain]))
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["error"] == "InvalidRecord" and body["reason"] == reason
    assert domain in body["message"]
    assert _records(svc, writer) == []


def test_invalid_input_is_a_clean_400(svc: RunningStratos, writer: str) -> None:
    cases: list[dict[str, Any]] = [
        {"repo": writer, "collection": POST, "record": {"text": "no createdAt"}},
        {"repo": writer, "collection": POST, "record": {**post("x"), "text": "y" * 3001}},
        {"repo": writer, "collection": POST, "record": {**post("x"), "$type": "zone.stratos.x.y"}},
        {"repo": writer, "collection": POST, "record": post("x"), "rkey": "bad key!"},
        {"repo": writer, "collection": "not an nsid", "record": post("x")},
        {"repo": writer, "collection": POST, "record": {**post("x"), "boundary": {"values": 3}}},
    ]
    for body in cases:
        response = svc.post("com.atproto.repo.createRecord", body, writer)
        assert 400 <= response.status_code < 500, (body, response.text)
        assert set(response.json()) >= {"error", "message"}
    not_json = svc.http.post(
        svc.xrpc("com.atproto.repo.createRecord"),
        content=b"{",
        headers={**auth(writer), "Content-Type": "application/json"},
    )
    assert not_json.status_code == 400
    assert _records(svc, writer) == []


@pytest.mark.requirement("STR-REPO-03")
def test_apply_writes_is_atomic(svc: RunningStratos, writer: str) -> None:
    kept = svc.create(writer, post("kept")).json()
    kept_rkey = kept["uri"].rsplit("/", 1)[1]
    head_before = svc.stratos.repos.head(writer)
    events_before = svc.stratos.events.latest_seq()
    writes = [
        {"$type": "com.atproto.repo.applyWrites#create", "collection": POST, "value": post("a")},
        {"$type": "com.atproto.repo.applyWrites#delete", "collection": POST, "rkey": kept_rkey},
        {
            "$type": "com.atproto.repo.applyWrites#create",
            "collection": POST,
            "value": post("bad", ["did:web:elsewhere.test/x"]),
        },
    ]
    refused = svc.post("com.atproto.repo.applyWrites", {"repo": writer, "writes": writes}, writer)
    assert refused.status_code == 400 and refused.json()["reason"] == "ServiceMismatch"
    missing_delete = [
        *writes[:2],
        {
            "$type": "com.atproto.repo.applyWrites#delete",
            "collection": POST,
            "rkey": "3zzzzzzzzzzzz",
        },
    ]
    refused2 = svc.post(
        "com.atproto.repo.applyWrites", {"repo": writer, "writes": missing_delete}, writer
    )
    assert refused2.status_code == 400
    assert svc.stratos.repos.head(writer) == head_before
    assert svc.stratos.events.latest_seq() == events_before
    assert [r["uri"] for r in _records(svc, writer)] == [kept["uri"]]

    accepted = svc.post(
        "com.atproto.repo.applyWrites", {"repo": writer, "writes": writes[:2]}, writer
    )
    assert accepted.status_code == 200, accepted.text
    results = accepted.json()["results"]
    assert [r["$type"].rsplit("#", 1)[1] for r in results] == ["createResult", "deleteResult"]
    assert [r["uri"] for r in _records(svc, writer)] == [results[0]["uri"]]


def test_put_delete_and_describe(svc: RunningStratos, writer: str) -> None:
    rkey = "3kabcdefghijk"
    put = svc.post(
        "com.atproto.repo.putRecord",
        {"repo": writer, "collection": POST, "rkey": rkey, "record": post("v1")},
        writer,
    )
    assert put.status_code == 200, put.text
    updated = svc.post(
        "com.atproto.repo.putRecord",
        {
            "repo": writer,
            "collection": POST,
            "rkey": rkey,
            "record": post("v2"),
            "swapRecord": put.json()["cid"],
        },
        writer,
    )
    assert updated.status_code == 200 and updated.json()["cid"] != put.json()["cid"]
    stale = svc.post(
        "com.atproto.repo.putRecord",
        {
            "repo": writer,
            "collection": POST,
            "rkey": rkey,
            "record": post("v3"),
            "swapRecord": put.json()["cid"],
        },
        writer,
    )
    assert stale.status_code == 400 and stale.json()["error"] == "InvalidSwap"
    described = svc.get("com.atproto.repo.describeRepo", {"repo": writer}, writer).json()
    assert described["collections"] == [POST]

    deleted = svc.post(
        "com.atproto.repo.deleteRecord", {"repo": writer, "collection": POST, "rkey": rkey}, writer
    )
    assert deleted.status_code == 200 and "commit" in deleted.json()
    again = svc.post(
        "com.atproto.repo.deleteRecord", {"repo": writer, "collection": POST, "rkey": rkey}, writer
    )
    assert again.status_code == 200 and again.json() == {}
    gone = svc.get(
        "com.atproto.repo.getRecord", {"repo": writer, "collection": POST, "rkey": rkey}, writer
    )
    assert gone.status_code == 404 and gone.json()["error"] == "RecordNotFound"
    described = svc.get("com.atproto.repo.describeRepo", {"repo": writer}, writer).json()
    assert described["collections"] == []


def test_write_by_handle_and_blob_reference(svc: RunningStratos) -> None:
    did = new_did()
    svc.enroll(did, "engineering", handle="writer.test")
    by_handle = svc.post(
        "com.atproto.repo.createRecord",
        {"repo": "writer.test", "collection": POST, "record": post("via handle")},
        did,
    )
    assert by_handle.status_code == 200, by_handle.text
    dangling = post("img")
    dangling["embed"] = {
        "$type": "zone.stratos.embed.images",
        "images": [
            {
                "alt": "",
                "image": {
                    "$type": "blob",
                    "ref": {"$link": "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy"},
                    "mimeType": "image/png",
                    "size": 3,
                },
            }
        ],
    }
    refused = svc.create(did, dangling)
    assert refused.status_code == 400 and refused.json()["error"] == "BlobNotFound"
    empty_blob = svc.http.post(
        svc.xrpc("com.atproto.repo.uploadBlob"), content=b"", headers=auth(did)
    )
    assert empty_blob.status_code == 400


def test_apply_writes_caps_the_batch(svc: RunningStratos, writer: str) -> None:
    op = {"$type": "com.atproto.repo.applyWrites#create", "collection": POST, "value": post("x")}
    response = svc.post(
        "com.atproto.repo.applyWrites", {"repo": writer, "writes": [op] * 201}, writer
    )
    assert response.status_code == 400 and _records(svc, writer) == []
    empty = svc.post("com.atproto.repo.applyWrites", {"repo": writer, "writes": []}, writer)
    assert empty.status_code == 400


def test_concurrent_writers_keep_per_user_order(svc: RunningStratos) -> None:
    """Writes of different users run side by side; each user's commits reach the event log in
    rev order (the stream's consumers rely on it)."""
    users = [new_did() for _ in range(3)]
    for did in users:
        svc.enroll(did, "engineering")
    start_seq = svc.stratos.events.latest_seq()

    def write_many(did: str) -> list[int]:
        with httpx.Client(timeout=30) as client:
            return [
                client.post(
                    svc.xrpc("com.atproto.repo.createRecord"),
                    json={"repo": did, "collection": POST, "record": post(f"n{i}")},
                    headers=auth(did),
                ).status_code
                for i in range(8)
            ]

    with ThreadPoolExecutor(max_workers=6) as pool:
        statuses = list(pool.map(write_many, users * 2))
    assert all(code == 200 for codes in statuses for code in codes)
    events = svc.stratos.events.read_after(start_seq, 1000)
    assert len(events) == 3 * 2 * 8
    for did in users:
        revs = [e.body["rev"] for e in events if e.did == did]
        assert len(revs) == 16 and revs == sorted(revs) and len(set(revs)) == 16
        assert len(_records(svc, did)) == 16


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(record=JSON, collection=st.sampled_from([POST, "zone.stratos.other.thing", "a.b.c", ""]))
def test_arbitrary_input_never_5xx(
    svc: RunningStratos, writer: str, record: Any, collection: str
) -> None:
    for nsid, body in (
        (
            "com.atproto.repo.createRecord",
            {"repo": writer, "collection": collection, "record": record},
        ),
        ("com.atproto.repo.applyWrites", {"repo": writer, "writes": [record]}),
        ("zone.stratos.repo.hydrateRecords", {"uris": record}),
    ):
        # Serialised here (NaN and Infinity included) so whatever Python's JSON reader accepts
        # reaches the server.
        response = svc.http.post(
            svc.xrpc(nsid),
            content=json.dumps(body),
            headers={**auth(writer), "Content-Type": "application/json"},
        )
        assert response.status_code < 500, response.text
        if response.status_code >= 400:
            assert set(response.json()) >= {"error", "message"}
