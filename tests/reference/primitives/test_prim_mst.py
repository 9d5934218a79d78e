from __future__ import annotations

from collections.abc import Callable
from typing import Any

from atmst.blockstore import MemoryBlockStore
from atmst.mst.node import MSTNode
from atmst.mst.node_store import NodeStore
from atmst.mst.node_wrangler import NodeWrangler

from reference_impl.primitives import mst
from reference_impl.primitives.dagcbor import CID, cid_for_cbor, encode


def test_key_heights(interop_json: Callable[[str], Any]) -> None:
    cases = interop_json("mst/key_heights.json")
    assert cases
    for case in cases:
        assert MSTNode.key_height(case["key"]) == case["height"], case["key"]


def test_empty_root_constant() -> None:
    assert mst.EMPTY_ROOT_CID.encode() == (
        "bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm"
    )
    assert cid_for_cbor(mst.EMPTY_ROOT_BLOCK) == mst.EMPTY_ROOT_CID


def _tree(keys: list[str], leaf: CID) -> tuple[NodeStore, NodeWrangler, CID]:
    ns = NodeStore(MemoryBlockStore())
    wrangler = NodeWrangler(ns)
    root = ns.get_node(None).cid
    for key in keys:
        root = wrangler.put_record(root, key, leaf)
    return ns, wrangler, root


def test_commit_proof_fixtures(interop_json: Callable[[str], Any]) -> None:
    """The fixture's proof is the union of covering proofs (the key's path plus the paths to its
    two neighbours) of every added and deleted key, taken in the tree *after* the commit."""
    cases = interop_json("firehose/commit-proof-fixtures.json")
    assert cases
    for case in cases:
        leaf = CID.decode(case["leafValue"])
        ns, wrangler, root = _tree(case["keys"], leaf)
        assert root.encode() == case["rootBeforeCommit"], case["comment"]
        for key in case["adds"]:
            root = wrangler.put_record(root, key, leaf)
        for key in case["dels"]:
            root = wrangler.del_record(root, key)
        assert root.encode() == case["rootAfterCommit"], case["comment"]
        proof: set[CID] = set()
        for key in case["adds"] + case["dels"]:
            proof |= mst.covering_proof(ns, root, key)
        assert {c.encode() for c in proof} == set(case["blocksInProof"]), case["comment"]


def test_neighbours_match_sorted_order() -> None:
    leaf = cid_for_cbor(encode({}))
    keys = [f"app.bsky.feed.post/{i:04d}" for i in range(0, 400, 3)]
    ns, _, root = _tree(keys, leaf)
    ordered = sorted(keys)
    probes = sorted({*keys, "a/0", "zzz/9", *(f"app.bsky.feed.post/{i:04d}" for i in range(400))})
    for probe in probes:
        below = [k for k in ordered if k < probe]
        above = [k for k in ordered if k > probe]
        assert mst.neighbours(ns, root, probe) == (
            below[-1] if below else None,
            above[0] if above else None,
        ), probe


def test_path_nodes_end_at_the_key() -> None:
    leaf = cid_for_cbor(encode({}))
    keys = [f"c/{i:03d}" for i in range(200)]
    ns, _, root = _tree(keys, leaf)
    for key in keys:
        nodes = mst.path_nodes(ns, root, key)
        assert nodes[0].cid == root
        assert key in nodes[-1].keys
        assert all(key not in node.keys for node in nodes[:-1])


def test_collections_and_ranges() -> None:
    leaf = cid_for_cbor(encode({}))
    keys = ["a.b/1", "a.b/2", "a.b-c/1", "a.b0/1", "z.z/x", "a.c/1"]
    ns, _, root = _tree(keys, leaf)
    assert mst.collections(ns, root) == ["a.b", "a.b-c", "a.b0", "a.c", "z.z"]
    assert [r for r, _ in mst.iter_collection(ns, root, "a.b")] == ["1", "2"]
    assert [r for r, _ in mst.iter_collection(ns, root, "a.b", after_rkey="1")] == ["2"]
    assert list(mst.iter_collection(ns, root, "nope.nope")) == []
    assert mst.collections(ns, mst.EMPTY_ROOT_CID) == []


def test_key_problem() -> None:
    assert mst.key_problem("app.bsky.feed.post", "3jzfcijpj2z2a") is None
    assert mst.key_problem("app.bsky.feed.post", "self") is None
    assert mst.key_problem("", "x")
    assert mst.key_problem("a/b", "x")
    assert mst.key_problem("a.b", "x/y")
    assert mst.key_problem("a.b", "..")
    assert mst.key_problem("a.b", "x" * 513)
    assert mst.key_problem("a.b", "has space")
