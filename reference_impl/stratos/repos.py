"""Users' Stratos repositories: signed commits over the MST, the record index, blobs, CARs.

Each commit is one transaction on the user's own database: read the head, build the commit over
the stored blocks, persist the new blocks (tagged with the commit's rev, for ``since`` exports),
move the head, update the record index and queue the commit for publication. The client is
answered only after that transaction is on disk (synchronous=FULL), so an acknowledged write
survives ``kill -9``.

This module knows nothing about callers or enrollment; ``writes.py`` and ``reads.py`` decide who
may do what.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from atmst.blockstore import MemoryBlockStore
from cbrrr import CID

from ..common.errors import XrpcError, invalid_request
from ..common.repo_blocks import CommittedBlocks
from ..primitives import dagcbor, repo
from ..primitives.car import CarError
from ..primitives.commit import sign_commit
from ..primitives.keys import SigningKey
from ..primitives.tid import TidClock
from .events import CommitPublication, PublishedOp
from .policy import (
    MalformedBoundary,
    RecordBoundary,
    boundary_from_json,
    boundary_json,
    boundary_of,
)
from .records import PreparedWrite, _Unset
from .store import ActorStore

MAX_BLOB_BYTES = 50 * 1024 * 1024


@dataclass(frozen=True)
class WriteResult:
    action: str  # as requested (the published op says "create" for an update of a new path)
    uri: str
    cid: str | None
    validation_status: str | None


@dataclass(frozen=True)
class CommitOutcome:
    commit_cid: str
    rev: str
    results: tuple[WriteResult, ...]
    publication: CommitPublication
    pending_id: int

    def commit_meta(self) -> dict[str, str]:
        return {"cid": self.commit_cid, "rev": self.rev}


@dataclass(frozen=True)
class RecordEntry:
    """A row of the record index: enough to decide visibility without reading the record."""

    collection: str
    rkey: str
    cid: str
    boundary: RecordBoundary


@dataclass(frozen=True)
class StoredBlob:
    cid: str
    mime_type: str
    size: int
    content: bytes


def _blob_refs(value: Any) -> Iterator[str]:
    """CIDs of every blob a record (IPLD form) references."""
    if isinstance(value, dict):
        if value.get("$type") == "blob" and isinstance(value.get("ref"), CID):
            yield value["ref"].encode()
        for item in value.values():
            yield from _blob_refs(item)
    elif isinstance(value, list):
        for item in value:
            yield from _blob_refs(item)


def _entry(row: sqlite3.Row) -> RecordEntry:
    stored = row["boundary"]
    return RecordEntry(
        row["collection"],
        row["rkey"],
        row["cid"],
        boundary_from_json(json.loads(stored) if stored is not None else None),
    )


def _head(conn: sqlite3.Connection) -> tuple[CID | None, str | None]:
    row = conn.execute("SELECT commit_cid, rev FROM repo_root WHERE id = 1").fetchone()
    return (CID.decode(row["commit_cid"]), row["rev"]) if row else (None, None)


def _persist(conn: sqlite3.Connection, blocks: dict[CID, bytes], rev: str, commit_cid: CID) -> None:
    conn.executemany(
        # A block that reappears (a record deleted, then recreated) takes the new rev, so that
        # ``since`` exports include it.
        "INSERT INTO repo_block (cid, content, rev) VALUES (?, ?, ?)"
        " ON CONFLICT(cid) DO UPDATE SET rev = excluded.rev",
        [(bytes(cid), block, rev) for cid, block in blocks.items()],
    )
    conn.execute(
        "INSERT INTO repo_root (id, commit_cid, rev) VALUES (1, ?, ?)"
        " ON CONFLICT(id) DO UPDATE SET commit_cid = excluded.commit_cid, rev = excluded.rev",
        (commit_cid.encode(), rev),
    )


def _queue(conn: sqlite3.Connection, publication: CommitPublication) -> int:
    cursor = conn.execute(
        "INSERT INTO pending_publication (payload) VALUES (?)", (publication.to_json(),)
    )
    return int(cursor.lastrowid or 0)


class RepoService:
    def __init__(self, actors: ActorStore, tids: TidClock) -> None:
        self.actors = actors
        self.tids = tids

    # -- lifecycle ----------------------------------------------------------------------------

    def init_repo(self, did: str, key: SigningKey) -> repo.CommitResult:
        """A fresh repository holding the signed empty commit (STR-ENR-03)."""
        self.actors.delete(did)  # a leftover from an enrolment that crashed half-way
        db = self.actors.create(did)
        result = repo.empty_commit(did, key, self.tids.next())
        with db.transaction() as conn:
            _persist(conn, result.new_blocks, result.rev, result.commit_cid)
        return result

    def delete_repo(self, did: str) -> None:
        self.actors.delete(did)

    # -- writes -------------------------------------------------------------------------------

    def commit(
        self,
        did: str,
        key: SigningKey,
        writes: Sequence[PreparedWrite],
        swap_commit: str | None,
        time: str,
    ) -> CommitOutcome:
        """Apply the writes as one signed commit; all or nothing (STR-REPO-03)."""
        if not writes:
            raise invalid_request("No writes given")
        db = self.actors.create(did)  # exists unless enrolment ran with ``no-empty-commit``
        with db.transaction() as conn:
            head_cid, head_rev = _head(conn)
            if swap_commit is not None and (head_cid is None or swap_commit != head_cid.encode()):
                raise XrpcError(400, "InvalidSwap", f"Commit was at {head_cid}")
            ops: list[repo.WriteOp] = []
            published: list[PublishedOp] = []
            # The index as the batch goes: later writes in a batch see earlier ones.
            current: dict[tuple[str, str], RecordEntry | None] = {}
            for write in writes:
                path = (write.collection, write.rkey)
                if path not in current:
                    current[path] = self._entry(conn, *path)
                existing = current[path]
                existing_cid = existing.cid if existing is not None else None
                if not isinstance(write.swap_record, _Unset) and write.swap_record != existing_cid:
                    raise XrpcError(400, "InvalidSwap", f"Record was at {existing_cid}")
                uri = f"at://{did}/{write.collection}/{write.rkey}"
                action = write.action
                if action == "create" and existing is not None:
                    raise invalid_request(f"Record already exists: {uri}")
                if action == "delete" and existing is None:
                    raise invalid_request(f"Could not locate record: {uri}")
                if action == "update" and existing is None:
                    action = "create"
                if action == "delete":
                    ops.append(repo.WriteOp("delete", write.collection, write.rkey, None))
                    boundary = existing.boundary if existing is not None else None
                    published.append(
                        PublishedOp("delete", *path, None, None, boundary_tuple(boundary))
                    )
                    current[path] = None
                else:
                    ops.append(repo.WriteOp(action, write.collection, write.rkey, write.ipld))
                    published.append(
                        PublishedOp(
                            action, *path, None, write.record, boundary_tuple(write.boundary)
                        )
                    )
                    # The CID is known after the commit; a placeholder keeps "exists" right.
                    current[path] = RecordEntry(*path, "", write.boundary)

            rev = self.tids.next_after(head_rev)
            try:
                result = repo.apply_writes(CommittedBlocks(conn), did, key, head_cid, ops, rev)
            except repo.RepoWriteError as exc:
                raise invalid_request(str(exc)) from exc
            _persist(conn, result.new_blocks, result.rev, result.commit_cid)
            # Each op's own record CID: in a batch that writes one path twice, the first value
            # is not the path's final one (and may not be stored at all).
            op_cids = [
                dagcbor.cid_for_cbor(dagcbor.encode(op.value)).encode()
                if op.value is not None
                else None
                for op in ops
            ]
            for write, op, cid in zip(writes, ops, op_cids, strict=True):
                self._index(conn, write, op, cid, result.rev)

            final_ops = tuple(
                PublishedOp(p.action, p.collection, p.rkey, cid, p.record, p.boundary)
                for p, cid in zip(published, op_cids, strict=True)
            )
            publication = CommitPublication(did, rev, result.commit_cid.encode(), time, final_ops)
            pending_id = _queue(conn, publication)

        results = tuple(
            WriteResult(
                write.action,
                f"at://{did}/{op.collection}/{op.rkey}",
                op.cid,
                write.validation_status,
            )
            for op, write in zip(final_ops, writes, strict=True)
        )
        return CommitOutcome(result.commit_cid.encode(), rev, results, publication, pending_id)

    def _index(
        self,
        conn: sqlite3.Connection,
        write: PreparedWrite,
        op: repo.WriteOp,
        cid: str | None,
        rev: str,
    ) -> None:
        key = (op.collection, op.rkey)
        conn.execute("DELETE FROM record_blob WHERE collection = ? AND rkey = ?", key)
        if op.action == "delete" or cid is None:
            conn.execute("DELETE FROM record WHERE collection = ? AND rkey = ?", key)
            return
        stored = boundary_json(write.boundary)
        conn.execute(
            "INSERT INTO record (collection, rkey, cid, rev, boundary) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT(collection, rkey) DO UPDATE SET cid = excluded.cid,"
            " rev = excluded.rev, boundary = excluded.boundary",
            (*key, cid, rev, json.dumps(stored) if stored is not None else None),
        )
        for blob_cid in sorted(set(_blob_refs(op.value))):
            found = conn.execute("SELECT 1 FROM blob WHERE cid = ?", (blob_cid,)).fetchone()
            if found is None:
                raise invalid_request(f"Could not find blob: {blob_cid}", "BlobNotFound")
            conn.execute(
                "INSERT OR IGNORE INTO record_blob (collection, rkey, blob_cid, rev)"
                " VALUES (?, ?, ?, ?)",
                (*key, blob_cid, rev),
            )

    def import_car(
        self, did: str, key: SigningKey, car_bytes: bytes, time: str
    ) -> tuple[int, CommitOutcome]:
        """Every record of the CAR, CIDs unchanged, under a new commit signed with ``key``.

        The CAR is fully verified before anything is written (STR-IMP-01): block hashes, one
        root that is a v3 commit for ``did``, every MST node and record present, the MST
        canonical. Its signature is not checked: it was made by the previous host's key.
        """
        try:
            imported = repo.load_repo_car(car_bytes, did)
        except (CarError, repo.RepoError) as exc:
            raise XrpcError(400, "InvalidCar", f"Invalid repository CAR: {exc}") from exc

        db = self.actors.create(did)
        with db.transaction() as conn:
            if conn.execute("SELECT 1 FROM record LIMIT 1").fetchone() is not None:
                raise XrpcError(400, "RepoAlreadyExists", "The repository already holds records")
            _, head_rev = _head(conn)
            rev = self.tids.next_after(head_rev)
            commit = sign_commit(did, imported.commit.data, rev, key)
            commit_block = commit.encode()
            commit_cid = dagcbor.cid_for_cbor(commit_block)
            # Only what the new commit reaches is kept: stray blocks in the CAR are dropped.
            source = MemoryBlockStore({bytes(c): b for c, b in imported.blocks.items()})
            source.put_block(bytes(commit_cid), commit_block)
            blocks = dict(repo.repo_blocks(source, commit_cid))
            _persist(conn, blocks, rev, commit_cid)

            ops: list[PublishedOp] = []
            for (collection, rkey), (cid, block) in imported.records.items():
                value = dagcbor.decode(block)
                try:
                    boundary = boundary_of(value)
                except MalformedBoundary:
                    # Imported as-is (its CID must not change) but readable by the owner only.
                    boundary = frozenset()
                stored = boundary_json(boundary)
                conn.execute(
                    "INSERT INTO record (collection, rkey, cid, rev, boundary)"
                    " VALUES (?, ?, ?, ?, ?)",
                    (
                        collection,
                        rkey,
                        cid.encode(),
                        rev,
                        json.dumps(stored) if stored is not None else None,
                    ),
                )
                # Blobs are not in a repository CAR; their references are kept so listBlobs
                # tells the owner what to upload again.
                conn.executemany(
                    "INSERT OR IGNORE INTO record_blob (collection, rkey, blob_cid, rev)"
                    " VALUES (?, ?, ?, ?)",
                    [(collection, rkey, b, rev) for b in sorted(set(_blob_refs(value)))],
                )
                ops.append(
                    PublishedOp(
                        "create",
                        collection,
                        rkey,
                        cid.encode(),
                        dagcbor.ipld_to_json(value),
                        boundary_tuple(boundary),
                    )
                )
            publication = CommitPublication(did, rev, commit_cid.encode(), time, tuple(ops))
            pending_id = _queue(conn, publication)
        outcome = CommitOutcome(commit_cid.encode(), rev, (), publication, pending_id)
        return len(ops), outcome

    # -- blobs --------------------------------------------------------------------------------

    def upload_blob(
        self, did: str, data: bytes, mime_type: str | None, time: str
    ) -> dict[str, Any]:
        if len(data) > MAX_BLOB_BYTES:
            raise XrpcError(400, "BlobTooLarge", f"Blob is over {MAX_BLOB_BYTES} bytes")
        cid = dagcbor.cid_for_raw(data).encode()
        mime = mime_type or "application/octet-stream"
        db = self.actors.create(did)
        with db.transaction() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO blob (cid, mime_type, size, content, created_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (cid, mime, len(data), data, time),
            )
        return {"$type": "blob", "ref": {"$link": cid}, "mimeType": mime, "size": len(data)}

    def blob_with_boundaries(
        self, did: str, cid: str
    ) -> tuple[StoredBlob | None, list[RecordBoundary]]:
        """The blob (if stored) and the boundaries of the records that reference it."""
        db = self.actors.get(did)
        if db is None:
            return None, []
        with db.snapshot() as conn:
            row = conn.execute(
                "SELECT cid, mime_type, size, content FROM blob WHERE cid = ?", (cid,)
            ).fetchone()
            refs = conn.execute(
                "SELECT r.collection, r.rkey, r.cid, r.boundary FROM record_blob b"
                " JOIN record r ON r.collection = b.collection AND r.rkey = b.rkey"
                " WHERE b.blob_cid = ?",
                (cid,),
            ).fetchall()
        blob = (
            StoredBlob(row["cid"], row["mime_type"], row["size"], bytes(row["content"]))
            if row is not None
            else None
        )
        return blob, [_entry(r).boundary for r in refs]

    def list_blobs(
        self, did: str, since: str | None, limit: int, cursor: str | None
    ) -> tuple[list[str], str | None]:
        """Blob CIDs that current records reference, in CID order, paginated by CID."""
        db = self.actors.get(did)
        if db is None:
            return [], None
        rows = db.query(
            "SELECT DISTINCT blob_cid FROM record_blob WHERE blob_cid > ? AND rev > ?"
            " ORDER BY blob_cid LIMIT ?",
            (cursor or "", since or "", limit + 1),
        )
        cids = [r["blob_cid"] for r in rows]
        next_cursor = cids[limit - 1] if len(cids) > limit else None
        return cids[:limit], next_cursor

    # -- reads --------------------------------------------------------------------------------

    @staticmethod
    def _entry(conn: sqlite3.Connection, collection: str, rkey: str) -> RecordEntry | None:
        row = conn.execute(
            "SELECT collection, rkey, cid, boundary FROM record WHERE collection = ? AND rkey = ?",
            (collection, rkey),
        ).fetchone()
        return _entry(row) if row is not None else None

    def has_repo(self, did: str) -> bool:
        db = self.actors.get(did)
        return db is not None and db.query_one("SELECT 1 FROM repo_root") is not None

    def head(self, did: str) -> tuple[str, str] | None:
        db = self.actors.get(did)
        row = db.query_one("SELECT commit_cid, rev FROM repo_root") if db is not None else None
        return (row["commit_cid"], row["rev"]) if row is not None else None

    def record_entry(self, did: str, collection: str, rkey: str) -> RecordEntry | None:
        db = self.actors.get(did)
        if db is None:
            return None
        with db.snapshot() as conn:
            return self._entry(conn, collection, rkey)

    def record_value(self, did: str, cid: str) -> dict[str, Any] | None:
        """The record block with this CID, in JSON form."""
        db = self.actors.get(did)
        if db is None:
            return None
        row = db.query_one(
            "SELECT content FROM repo_block WHERE cid = ?", (bytes(CID.decode(cid)),)
        )
        if row is None:
            return None
        value: dict[str, Any] = dagcbor.ipld_to_json(dagcbor.decode(bytes(row["content"])))
        return value

    def iter_entries(
        self, did: str, collection: str, cursor: str | None, reverse: bool, batch: int = 100
    ) -> Iterator[RecordEntry]:
        """Index rows of one collection past ``cursor``: newest key first unless ``reverse``."""
        db = self.actors.get(did)
        if db is None:
            return
        if reverse:
            sql = (
                "SELECT collection, rkey, cid, boundary FROM record"
                " WHERE collection = ? AND rkey > ? ORDER BY rkey ASC LIMIT ?"
            )
            bound = cursor or ""
        else:
            sql = (
                "SELECT collection, rkey, cid, boundary FROM record"
                " WHERE collection = ? AND rkey < ? ORDER BY rkey DESC LIMIT ?"
            )
            bound = cursor or "\U0010ffff"
        while True:
            rows = db.query(sql, (collection, bound, batch))
            for row in rows:
                yield _entry(row)
            if len(rows) < batch:
                return
            bound = rows[-1]["rkey"]

    def iter_all_entries(self, did: str) -> Iterator[RecordEntry]:
        db = self.actors.get(did)
        if db is None:
            return
        rows = db.query(
            "SELECT collection, rkey, cid, boundary FROM record ORDER BY collection, rkey"
        )
        for row in rows:
            yield _entry(row)

    def collections(self, did: str) -> list[str]:
        db = self.actors.get(did)
        if db is None:
            return []
        rows = db.query("SELECT DISTINCT collection FROM record ORDER BY collection")
        return [r["collection"] for r in rows]

    def export(self, did: str, since: str | None) -> bytes | None:
        db = self.actors.get(did)
        if db is None:
            return None
        with db.snapshot() as conn:
            head_cid, _ = _head(conn)
            if head_cid is None:
                return None

            def rev_of_block(cid: CID) -> str | None:
                row = conn.execute(
                    "SELECT rev FROM repo_block WHERE cid = ?", (bytes(cid),)
                ).fetchone()
                return row["rev"] if row else None

            return repo.export_car(
                CommittedBlocks(conn), head_cid, since_rev=since, rev_of_block=rev_of_block
            )

    def proof(self, did: str, collection: str, rkey: str) -> bytes | None:
        db = self.actors.get(did)
        if db is None:
            return None
        with db.snapshot() as conn:
            head_cid, _ = _head(conn)
            if head_cid is None:
                return None
            return repo.record_proof_car(CommittedBlocks(conn), head_cid, collection, rkey)

    # -- publication queue --------------------------------------------------------------------

    def pending_publications(self, did: str) -> list[tuple[int, CommitPublication]]:
        db = self.actors.get(did)
        if db is None:
            return []
        rows = db.query("SELECT id, payload FROM pending_publication ORDER BY id")
        return [(int(r["id"]), CommitPublication.from_json(r["payload"])) for r in rows]

    def mark_published(self, did: str, pending_id: int) -> None:
        db = self.actors.get(did)
        if db is None:
            return
        with db.transaction() as conn:
            conn.execute("DELETE FROM pending_publication WHERE id <= ?", (pending_id,))


def boundary_tuple(boundary: RecordBoundary) -> tuple[str, ...] | None:
    return None if boundary is None else tuple(sorted(boundary))
