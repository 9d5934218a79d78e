"""The ATProto v3 repository over an atmst block store.

Everything here is pure over a ``BlockStore`` (atmst's interface; keys are CID bytes). Writing
functions never touch the caller's store: they return the blocks a commit adds, and the caller
persists them (together with the rev that added each block, which ``since`` exports need).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from atmst.blockstore import BlockStore, MemoryBlockStore, OverlayBlockStore
from atmst.mst.node import MSTNode
from atmst.mst.node_store import NodeStore
from atmst.mst.node_walker import NodeWalker
from atmst.mst.node_wrangler import NodeWrangler
from cbrrr import CID

from . import dagcbor, mst
from .car import CarError, read_car, write_car
from .commit import Commit, CommitFormatError, sign_commit, verify_commit
from .keys import SigningKey
from .tid import is_later, is_valid_tid

__all__ = [
    "EMPTY_ROOT_CID",
    "BlockStore",
    "Commit",
    "CommitResult",
    "ImportedRepo",
    "InvalidRepoError",
    "RepoError",
    "RepoWriteError",
    "RevLookup",
    "WriteOp",
    "apply_writes",
    "covering_proof",
    "empty_commit",
    "export_car",
    "get_record",
    "get_record_cid",
    "list_collections",
    "list_records",
    "load_repo_car",
    "read_commit",
    "record_proof_car",
    "repo_blocks",
    "verify_commit",
]

EMPTY_ROOT_CID = mst.EMPTY_ROOT_CID

Action = Literal["create", "update", "delete"]
RecordPath = tuple[str, str]  # (collection, rkey)
# Given a block's CID, the rev of the commit that (most recently) added it; None if unknown.
RevLookup = Callable[[CID], str | None]


class RepoError(ValueError):
    """Base class for repository errors."""


class RepoWriteError(RepoError):
    """A write the repository refuses: key exists / is missing / is invalid, or a bad rev."""


class InvalidRepoError(RepoError):
    """Repository data that fails verification (missing blocks, bad commit, non-canonical MST).

    Malformed CAR framing and blocks that do not match their CID raise ``car.CarError``
    instead; an importer treats both as "invalid CAR".
    """


@dataclass(frozen=True)
class WriteOp:
    action: Action
    collection: str
    rkey: str
    value: dict[str, Any] | None = None  # IPLD form; required for create/update

    def __post_init__(self) -> None:
        if self.action not in ("create", "update", "delete"):
            raise RepoWriteError(f"unknown write action {self.action!r}")
        problem = mst.key_problem(self.collection, self.rkey)
        if problem:
            raise RepoWriteError(problem)
        if self.action == "delete":
            if self.value is not None:
                raise RepoWriteError("a delete carries no value")
        elif not isinstance(self.value, dict):
            raise RepoWriteError(f"{self.action} needs a record value (a map)")

    @property
    def key(self) -> str:
        return mst.mst_key(self.collection, self.rkey)


@dataclass(frozen=True)
class CommitResult:
    commit_cid: CID
    rev: str
    data_cid: CID  # MST root after the commit
    prev_commit: CID | None  # the head this commit was built on
    prev_data: CID | None  # MST root before the commit (sync v1.1 ``prevData``)
    commit: Commit
    # The commit block, the MST nodes not in the previous tree, and the record blocks of the
    # batch's final creates/updates. Persist all of them, tagged with ``rev``.
    new_blocks: dict[CID, bytes]
    # Final state of each written path: its record CID (absent for deleted paths).
    record_cids: dict[RecordPath, CID] = field(default_factory=dict)
    # The CID each updated/deleted path held before the commit.
    prev_record_cids: dict[RecordPath, CID] = field(default_factory=dict)


@dataclass(frozen=True)
class ImportedRepo:
    commit_cid: CID
    commit: Commit
    records: dict[RecordPath, tuple[CID, bytes]]  # in key order
    blocks: dict[CID, bytes]  # every block of the CAR, hash-checked


# -- reading ----------------------------------------------------------------------------------


def read_commit(store: BlockStore, head: CID) -> Commit:
    try:
        block = store.get_block(bytes(head))
    except KeyError:
        raise RepoError(f"commit block {head.encode()} is not in the store") from None
    try:
        return Commit.decode(block)
    except CommitFormatError as exc:
        raise InvalidRepoError(f"commit {head.encode()}: {exc}") from None


def get_record_cid(store: BlockStore, head: CID, collection: str, rkey: str) -> CID | None:
    commit = read_commit(store, head)
    return mst.lookup(mst.read_only_nodes(store), commit.data, mst.mst_key(collection, rkey))


def get_record(
    store: BlockStore, head: CID, collection: str, rkey: str
) -> tuple[CID, bytes] | None:
    cid = get_record_cid(store, head, collection, rkey)
    if cid is None:
        return None
    return cid, _get_block(store, cid)


def list_records(
    store: BlockStore, head: CID, collection: str, after_rkey: str | None = None
) -> list[tuple[str, CID]]:
    """(rkey, record CID) of one collection in ascending rkey order."""
    commit = read_commit(store, head)
    ns = mst.read_only_nodes(store)
    return list(mst.iter_collection(ns, commit.data, collection, after_rkey))


def list_collections(store: BlockStore, head: CID) -> list[str]:
    commit = read_commit(store, head)
    return mst.collections(mst.read_only_nodes(store), commit.data)


def covering_proof(store: BlockStore, data_root: CID, collection: str, rkey: str) -> set[CID]:
    """MST nodes proving a path and its neighbours in the tree at ``data_root`` (sync v1.1)."""
    return mst.covering_proof(mst.read_only_nodes(store), data_root, mst.mst_key(collection, rkey))


def _get_block(store: BlockStore, cid: CID) -> bytes:
    try:
        return store.get_block(bytes(cid))
    except KeyError:
        raise RepoError(f"block {cid.encode()} is not in the store") from None


# -- writing ----------------------------------------------------------------------------------


def empty_commit(did: str, key: SigningKey, rev: str) -> CommitResult:
    """The first commit of a repository: an empty MST, ``prev`` null."""
    return apply_writes(MemoryBlockStore(), did, key, None, (), rev)


def apply_writes(
    store: BlockStore,
    did: str,
    key: SigningKey,
    head: CID | None,
    ops: Iterable[WriteOp],
    rev: str,
) -> CommitResult:
    """Apply ``ops`` in order on top of ``head`` (None: a new, empty repo) and sign a commit.

    All or nothing: the first refused op raises RepoWriteError and no block is produced.
    ``rev`` must be a TID later than the head commit's rev.
    """
    if not isinstance(did, str) or not did.startswith("did:"):
        raise RepoWriteError(f"not a DID: {did!r}")
    if not is_valid_tid(rev):
        raise RepoWriteError(f"rev is not a TID: {rev!r}")

    written: dict[bytes, bytes] = {}
    # Reads fall through to the caller's store; everything atmst writes lands in ``written``.
    ns = NodeStore(OverlayBlockStore(MemoryBlockStore(written), store))
    ns.stored_node(MSTNode.empty_root())  # atmst reads the empty node like any other block

    prev_data: CID | None = None
    if head is not None:
        prev = read_commit(store, head)
        if prev.did != did:
            raise RepoWriteError(f"head commit belongs to {prev.did}, not {did}")
        if not is_later(rev, prev.rev):
            raise RepoWriteError(f"rev {rev} is not later than the head's rev {prev.rev}")
        prev_data = prev.data

    wrangler = NodeWrangler(ns)
    root = prev_data if prev_data is not None else EMPTY_ROOT_CID
    record_cids: dict[RecordPath, CID] = {}
    prev_record_cids: dict[RecordPath, CID] = {}
    record_blocks: dict[CID, bytes] = {}
    touched: set[RecordPath] = set()

    for op in ops:
        path = (op.collection, op.rkey)
        existing = mst.lookup(ns, root, op.key)
        if op.action == "create" and existing is not None:
            raise RepoWriteError(f"record already exists: {op.key}")
        if op.action != "create" and existing is None:
            raise RepoWriteError(f"record not found: {op.key}")
        if path not in touched:
            touched.add(path)
            if existing is not None:
                prev_record_cids[path] = existing
        if op.action == "delete":
            root = wrangler.del_record(root, op.key)
            record_cids.pop(path, None)
            continue
        try:
            block = dagcbor.encode(op.value)
        except dagcbor.DagCborError as exc:
            raise RepoWriteError(f"record {op.key}: {exc}") from None
        cid = dagcbor.cid_for_cbor(block)
        record_blocks[cid] = block
        record_cids[path] = cid
        root = wrangler.put_record(root, op.key, cid)

    commit = sign_commit(did, root, rev, key)
    commit_block = commit.encode()
    commit_cid = dagcbor.cid_for_cbor(commit_block)

    new_blocks: dict[CID, bytes] = {commit_cid: commit_block}
    for node_cid in _new_nodes(ns, written, prev_data, root):
        new_blocks[node_cid] = written[bytes(node_cid)]
    # Records written then deleted within the batch are not referenced; leave them out.
    for cid in record_cids.values():
        new_blocks.setdefault(cid, record_blocks[cid])

    return CommitResult(
        commit_cid=commit_cid,
        rev=rev,
        data_cid=root,
        prev_commit=head,
        prev_data=prev_data,
        commit=commit,
        new_blocks=new_blocks,
        record_cids=record_cids,
        prev_record_cids=prev_record_cids,
    )


def _new_nodes(
    ns: NodeStore, written: Mapping[bytes, bytes], old_root: CID | None, new_root: CID
) -> list[CID]:
    """MST nodes in the new tree that were not in the old one.

    atmst stores every intermediate node it builds, including ones a later op in the batch
    discarded and ones identical to nodes already in the old tree, so ``written`` alone
    over-counts. A new-tree node that atmst did not write is a shared old subtree, so the walk
    stops there; the second walk removes old-tree nodes atmst happened to rebuild identically.
    """
    fresh: list[CID] = []
    fresh_set: set[CID] = set()
    shared: set[CID] = set()
    stack = [new_root]
    while stack:
        cid = stack.pop()
        if bytes(cid) not in written:
            shared.add(cid)
            continue
        if cid in fresh_set:
            continue
        fresh.append(cid)
        fresh_set.add(cid)
        stack.extend(t for t in reversed(ns.get_node(cid).subtrees) if t is not None)
    if old_root is None:
        return fresh

    seen: set[CID] = set()
    stack = [old_root]
    while stack:
        cid = stack.pop()
        if cid in shared or cid in seen:
            continue
        seen.add(cid)
        fresh_set.discard(cid)
        stack.extend(t for t in ns.get_node(cid).subtrees if t is not None)
    return [cid for cid in fresh if cid in fresh_set]


# -- exporting --------------------------------------------------------------------------------


def repo_blocks(
    store: BlockStore,
    head: CID,
    since_rev: str | None = None,
    rev_of_block: RevLookup | None = None,
) -> Iterator[tuple[CID, bytes]]:
    """The repository's blocks: the commit, then the MST in key order, each record right after
    the node entry that points at it (a consumer can verify while streaming).

    With ``since_rev``, only blocks whose rev (from ``rev_of_block``) is later than it; a block
    with an unknown rev (None) is included. A node added at or before ``since_rev`` cannot have
    newer descendants, so its whole subtree is skipped without being read. That holds when the
    caller records, for every block in each ``CommitResult.new_blocks``, that commit's rev,
    overwriting an older rev for the same CID.
    """
    if since_rev is not None:
        if not is_valid_tid(since_rev):
            raise RepoError(f"since is not a TID: {since_rev!r}")
        if rev_of_block is None:
            raise ValueError("a since export needs rev_of_block")

    def wanted(cid: CID) -> bool:
        if since_rev is None or rev_of_block is None:
            return True
        rev = rev_of_block(cid)
        return rev is None or is_later(rev, since_rev)

    commit_block = _get_block(store, head)
    try:
        commit = Commit.decode(commit_block)
    except CommitFormatError as exc:
        raise InvalidRepoError(f"commit {head.encode()}: {exc}") from None
    if since_rev is None or is_later(commit.rev, since_rev):
        yield head, commit_block

    ns = mst.read_only_nodes(store)
    emitted: set[CID] = set()
    # Explicit stack of "visit node" / "emit record" tasks keeps deep trees off the C stack.
    tasks: list[tuple[bool, CID]] = [(True, commit.data)]
    while tasks:
        is_node, cid = tasks.pop()
        if cid in emitted or not wanted(cid):
            continue
        emitted.add(cid)
        if not is_node:
            yield cid, _get_block(store, cid)
            continue
        try:
            node = ns.get_node(cid)
        except KeyError:
            raise RepoError(f"MST node {cid.encode()} is not in the store") from None
        yield cid, node.serialised
        later: list[tuple[bool, CID]] = []
        if node.subtrees[0] is not None:
            later.append((True, node.subtrees[0]))
        for value, subtree in zip(node.vals, node.subtrees[1:], strict=True):
            later.append((False, value))
            if subtree is not None:
                later.append((True, subtree))
        tasks.extend(reversed(later))


def export_car(
    store: BlockStore,
    head: CID,
    since_rev: str | None = None,
    rev_of_block: RevLookup | None = None,
) -> bytes:
    """The repository as a CAR rooted at ``head`` (see repo_blocks for ``since``).

    To stream instead: ``car.iter_car_chunks(head, repo_blocks(...))``.
    """
    return write_car(head, repo_blocks(store, head, since_rev, rev_of_block))


def record_proof_car(store: BlockStore, head: CID, collection: str, rkey: str) -> bytes:
    """CAR with the commit, the MST nodes on the path to the record, and the record if present.

    For an absent record the same nodes form an exclusion proof.
    """
    commit_block = _get_block(store, head)
    commit = read_commit(store, head)
    key = mst.mst_key(collection, rkey)
    ns = mst.read_only_nodes(store)
    try:
        nodes = mst.path_nodes(ns, commit.data, key)
    except KeyError:
        raise RepoError("an MST node on the record's path is not in the store") from None
    blocks: dict[CID, bytes] = {head: commit_block}
    for node in nodes:
        blocks[node.cid] = node.serialised
    found = mst.lookup(ns, commit.data, key)
    if found is not None:
        blocks[found] = _get_block(store, found)
    return write_car(head, blocks)


# -- importing --------------------------------------------------------------------------------


def load_repo_car(car_bytes: bytes, did: str, did_key: str | None = None) -> ImportedRepo:
    """Parse and fully verify a repository CAR for ``did``.

    Checks: every block's hash (CarError), one root that is a v3 commit for ``did``, the
    signature when ``did_key`` is given, every MST node and record block present and decodable,
    keys valid and in order, and the MST canonical (rebuilt from the records, the root must
    match). Anything but framing/hash problems raises InvalidRepoError.
    """
    car = read_car(car_bytes)
    try:
        root = car.root
    except CarError as exc:
        raise InvalidRepoError(str(exc)) from None
    commit_block = car.blocks.get(root)
    if commit_block is None:
        raise InvalidRepoError(f"the CAR does not contain its root block {root.encode()}")
    try:
        commit = Commit.decode(commit_block)
    except CommitFormatError as exc:
        raise InvalidRepoError(f"root block is not a valid commit: {exc}") from None
    if commit.did != did:
        raise InvalidRepoError(f"commit is for {commit.did}, expected {did}")
    if did_key is not None and not verify_commit(commit, did_key):
        raise InvalidRepoError("commit signature does not verify against the given key")

    ns = NodeStore(
        OverlayBlockStore(
            MemoryBlockStore(), MemoryBlockStore({bytes(c): b for c, b in car.blocks.items()})
        )
    )
    entries = _walk_entries(ns, commit.data)

    records: dict[RecordPath, tuple[CID, bytes]] = {}
    for key, cid in entries:
        block = car.blocks.get(cid)
        if block is None:
            raise InvalidRepoError(f"record block {cid.encode()} for {key} is missing")
        try:
            value = dagcbor.decode(block)
        except dagcbor.DagCborError as exc:
            raise InvalidRepoError(f"record {key} is not DAG-CBOR: {exc}") from None
        if not isinstance(value, dict):
            raise InvalidRepoError(f"record {key} is not a map")
        records[mst.split_key(key)] = (cid, block)

    if _rebuild_root(entries) != commit.data:
        raise InvalidRepoError("the MST is not in canonical form for its keys")
    return ImportedRepo(commit_cid=root, commit=commit, records=records, blocks=car.blocks)


def _walk_entries(ns: NodeStore, data: CID) -> list[tuple[str, CID]]:
    entries: list[tuple[str, CID]] = []
    previous = ""
    try:
        for key, value in NodeWalker(ns, data).iter_kv():
            if key <= previous:
                raise InvalidRepoError(f"MST keys out of order at {key!r}")
            try:
                mst.split_key(key)
            except ValueError as exc:
                raise InvalidRepoError(str(exc)) from None
            if not isinstance(value, CID):
                raise InvalidRepoError(f"MST value for {key!r} is not a CID link")
            entries.append((key, value))
            previous = key
    except InvalidRepoError:
        raise
    except KeyError:
        raise InvalidRepoError("an MST node referenced by the tree is missing") from None
    except (ValueError, TypeError) as exc:
        raise InvalidRepoError(f"malformed MST: {exc}") from None
    return entries


def _rebuild_root(entries: Sequence[tuple[str, CID]]) -> CID:
    ns = NodeStore(MemoryBlockStore())
    wrangler = NodeWrangler(ns)
    root = ns.get_node(None).cid
    for key, value in entries:
        root = wrangler.put_record(root, key, value)
    return root
