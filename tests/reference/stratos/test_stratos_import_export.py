"""importRepo and getRepo (STR-IMP-01, STR-RL-06, STR-VER-02)."""

from __future__ import annotations

from pathlib import Path

import pytest
from atmst.blockstore import MemoryBlockStore
from cbrrr import CID
from stratos_support import RunningStratos, auth, new_did, post, running_stratos

from conformance.repo_verify import verify_repo, verify_since_export
from reference_impl.primitives import dagcbor, repo
from reference_impl.primitives.car import read_car, write_car
from reference_impl.primitives.keys import generate_signing_key
from reference_impl.primitives.tid import TidClock

POST = "zone.stratos.feed.post"
CAR = "application/vnd.ipld.car"


def build_car(
    did: str, count: int, extra: list[repo.WriteOp] | None = None
) -> tuple[bytes, dict[str, str]]:
    """A repository exported by "another host": its own (secp256k1) key, ``count`` posts."""
    key = generate_signing_key("secp256k1")
    tids = TidClock()
    store = MemoryBlockStore()

    def persist(result: repo.CommitResult) -> CID:
        for cid, block in result.new_blocks.items():
            store.put_block(bytes(cid), block)
        return result.commit_cid

    head = persist(repo.empty_commit(did, key, tids.next()))
    ops = [
        repo.WriteOp("create", POST, tids.next(), dagcbor.json_to_ipld(post(f"imported {i}")))
        for i in range(count)
    ] + (extra or [])
    cids: dict[str, str] = {}
    for start in range(0, len(ops), 100):
        result = repo.apply_writes(store, did, key, head, ops[start : start + 100], tids.next())
        head = persist(result)
        cids.update({f"{c}/{r}": cid.encode() for (c, r), cid in result.record_cids.items()})
    return repo.export_car(store, head), cids


def _import(svc: RunningStratos, did: str, car: bytes):  # type: ignore[no-untyped-def]
    return svc.http.post(
        svc.xrpc("zone.stratos.repo.importRepo"),
        content=car,
        headers={**auth(did), "Content-Type": CAR},
    )


def _listed(svc: RunningStratos, did: str) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    cursor = None
    while True:
        params = {
            "repo": did,
            "collection": POST,
            "limit": 100,
            **({"cursor": cursor} if cursor else {}),
        }
        body = svc.get("com.atproto.repo.listRecords", params, did).json()
        out.extend(body["records"])
        cursor = body.get("cursor")
        if cursor is None:
            return out


@pytest.mark.requirement("STR-IMP-01", "STR-RL-06")
def test_import_over_300_records_in_one_write(tmp_path: Path) -> None:
    env = {"STRATOS_WRITE_RATE_MAX_WRITES": "300"}
    with running_stratos(tmp_path, env) as svc:
        did = new_did()
        svc.enroll(did, "engineering")
        foreign = repo.WriteOp(
            "create",
            "app.bsky.feed.post",
            "3kaaaaaaaaaaa",
            {
                "$type": "app.bsky.feed.post",
                "text": "from the PDS",
                "createdAt": "2026-01-01T00:00:00Z",
            },
        )
        car, cids = build_car(did, 320, [foreign])
        hooks_before = len(svc.hooks.changes)
        response = _import(svc, did, car)
        assert response.status_code == 200, response.text
        assert response.json() == {"imported": 321}
        assert response.headers["ratelimit-remaining"] == "299"  # one write in total

        listed = _listed(svc, did)
        assert len(listed) == 320
        assert {r["uri"].split("/", 3)[3]: r["cid"] for r in listed} == {  # type: ignore[union-attr]
            k: v for k, v in cids.items() if k.startswith(POST)
        }
        described = svc.get("com.atproto.repo.describeRepo", {"repo": did}, did).json()
        assert described["collections"] == ["app.bsky.feed.post", POST]

        # A new commit over the same MST, signed with the user's Stratos key.
        export = svc.get("zone.stratos.sync.getRepo", {"did": did}, did)
        key = svc.stratos.enrollments.get(did).signing_did_key
        contents = verify_repo(export.content, did, key)
        assert contents.commit.level == "signature-verified"
        assert {k: v.encode() for k, v in contents.records.items()} == cids
        original_root = read_car(car).root
        assert read_car(export.content).root != original_root

        # Hooks hear about the zone.stratos.* records only; events come in chunks of 200 ops.
        ((hooked_did, changes),) = svc.hooks.changes[hooks_before:]
        assert hooked_did == did and len(changes) == 320
        assert all(c.collection == POST for c in changes)
        commits = [e for e in svc.stratos.events.read_after(0, 10_000) if e.kind == "#commit"]
        assert [len(e.body["ops"]) for e in commits[-2:]] == [200, 121]

        again = _import(svc, did, car)
        assert again.status_code == 400 and again.json()["error"] == "RepoAlreadyExists"


@pytest.mark.requirement("STR-IMP-01")
def test_bad_cars_import_nothing(svc: RunningStratos) -> None:
    did = new_did()
    svc.enroll(did, "engineering")
    car, _ = build_car(did, 5)
    parsed = read_car(car)
    # Tamper with one record block: same CID, different bytes.
    blocks = list(parsed.blocks.items())
    victim = next(i for i, (_, b) in enumerate(blocks) if b"imported 3" in b)
    cid, block = blocks[victim]
    blocks[victim] = (cid, block.replace(b"imported 3", b"imported 9"))
    from conformance.repo_verify import write_car as write_unchecked

    tampered = write_unchecked([parsed.root], blocks)
    missing_block = write_car(
        parsed.root, [(c, b) for i, (c, b) in enumerate(blocks) if i != victim]
    )
    for bad in (
        tampered,
        missing_block,
        b"not a car at all",
        build_car(new_did(), 3)[0],  # another DID's repository
    ):
        response = _import(svc, did, bad)
        assert response.status_code == 400, response.text
        assert response.json()["error"] == "InvalidCar"
    assert _listed(svc, did) == []
    empty = _import(svc, did, b"")
    assert empty.status_code == 400


def test_import_needs_enrolment_and_car_content_type(svc: RunningStratos) -> None:
    did = new_did()
    car, _ = build_car(did, 1)
    assert _import(svc, did, car).json()["error"] == "NotEnrolled"
    svc.enroll(did, "engineering")
    wrong_type = svc.http.post(
        svc.xrpc("zone.stratos.repo.importRepo"),
        content=car,
        headers={**auth(did), "Content-Type": "application/json"},
    )
    assert wrong_type.status_code == 400


@pytest.mark.requirement("STR-VER-02")
def test_get_repo_since(svc: RunningStratos) -> None:
    did = new_did()
    svc.enroll(did, "engineering")
    for i in range(30):
        assert svc.create(did, post(f"old {i}")).status_code == 200
    head = svc.stratos.repos.head(did)
    assert head is not None
    since = head[1]
    new = svc.create(did, post("new one")).json()

    full = svc.get("zone.stratos.sync.getRepo", {"did": did}, did)
    partial = svc.get("zone.stratos.sync.getRepo", {"did": did, "since": since}, did)
    assert partial.status_code == 200
    key = svc.stratos.enrollments.get(did).signing_did_key
    export = verify_since_export(partial.content, did, key)
    assert export.commit.level == "signature-verified"
    assert CID.decode(new["cid"]) in export.blocks
    assert len(export.blocks) < len(read_car(full.content).blocks) / 3
    bad_since = svc.get("zone.stratos.sync.getRepo", {"did": did, "since": "nope"}, did)
    assert bad_since.status_code == 400


def test_get_repo_access(svc: RunningStratos) -> None:
    owner, other = new_did(), new_did()
    svc.enroll(owner, "engineering")
    svc.enroll(other, "engineering")
    assert svc.get("zone.stratos.sync.getRepo", {"did": owner}, other).status_code == 403
    assert svc.get("zone.stratos.sync.getRepo", {"did": owner}).status_code == 401
    by_header = svc.http.get(
        svc.xrpc("zone.stratos.sync.getRepo"),
        params={"did": owner},
        headers={"Stratos-Sync-Token": svc.stratos.config.sync_token},
    )
    assert by_header.status_code == 200
    by_param = svc.get(
        "zone.stratos.sync.getRepo", {"did": owner, "syncToken": svc.stratos.config.sync_token}
    )
    assert by_param.status_code == 200
    wrong = svc.get("zone.stratos.sync.getRepo", {"did": owner, "syncToken": "wrong"})
    assert wrong.status_code == 401
    unknown = svc.get(
        "zone.stratos.sync.getRepo", {"did": new_did(), "syncToken": svc.stratos.config.sync_token}
    )
    assert unknown.status_code == 400 and unknown.json()["error"] == "RepoNotFound"


@pytest.mark.requirement("STR-IMP-01")
def test_repo_exported_from_one_stratos_imports_intact_into_another(tmp_path: Path) -> None:
    did = new_did()
    with running_stratos(tmp_path / "a") as first, running_stratos(tmp_path / "b") as second:
        first.enroll(did, "engineering")
        written = {}
        for i in range(12):
            boundary = [f"{first.stratos.config.service_did}/engineering"] if i % 2 else None
            created = first.create(did, post(f"moving house {i}", boundary))
            assert created.status_code == 200, created.text
            written[created.json()["uri"].split("/", 3)[3]] = created.json()["cid"]
        export = first.get("zone.stratos.sync.getRepo", {"did": did}, did)
        assert export.status_code == 200

        second.enroll(did, "engineering")
        imported = _import(second, did, export.content)
        assert imported.status_code == 200, imported.text
        assert imported.json() == {"imported": len(written)}

        # Same records, same CIDs, same values; re-signed by the second service's key for the user.
        assert {r["uri"].split("/", 3)[3]: r["cid"] for r in _listed(second, did)} == written
        for path in written:
            params = {"repo": did, "collection": POST, "rkey": path.split("/")[1]}
            original = first.get("com.atproto.repo.getRecord", params, did).json()
            moved = second.get("com.atproto.repo.getRecord", params, did).json()
            assert moved["value"] == original["value"]
        key = second.stratos.enrollments.get(did).signing_did_key
        contents = verify_repo(
            second.get("zone.stratos.sync.getRepo", {"did": did}, did).content, did, key
        )
        assert contents.commit.level == "signature-verified"
        assert {k: v.encode() for k, v in contents.records.items()} == written
