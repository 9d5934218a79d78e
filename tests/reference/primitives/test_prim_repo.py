from __future__ import annotations

import itertools
import random
from dataclasses import dataclass, field

import pytest
from atmst.blockstore import MemoryBlockStore
from atmst.mst.diff import very_slow_mst_diff
from atmst.mst.node import MSTNode
from atmst.mst.node_store import NodeStore
from atmst.mst.node_wrangler import NodeWrangler
from atmst.mst.proof import verify_exclusion, verify_inclusion

from reference_impl.primitives import dagcbor, mst
from reference_impl.primitives.car import CarError, read_car, write_car
from reference_impl.primitives.commit import Commit, sign_commit
from reference_impl.primitives.dagcbor import CID
from reference_impl.primitives.keys import SigningKey, generate_signing_key
from reference_impl.primitives.repo import (
    EMPTY_ROOT_CID,
    CommitResult,
    InvalidRepoError,
    RepoWriteError,
    WriteOp,
    apply_writes,
    empty_commit,
    export_car,
    get_record,
    get_record_cid,
    list_collections,
    list_records,
    load_repo_car,
    read_commit,
    record_proof_car,
    verify_commit,
)
from reference_impl.primitives.tid import TidClock, is_later, is_valid_tid

DID = "did:plc:abcdefghijklmnopqrstuvwx"
POST = "app.bsky.feed.post"
LIKE = "app.bsky.feed.like"
SECP256K1_ORDER = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


@dataclass
class Host:
    """What a PDS keeps: a block store, the rev that added each block, and the head."""

    key: SigningKey
    clock: TidClock = field(default_factory=lambda: TidClock(clock_id=7))
    blocks: dict[bytes, bytes] = field(default_factory=dict)
    revs: dict[CID, str] = field(default_factory=dict)
    head: CID | None = None
    results: list[CommitResult] = field(default_factory=list)

    @property
    def store(self) -> MemoryBlockStore:
        return MemoryBlockStore(self.blocks)  # a view over ``blocks``; nothing is copied

    def persist(self, result: CommitResult) -> CommitResult:
        for cid, block in result.new_blocks.items():
            self.store.put_block(bytes(cid), block)
            self.revs[cid] = result.rev  # upsert: the newest rev that (re)introduced the block
        self.head = result.commit_cid
        self.results.append(result)
        return result

    def init(self) -> CommitResult:
        return self.persist(empty_commit(DID, self.key, self.clock.next()))

    def write(self, *ops: WriteOp) -> CommitResult:
        return self.persist(
            apply_writes(self.store, DID, self.key, self.head, ops, self.clock.next())
        )


def post(text: str) -> dict[str, object]:
    return {"$type": POST, "text": text, "createdAt": "2024-01-01T00:00:00.000Z"}


@pytest.fixture(params=["secp256k1", "p256"])
def host(request: pytest.FixtureRequest) -> Host:
    h = Host(key=generate_signing_key(request.param))
    h.init()
    return h


def test_empty_commit(host: Host) -> None:
    result = host.results[0]
    assert result.data_cid == EMPTY_ROOT_CID
    assert result.prev_commit is None and result.prev_data is None
    assert is_valid_tid(result.rev)
    assert set(result.new_blocks) == {result.commit_cid, EMPTY_ROOT_CID}
    obj = dagcbor.decode(result.new_blocks[result.commit_cid])
    assert set(obj) == {"did", "version", "data", "rev", "prev", "sig"}
    assert obj["version"] == 3 and obj["prev"] is None and obj["did"] == DID
    assert obj["data"] == EMPTY_ROOT_CID and obj["rev"] == result.rev
    assert verify_commit(obj, host.key.did_key)
    assert verify_commit(result.commit, host.key.multikey)
    assert not verify_commit(obj, generate_signing_key("p256").did_key)

    imported = load_repo_car(export_car(host.store, result.commit_cid), DID, host.key.did_key)
    assert imported.records == {}
    assert imported.commit.data == EMPTY_ROOT_CID
    assert list_collections(host.store, result.commit_cid) == []
    assert list_records(host.store, result.commit_cid, POST) == []


def test_writes_revs_and_reads(host: Host) -> None:
    c1 = host.write(
        WriteOp("create", POST, "a1", post("one")),
        WriteOp("create", POST, "a2", post("two")),
        WriteOp("create", LIKE, "l1", {"$type": LIKE, "subject": "x"}),
    )
    c2 = host.write(WriteOp("update", POST, "a1", post("one, edited")))
    c3 = host.write(WriteOp("delete", POST, "a2"))
    revs = [r.rev for r in host.results]
    assert all(is_later(b, a) for a, b in itertools.pairwise(revs))
    assert c2.prev_commit == c1.commit_cid and c3.prev_commit == c2.commit_cid
    assert c2.prev_data == c1.data_cid
    assert all(read_commit(host.store, r.commit_cid).prev is None for r in host.results)
    assert all(verify_commit(r.commit, host.key.did_key) for r in host.results)

    a1_v1 = dagcbor.cid_for_cbor(dagcbor.encode(post("one")))
    a1_v2 = dagcbor.cid_for_cbor(dagcbor.encode(post("one, edited")))
    assert c1.record_cids[(POST, "a1")] == a1_v1
    assert c2.record_cids == {(POST, "a1"): a1_v2}
    assert c2.prev_record_cids == {(POST, "a1"): a1_v1}
    assert c3.record_cids == {} and (POST, "a2") in c3.prev_record_cids

    head = c3.commit_cid
    assert [rkey for rkey, _ in list_records(host.store, head, POST)] == ["a1"]
    assert list_collections(host.store, head) == [LIKE, POST]
    assert get_record_cid(host.store, head, POST, "a1") == a1_v2
    assert get_record_cid(host.store, head, POST, "a2") is None
    found = get_record(host.store, head, POST, "a1")
    assert found is not None and dagcbor.decode(found[1]) == post("one, edited")
    # Older heads still read as they were.
    assert get_record_cid(host.store, c1.commit_cid, POST, "a2") is not None


def test_refused_writes_raise_and_change_nothing(host: Host) -> None:
    host.write(WriteOp("create", POST, "a", post("a")))
    before = dict(host.blocks)
    head = host.head
    rev = host.clock.next()
    bad_batches = [
        [WriteOp("create", POST, "b", post("b")), WriteOp("create", POST, "a", post("again"))],
        [WriteOp("delete", POST, "missing")],
        [WriteOp("update", POST, "missing", post("x"))],
    ]
    for ops in bad_batches:
        with pytest.raises(RepoWriteError):
            apply_writes(host.store, DID, host.key, head, ops, rev)
    with pytest.raises(RepoWriteError, match="not later"):
        apply_writes(host.store, DID, host.key, head, [], host.results[-1].rev)
    with pytest.raises(RepoWriteError, match="belongs to"):
        apply_writes(host.store, "did:plc:other", host.key, head, [], rev)
    with pytest.raises(RepoWriteError):
        WriteOp("create", POST, "bad key", post("x"))
    with pytest.raises(RepoWriteError):
        WriteOp("create", POST, "ok", None)
    with pytest.raises(RepoWriteError):
        WriteOp("delete", POST, "ok", post("x"))
    with pytest.raises(RepoWriteError, match="DAG-CBOR"):
        apply_writes(
            host.store, DID, host.key, head, [WriteOp("create", POST, "f", {"n": {1}})], rev
        )
    assert host.blocks == before


def test_ops_in_a_batch_apply_in_order(host: Host) -> None:
    result = host.write(
        WriteOp("create", POST, "t", post("first")),
        WriteOp("update", POST, "t", post("second")),
        WriteOp("create", POST, "gone", post("temp")),
        WriteOp("delete", POST, "gone"),
    )
    second = dagcbor.cid_for_cbor(dagcbor.encode(post("second")))
    assert result.record_cids == {(POST, "t"): second}
    assert result.prev_record_cids == {}
    # Neither the superseded nor the deleted record block is part of the commit.
    assert dagcbor.cid_for_cbor(dagcbor.encode(post("temp"))) not in result.new_blocks
    assert dagcbor.cid_for_cbor(dagcbor.encode(post("first"))) not in result.new_blocks


def _all_nodes(store: MemoryBlockStore, root: CID) -> set[CID]:
    ns = mst.read_only_nodes(store)
    empty = NodeStore(MemoryBlockStore()).get_node(None).cid
    created, _ = very_slow_mst_diff(ns, empty, root)
    return set(created) | ({root} if root == empty else set())


def test_new_blocks_are_exactly_the_new_tree_nodes_and_records() -> None:
    rng = random.Random(1234)
    host = Host(key=generate_signing_key("secp256k1"))
    host.init()
    live: dict[str, dict[str, object]] = {}
    for step in range(60):
        ops: list[WriteOp] = []
        for _ in range(rng.randint(1, 6)):
            rkey = f"r{rng.randint(0, 40):03d}"
            if rkey in live and any(o.rkey == rkey for o in ops):
                continue
            if rkey in live and rng.random() < 0.5:
                ops.append(WriteOp("delete", POST, rkey))
            elif rkey in live:
                ops.append(WriteOp("update", POST, rkey, post(f"{rkey} at {step}")))
            elif not any(o.rkey == rkey for o in ops):
                ops.append(WriteOp("create", POST, rkey, post(f"{rkey} at {step}")))
        if step == 30:
            # Create and delete in one batch: the tree ends up as it was.
            ops = [WriteOp("create", LIKE, "tmp", {"x": 1}), WriteOp("delete", LIKE, "tmp")]
        prev_root = host.results[-1].data_cid
        result = host.write(*ops)
        for op in ops:
            if op.action == "delete":
                live.pop(op.rkey, None)
            else:
                assert op.value is not None
                live[op.rkey] = op.value
        expected_nodes = _all_nodes(host.store, result.data_cid) - _all_nodes(host.store, prev_root)
        record_cids = set(result.record_cids.values())
        assert set(result.new_blocks) == {result.commit_cid} | expected_nodes | record_cids
        if step == 30:
            assert result.data_cid == prev_root and expected_nodes == set()

    imported = load_repo_car(export_car(host.store, host.head), DID, host.key.did_key)  # type: ignore[arg-type]
    assert {rkey: dagcbor.decode(b) for (_, rkey), (_, b) in imported.records.items()} == live


def test_export_load_round_trip_keeps_record_cids(host: Host) -> None:
    for i in range(30):
        host.write(
            WriteOp("create", POST, f"p{i:03d}", post(f"post {i}")),
            WriteOp("create", LIKE, f"l{i:03d}", {"$type": LIKE, "n": i}),
        )
    host.write(WriteOp("delete", POST, "p007"))
    head = host.head
    assert head is not None
    car = export_car(host.store, head)
    imported = load_repo_car(car, DID, host.key.did_key)
    assert imported.commit_cid == head
    assert read_car(car).root == head
    expected = {
        (coll, rkey): cid
        for coll in (POST, LIKE)
        for rkey, cid in list_records(host.store, head, coll)
    }
    assert {path: cid for path, (cid, _) in imported.records.items()} == expected
    assert len(expected) == 59
    for (coll, rkey), (cid, block) in imported.records.items():
        assert dagcbor.cid_for_cbor(block) == cid
        assert get_record_cid(host.store, head, coll, rkey) == cid
    # The commit block comes first, so a streaming reader meets the root before anything else.
    assert next(iter(read_car(car).blocks)) == head


def test_since_export_contains_only_newer_blocks(host: Host) -> None:
    for i in range(20):
        host.write(WriteOp("create", POST, f"old{i:02d}", post(f"old {i}")))
    since = host.results[-1].rev
    old_head = host.head
    assert old_head is not None
    old_blocks = set(read_car(export_car(host.store, old_head)).blocks)
    host.write(WriteOp("create", POST, "new1", post("new 1")))
    host.write(WriteOp("update", POST, "old03", post("old 3 edited")))
    host.write(WriteOp("delete", POST, "old10"), WriteOp("create", LIKE, "l", {"a": 1}))
    head = host.head
    assert head is not None

    diff = read_car(export_car(host.store, head, since_rev=since, rev_of_block=host.revs.get))
    assert diff.root == head
    assert diff.blocks, "a since export after new commits is not empty"
    assert all(is_later(host.revs[cid], since) for cid in diff.blocks)
    # Complete: together with the old export it holds the whole current repository...
    full = set(read_car(export_car(host.store, head)).blocks)
    assert full <= old_blocks | set(diff.blocks)
    # ...and it holds every block of the current repo that was added after ``since``.
    assert {cid for cid in full if is_later(host.revs[cid], since)} == set(diff.blocks)

    nothing = read_car(
        export_car(host.store, head, since_rev=host.results[-1].rev, rev_of_block=host.revs.get)
    )
    assert nothing.blocks == {}
    with pytest.raises(ValueError, match="rev_of_block"):
        export_car(host.store, head, since_rev=since)


def _proof_store(car_bytes: bytes) -> tuple[CID, Commit, NodeStore]:
    car = read_car(car_bytes)
    commit = Commit.decode(car.blocks[car.root])
    ns = NodeStore(MemoryBlockStore({bytes(c): b for c, b in car.blocks.items()}))
    return car.root, commit, ns


def test_record_proof_car_verifies(host: Host) -> None:
    for i in range(50):
        host.write(WriteOp("create", POST, f"k{i:03d}", post(str(i))))
    head = host.head
    assert head is not None
    for rkey in ("k000", "k025", "k049"):
        data = record_proof_car(host.store, head, POST, rkey)
        root, commit, ns = _proof_store(data)
        assert root == head
        assert verify_commit(commit, host.key.did_key)
        verify_inclusion(ns, commit.data, f"{POST}/{rkey}")  # raises InvalidProof if not
        cid = get_record_cid(host.store, head, POST, rkey)
        assert cid is not None
        block = read_car(data).blocks[cid]
        assert dagcbor.decode(block) == post(str(int(rkey[1:])))
        # The proof is small: commit + path + record, not the whole repository.
        assert len(read_car(data).blocks) < 10

    absent = record_proof_car(host.store, head, POST, "k0255")
    _, commit, ns = _proof_store(absent)
    verify_exclusion(ns, commit.data, f"{POST}/k0255")


def test_tampered_record_in_car_is_a_car_error(host: Host) -> None:
    host.write(WriteOp("create", POST, "x", post("original text")))
    car = export_car(host.store, host.head)  # type: ignore[arg-type]
    tampered = car.replace(b"original text", b"Original text")
    assert tampered != car
    with pytest.raises(CarError, match="does not match"):
        load_repo_car(tampered, DID)


def _car_with_commit(host: Host, commit: Commit) -> bytes:
    block = commit.encode()
    cid = dagcbor.cid_for_cbor(block)
    assert host.head is not None
    rest = read_car(export_car(host.store, host.head)).blocks
    rest.pop(host.head)
    return write_car(cid, {cid: block, **rest})


def test_high_s_commit_signature_is_rejected() -> None:
    host = Host(key=generate_signing_key("secp256k1"))
    host.init()
    host.write(WriteOp("create", POST, "x", post("x")))
    commit = host.results[-1].commit
    s = int.from_bytes(commit.sig[32:], "big")
    twin = commit.sig[:32] + (SECP256K1_ORDER - s).to_bytes(32, "big")
    high = Commit(commit.did, commit.version, commit.data, commit.rev, commit.prev, twin)
    assert verify_commit(commit, host.key.did_key)
    assert not verify_commit(high, host.key.did_key)
    assert not verify_commit(high.to_ipld(), host.key.did_key)
    car = _car_with_commit(host, high)
    load_repo_car(car, DID)  # structurally fine without a key...
    with pytest.raises(InvalidRepoError, match="signature"):
        load_repo_car(car, DID, host.key.did_key)  # ...but the signature is refused


def test_load_repo_car_rejects_inconsistent_repos(host: Host) -> None:
    host.write(*(WriteOp("create", POST, f"r{i}", post(str(i))) for i in range(12)))
    head = host.head
    assert head is not None
    car = export_car(host.store, head)
    with pytest.raises(InvalidRepoError, match="expected"):
        load_repo_car(car, "did:plc:someoneelse")

    blocks = read_car(car).blocks
    record_cid = host.results[-1].record_cids[(POST, "r3")]
    missing_record = write_car(head, {c: b for c, b in blocks.items() if c != record_cid})
    with pytest.raises(InvalidRepoError, match="missing"):
        load_repo_car(missing_record, DID)

    commit = host.results[-1].commit
    missing_node = write_car(head, {c: b for c, b in blocks.items() if c != commit.data})
    with pytest.raises(InvalidRepoError, match="missing"):
        load_repo_car(missing_node, DID)

    with pytest.raises(InvalidRepoError, match="root block"):
        load_repo_car(write_car(head, {c: b for c, b in blocks.items() if c != head}), DID)

    # A validly signed commit over a non-canonical tree: an extra keyless node on top.
    wrapper = MSTNode(keys=(), vals=(), subtrees=(commit.data,))
    forged = sign_commit(DID, wrapper.cid, host.clock.next(), host.key)
    forged_block = forged.encode()
    forged_cid = dagcbor.cid_for_cbor(forged_block)
    forged_car = write_car(
        forged_cid, {forged_cid: forged_block, wrapper.cid: wrapper.serialised, **blocks}
    )
    with pytest.raises(InvalidRepoError):
        load_repo_car(forged_car, DID, host.key.did_key)

    not_a_commit = dagcbor.encode({"hello": "world"})
    nc_cid = dagcbor.cid_for_cbor(not_a_commit)
    with pytest.raises(InvalidRepoError, match="not a valid commit"):
        load_repo_car(write_car(nc_cid, {nc_cid: not_a_commit}), DID)


def test_non_map_record_is_rejected(host: Host) -> None:
    # Records are maps; a tree pointing at a bare string is not a repository.
    block = dagcbor.encode("just a string")
    cid = dagcbor.cid_for_cbor(block)
    ns = NodeStore(MemoryBlockStore())
    root = NodeWrangler(ns).put_record(ns.get_node(None).cid, f"{POST}/s", cid)
    commit = sign_commit(DID, root, host.clock.next(), host.key)
    cblock = commit.encode()
    ccid = dagcbor.cid_for_cbor(cblock)
    node = ns.get_node(root)
    car = write_car(ccid, {ccid: cblock, root: node.serialised, cid: block})
    with pytest.raises(InvalidRepoError, match="not a map"):
        load_repo_car(car, DID)


def test_non_canonical_mst_is_rejected(host: Host) -> None:
    # One key of height 1 makes a root at height 1 whose subtrees are both empty (None).
    # Pointing one of them at an explicit empty node passes every per-node check, but no
    # canonical MST contains it: only rebuilding the tree from its keys notices.
    rkey = next(
        r for r in (f"h{i}" for i in range(10_000)) if MSTNode.key_height(f"{POST}/{r}") == 1
    )
    block = dagcbor.encode(post("x"))
    cid = dagcbor.cid_for_cbor(block)
    empty = MSTNode.empty_root()
    node = MSTNode(keys=(f"{POST}/{rkey}",), vals=(cid,), subtrees=(empty.cid, None))
    commit = sign_commit(DID, node.cid, host.clock.next(), host.key)
    cblock = commit.encode()
    ccid = dagcbor.cid_for_cbor(cblock)
    car = write_car(
        ccid, {ccid: cblock, node.cid: node.serialised, empty.cid: empty.serialised, cid: block}
    )
    with pytest.raises(InvalidRepoError, match="canonical"):
        load_repo_car(car, DID, host.key.did_key)
