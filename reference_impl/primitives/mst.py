"""Read-side MST queries on top of atmst: paths, neighbours, proofs and key ranges.

atmst does the tree itself (nodes, insertion, deletion, walking). What lives here are the
queries a repository host needs beyond that: which nodes a proof must carry, and key-range
listing by collection. Keys are ``<collection>/<rkey>``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from atmst.blockstore import BlockStore, MemoryBlockStore, OverlayBlockStore
from atmst.mst.node import MSTNode
from atmst.mst.node_store import NodeStore
from atmst.mst.node_walker import NodeWalker
from cbrrr import CID

EMPTY_ROOT_CID: CID = MSTNode.empty_root().cid
EMPTY_ROOT_BLOCK: bytes = MSTNode.empty_root().serialised

# Repository spec: one slash; collection (NSID) and record key use this character set, and a
# record key is at most 512 characters and never "." or "..".
_KEY_PART = re.compile(r"[A-Za-z0-9._:~-]+")
_MAX_RKEY = 512
_MAX_COLLECTION = 317


def mst_key(collection: str, rkey: str) -> str:
    return f"{collection}/{rkey}"


def key_problem(collection: str, rkey: str) -> str | None:
    """Why ``collection/rkey`` cannot be an MST key, or None when it can."""
    if not collection or len(collection) > _MAX_COLLECTION or not _KEY_PART.fullmatch(collection):
        return f"invalid collection {collection!r}"
    if not rkey or len(rkey) > _MAX_RKEY or not _KEY_PART.fullmatch(rkey) or rkey in (".", ".."):
        return f"invalid record key {rkey!r}"
    return None


def split_key(key: str) -> tuple[str, str]:
    collection, sep, rkey = key.partition("/")
    if not sep or key_problem(collection, rkey):
        raise ValueError(f"not a valid MST key: {key!r}")
    return collection, rkey


def read_only_nodes(store: BlockStore) -> NodeStore:
    """A NodeStore that never writes to ``store``.

    atmst materialises the empty node through its store (``get_node(None)``); a throwaway upper
    layer keeps read paths free of side effects on the caller's store.
    """
    return NodeStore(OverlayBlockStore(MemoryBlockStore(), store))


def lookup(ns: NodeStore, root: CID, key: str) -> CID | None:
    return NodeWalker(ns, root).find_rpath(key)


def path_nodes(ns: NodeStore, root: CID, key: str) -> list[MSTNode]:
    """Nodes from the root down to where ``key`` is, or to where it would have to be.

    Unlike atmst's proof builder this never stops early on key height: for an absent key it
    descends to the bottom, which every verifier's walk is a subset of.
    """
    nodes: list[MSTNode] = []
    cid: CID | None = root
    while cid is not None:
        node = ns.get_node(cid)
        nodes.append(node)
        i = node.gte_index(key)
        if i < len(node.keys) and node.keys[i] == key:
            break
        cid = node.subtrees[i]
    return nodes


def neighbours(ns: NodeStore, root: CID, key: str) -> tuple[str | None, str | None]:
    """The greatest key below ``key`` and the smallest above it (either may be None)."""
    below: str | None = None
    above: str | None = None
    cid: CID | None = root
    while cid is not None:
        node = ns.get_node(cid)
        i = node.gte_index(key)
        # Candidates found deeper always lie closer to ``key``, so they overwrite.
        if i > 0:
            below = node.keys[i - 1]
        found = i < len(node.keys) and node.keys[i] == key
        after = i + 1 if found else i
        if after < len(node.keys):
            above = node.keys[after]
        if not found:
            cid = node.subtrees[i]
            continue
        below = _rightmost_key(ns, node.subtrees[i], below)
        above = _leftmost_key(ns, node.subtrees[i + 1], above)
        break
    return below, above


def _rightmost_key(ns: NodeStore, cid: CID | None, fallback: str | None) -> str | None:
    while cid is not None:
        node = ns.get_node(cid)
        if node.keys:
            fallback = node.keys[-1]
        cid = node.subtrees[-1]
    return fallback


def _leftmost_key(ns: NodeStore, cid: CID | None, fallback: str | None) -> str | None:
    while cid is not None:
        node = ns.get_node(cid)
        if node.keys:
            fallback = node.keys[0]
        cid = node.subtrees[0]
    return fallback


def covering_proof(ns: NodeStore, root: CID, key: str) -> set[CID]:
    """Nodes proving ``key``'s presence or absence *and* its neighbours.

    This is the per-operation proof of ATProto sync v1.1 commit events: with it a consumer can
    invert the operation and recompute the previous root.
    """
    cids = {node.cid for node in path_nodes(ns, root, key)}
    for other in neighbours(ns, root, key):
        if other is not None:
            cids.update(node.cid for node in path_nodes(ns, root, other))
    return cids


def iter_range(ns: NodeStore, root: CID, start: str, end: str) -> Iterator[tuple[str, CID]]:
    """(key, value) for start <= key < end, in key order."""
    return NodeWalker(ns, root).iter_kv_range(start, end)


def iter_collection(
    ns: NodeStore, root: CID, collection: str, after_rkey: str | None = None
) -> Iterator[tuple[str, CID]]:
    """(rkey, record CID) of one collection in rkey order, optionally strictly after a cursor."""
    prefix = collection + "/"
    # '0' is the character right after '/', so this bound ends the collection exactly.
    end = collection + "0"
    start = prefix if after_rkey is None else prefix + after_rkey
    for key, value in iter_range(ns, root, start, end):
        rkey = key[len(prefix) :]
        if after_rkey is not None and rkey == after_rkey:
            continue
        yield rkey, value


def collections(ns: NodeStore, root: CID) -> list[str]:
    """Distinct collections holding records (sorted), skipping from one collection to the next
    instead of reading every key."""
    found: list[str] = []
    start = ""
    while True:
        first = next(iter_range(ns, root, start, NodeWalker.PATH_MAX), None)
        if first is None:
            return sorted(found)
        collection = first[0].partition("/")[0]
        found.append(collection)
        start = collection + "0"
