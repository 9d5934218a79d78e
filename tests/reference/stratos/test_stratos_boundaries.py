"""The boundary rule over real HTTP (STR-BND-01..05, STR-BND-07, STR-BLOB-02).

Cast: ``alice`` and ``bob`` share engineering, ``carol`` is in design only, ``dave`` is not
enrolled, and anonymous callers send no credentials.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from stratos_support import ENGINEERING, RunningStratos, auth, new_did, post

from conformance.repo_verify import verify_record_proof

POST = "zone.stratos.feed.post"
VOLATILE = {"date", "dpop-nonce"}


@dataclass(frozen=True)
class Cast:
    alice: str
    bob: str
    carol: str
    dave: str
    bounded: str  # rkey of alice's engineering-only post
    open: str  # rkey of alice's post with no boundary
    blob_cid: str  # image referenced only by an engineering-only post


@pytest.fixture(scope="module")
def cast(svc: RunningStratos) -> Iterator[Cast]:
    alice, bob, carol, dave = new_did(), new_did(), new_did(), new_did()
    svc.enroll(alice, "engineering")
    svc.enroll(bob, "engineering")
    svc.enroll(carol, "design")
    bounded = svc.create(alice, post("eng only", [ENGINEERING]))
    open_post = svc.create(alice, post("any enrolled"))
    assert bounded.status_code == 200 and open_post.status_code == 200, bounded.text
    uploaded = svc.http.post(
        svc.xrpc("com.atproto.repo.uploadBlob"),
        content=b"\x89PNG fake image",
        headers={**auth(alice), "Content-Type": "image/png"},
    )
    assert uploaded.status_code == 200, uploaded.text
    blob = uploaded.json()["blob"]
    with_image = post("with image", [ENGINEERING])
    with_image["embed"] = {
        "$type": "zone.stratos.embed.images",
        "images": [{"image": blob, "alt": ""}],
    }
    assert svc.create(alice, with_image).status_code == 200
    yield Cast(
        alice,
        bob,
        carol,
        dave,
        bounded.json()["uri"].rsplit("/", 1)[1],
        open_post.json()["uri"].rsplit("/", 1)[1],
        blob["ref"]["$link"],
    )


def _get_record(svc: RunningStratos, viewer: str | None, repo: str, rkey: str) -> httpx.Response:
    return svc.get(
        "com.atproto.repo.getRecord", {"repo": repo, "collection": POST, "rkey": rkey}, viewer
    )


def _stable_headers(response: httpx.Response) -> dict[str, str]:
    return {k: v for k, v in response.headers.items() if k.lower() not in VOLATILE}


def assert_same_404(hidden: httpx.Response, missing: httpx.Response) -> None:
    assert hidden.status_code == missing.status_code == 404
    assert hidden.content == missing.content
    assert hidden.json() == {"error": "RecordNotFound", "message": "Record not found"}
    assert _stable_headers(hidden) == _stable_headers(missing)


VISIBLE_BOUNDED = {"alice": True, "bob": True, "carol": False, "dave": False, None: False}
VISIBLE_OPEN = {"alice": True, "bob": True, "carol": True, "dave": False, None: False}


def _viewer(cast: Cast, name: str | None) -> str | None:
    return getattr(cast, name) if name is not None else None


@pytest.mark.requirement("STR-BND-01", "STR-BND-02", "STR-BND-03")
@pytest.mark.parametrize("name", ["alice", "bob", "carol", "dave", None])
def test_get_record_and_hydrate_matrix(svc: RunningStratos, cast: Cast, name: str | None) -> None:
    viewer = _viewer(cast, name)
    missing = _get_record(svc, viewer, cast.alice, "3zzzzzzzzzzzz")
    for rkey, visible in ((cast.bounded, VISIBLE_BOUNDED[name]), (cast.open, VISIBLE_OPEN[name])):
        response = _get_record(svc, viewer, cast.alice, rkey)
        uri = f"at://{cast.alice}/{POST}/{rkey}"
        hydrated = svc.get("zone.stratos.repo.hydrateRecord", {"uri": uri}, viewer)
        if visible:
            assert response.status_code == 200, response.text
            assert response.json()["uri"] == uri
            assert response.json()["value"]["$type"] == POST
            assert hydrated.status_code == 200 and hydrated.json() == response.json()
        else:
            assert_same_404(response, missing)
            missing_hydrate = svc.get(
                "zone.stratos.repo.hydrateRecord",
                {"uri": f"at://{cast.alice}/{POST}/3zzzzzzzzzzzz"},
                viewer,
            )
            assert_same_404(hydrated, missing_hydrate)
            assert_same_404(hydrated, response)


@pytest.mark.requirement("STR-BND-02")
def test_hidden_equals_unknown_repo_and_wrong_cid(svc: RunningStratos, cast: Cast) -> None:
    hidden = _get_record(svc, cast.carol, cast.alice, cast.bounded)
    assert_same_404(hidden, _get_record(svc, cast.carol, new_did(), cast.bounded))
    assert_same_404(hidden, _get_record(svc, cast.carol, "nobody.test", cast.bounded))
    visible = _get_record(svc, cast.bob, cast.alice, cast.bounded).json()
    wrong_cid = svc.get(
        "com.atproto.repo.getRecord",
        {
            "repo": cast.alice,
            "collection": POST,
            "rkey": cast.open,
            "cid": visible["cid"],
        },
        cast.bob,
    )
    assert_same_404(hidden, wrong_cid)


@pytest.mark.requirement("STR-BND-04")
@pytest.mark.parametrize("name", ["alice", "bob", "carol", "dave", None])
def test_hydrate_records_lists_hidden_as_not_found(
    svc: RunningStratos, cast: Cast, name: str | None
) -> None:
    viewer = _viewer(cast, name)
    bounded = f"at://{cast.alice}/{POST}/{cast.bounded}"
    open_uri = f"at://{cast.alice}/{POST}/{cast.open}"
    missing = f"at://{cast.alice}/{POST}/3zzzzzzzzzzzz"
    response = svc.post(
        "zone.stratos.repo.hydrateRecords", {"uris": [bounded, open_uri, missing]}, viewer
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["blocked"] == []
    found = [r["uri"] for r in body["records"]]
    expected = [
        u for u, v in ((bounded, VISIBLE_BOUNDED[name]), (open_uri, VISIBLE_OPEN[name])) if v
    ]
    assert found == expected
    assert body["notFound"] == [u for u in (bounded, open_uri, missing) if u not in expected]


def test_hydrate_records_limit(svc: RunningStratos, cast: Cast) -> None:
    uris = [f"at://{cast.alice}/{POST}/{cast.open}"] * 101
    response = svc.post("zone.stratos.repo.hydrateRecords", {"uris": uris}, cast.bob)
    assert response.status_code == 400 and response.json()["error"] == "TooManyUris"
    ok = svc.post("zone.stratos.repo.hydrateRecords", {"uris": uris[:100]}, cast.bob)
    assert ok.status_code == 200 and len(ok.json()["records"]) == 100


@pytest.mark.requirement("STR-BND-04")
def test_list_records_limit_and_cursor_do_not_reveal(svc: RunningStratos) -> None:
    owner, outsider = new_did(), new_did()
    svc.enroll(owner, "engineering")
    svc.enroll(outsider, "design")
    visible_rkeys: list[str] = []
    for i in range(7):
        boundary = [ENGINEERING] if i % 2 == 0 else None  # hidden from outsider when even
        response = svc.create(owner, post(f"post {i}", boundary))
        assert response.status_code == 200
        if boundary is None:
            visible_rkeys.append(response.json()["uri"].rsplit("/", 1)[1])
    newest_first = sorted(visible_rkeys, reverse=True)

    pages: list[list[str]] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"repo": owner, "collection": POST, "limit": 2}
        if cursor:
            params["cursor"] = cursor
        body = svc.get("com.atproto.repo.listRecords", params, outsider).json()
        rkeys = [r["uri"].rsplit("/", 1)[1] for r in body["records"]]
        pages.append(rkeys)
        cursor = body.get("cursor")
        if cursor is None:
            break
        assert cursor == rkeys[-1]  # the cursor is the last *returned* key
    assert pages == [newest_first[:2], newest_first[2:]]

    everything = svc.get(
        "com.atproto.repo.listRecords", {"repo": owner, "collection": POST, "limit": 100}, owner
    ).json()
    assert len(everything["records"]) == 7 and "cursor" not in everything
    anonymous = svc.get("com.atproto.repo.listRecords", {"repo": owner, "collection": POST})
    assert anonymous.status_code == 200 and anonymous.json() == {"records": []}
    reverse = svc.get(
        "com.atproto.repo.listRecords",
        {"repo": owner, "collection": POST, "reverse": "true"},
        outsider,
    ).json()
    assert [r["uri"].rsplit("/", 1)[1] for r in reverse["records"]] == sorted(visible_rkeys)


def test_describe_repo_for_other_viewers(svc: RunningStratos, cast: Cast) -> None:
    own = svc.get("com.atproto.repo.describeRepo", {"repo": cast.alice}, cast.alice).json()
    assert own["collections"] == [POST]
    dave_sees = svc.get("com.atproto.repo.describeRepo", {"repo": cast.alice}, cast.dave)
    assert dave_sees.status_code == 200 and dave_sees.json()["collections"] == []
    unknown = svc.get("com.atproto.repo.describeRepo", {"repo": new_did()}, cast.bob)
    assert unknown.status_code == 404 and unknown.json()["error"] == "NotFound"


@pytest.mark.requirement("STR-BND-05", "STR-VER-01")
@pytest.mark.parametrize("name", ["alice", "bob", "carol", "dave", None])
def test_sync_get_record_applies_the_rule(
    svc: RunningStratos, cast: Cast, name: str | None
) -> None:
    viewer = _viewer(cast, name)
    params = {"did": cast.alice, "collection": POST, "rkey": cast.bounded}
    response = svc.get("com.atproto.sync.getRecord", params, viewer)
    missing = svc.get("com.atproto.sync.getRecord", {**params, "rkey": "3zzzzzzzzzzzz"}, viewer)
    if VISIBLE_BOUNDED[name]:
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/vnd.ipld.car"
        key = svc.stratos.enrollments.get(cast.alice).signing_did_key
        proof = verify_record_proof(response.content, cast.alice, POST, cast.bounded, key)
        assert proof.commit.level == "signature-verified"
        assert proof.value["text"] == "eng only"
    else:
        assert_same_404(response, missing)
        assert_same_404(response, _get_record(svc, viewer, cast.alice, "3zzzzzzzzzzzz"))


@pytest.mark.requirement("STR-BLOB-02")
@pytest.mark.parametrize("name", ["alice", "bob", "carol", "dave", None])
def test_get_blob_follows_referencing_records(
    svc: RunningStratos, cast: Cast, name: str | None
) -> None:
    viewer = _viewer(cast, name)
    response = svc.get(
        "com.atproto.sync.getBlob", {"did": cast.alice, "cid": cast.blob_cid}, viewer
    )
    unknown_cid = "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy"
    missing = svc.get("com.atproto.sync.getBlob", {"did": cast.alice, "cid": unknown_cid}, viewer)
    if VISIBLE_BOUNDED[name]:
        assert response.status_code == 200 and response.content == b"\x89PNG fake image"
        assert response.headers["content-type"] == "image/png"
        assert response.headers["x-content-type-options"] == "nosniff"
    else:
        assert_same_404(response, missing)


def test_list_blobs_is_owner_only(svc: RunningStratos, cast: Cast) -> None:
    own = svc.get("com.atproto.sync.listBlobs", {"did": cast.alice}, cast.alice)
    assert own.status_code == 200 and own.json() == {"cids": [cast.blob_cid]}
    other = svc.get("com.atproto.sync.listBlobs", {"did": cast.alice}, cast.bob)
    assert other.status_code == 403
    anonymous = svc.get("com.atproto.sync.listBlobs", {"did": cast.alice})
    assert anonymous.status_code == 401


@pytest.mark.requirement("STR-BND-07")
def test_hidden_and_missing_cost_the_same(svc: RunningStratos, cast: Cast) -> None:
    hidden_url = svc.xrpc("com.atproto.repo.getRecord")
    hidden = {"repo": cast.alice, "collection": POST, "rkey": cast.bounded}
    missing = {**hidden, "rkey": "3zzzzzzzzzzzz"}
    headers = auth(cast.carol)
    samples: dict[str, list[float]] = {"hidden": [], "missing": []}
    for _ in range(20):  # warm up connections and caches
        svc.http.get(hidden_url, params=hidden, headers=headers)
        svc.http.get(hidden_url, params=missing, headers=headers)
    for _ in range(200):  # interleaved, so drift hits both series alike
        for name, params in (("hidden", hidden), ("missing", missing)):
            started = time.perf_counter()
            svc.http.get(hidden_url, params=params, headers=headers)
            samples[name].append(time.perf_counter() - started)
    hidden_median = statistics.median(samples["hidden"])
    missing_median = statistics.median(samples["missing"])
    assert abs(hidden_median - missing_median) / missing_median < 0.2, (
        hidden_median,
        missing_median,
    )
