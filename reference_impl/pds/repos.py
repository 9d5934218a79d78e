"""Repositories: record writes as signed commits over the MST, reads, CAR export and proofs.

Each write is one SQLite transaction: read the head, build the commit over the stored blocks,
persist the new blocks, move the head and update the record index. Nothing is acknowledged
before that transaction is on disk.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

from atmst.blockstore import BlockStore
from cbrrr import CID

from lexicons import Catalog, LexiconValidationError
from lexicons.datamodel import check_data_model
from lexicons.syntax import is_valid_nsid, is_valid_record_key

from ..common.errors import XrpcError, invalid_request
from ..common.sqlite import Database
from ..primitives import dagcbor, repo
from ..primitives.tid import TidClock
from .accounts import Account
from .blobs import BlobService


class _Unset:
    """Marks an optional swap value the caller did not send (``null`` means "must not exist")."""


UNSET = _Unset()


@dataclass(frozen=True)
class RecordWrite:
    action: Literal["create", "update", "delete"]
    collection: str
    rkey: str | None
    value: dict[str, Any] | None = None
    swap_record: str | _Unset | None = UNSET


@dataclass(frozen=True)
class WriteResult:
    action: str
    uri: str
    cid: str | None
    validation_status: str | None


@dataclass(frozen=True)
class CommitOutcome:
    commit_cid: str
    rev: str
    results: tuple[WriteResult, ...]

    def commit_meta(self) -> dict[str, str]:
        return {"cid": self.commit_cid, "rev": self.rev}


class SqliteBlocks(BlockStore):
    """One account's committed blocks, read through an open connection (atmst's interface)."""

    def __init__(self, conn: sqlite3.Connection, did: str) -> None:
        self.conn = conn
        self.did = did

    def get_block(self, key: bytes) -> bytes:
        row = self.conn.execute(
            "SELECT content FROM repo_block WHERE did = ? AND cid = ?", (self.did, key)
        ).fetchone()
        if row is None:
            raise KeyError("no such block")
        return bytes(row[0])

    def put_block(self, key: bytes, value: bytes) -> None:
        raise TypeError("committed blocks are written by RepoService only")

    def del_block(self, key: bytes) -> None:
        raise TypeError("committed blocks are never deleted in place")


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


class RepoService:
    def __init__(self, db: Database, blobs: BlobService, catalog: Catalog, tids: TidClock) -> None:
        self.db = db
        self.blobs = blobs
        self.catalog = catalog
        self.tids = tids

    # -- writes -----------------------------------------------------------------------------

    def create_repo(self, conn: sqlite3.Connection, account: Account) -> None:
        """The signed empty commit every new account starts with."""
        result = repo.empty_commit(account.did, account.signing_key, self.tids.next())
        self._persist(conn, account.did, result)

    def _prepare(
        self, write: RecordWrite, validate: bool | None
    ) -> tuple[repo.WriteOp | None, str | None, str]:
        """Check one write and make its record IPLD; returns (op, validation status, rkey)."""
        if not is_valid_nsid(write.collection):
            raise invalid_request(f"Invalid collection NSID: {write.collection!r}")
        schema = self.catalog.record_schema(write.collection)
        rkey = write.rkey
        if rkey is None:
            if write.action != "create":
                raise invalid_request("rkey is required")
            if schema is not None and schema.key.startswith("literal:"):
                rkey = schema.key.removeprefix("literal:")
            else:
                rkey = self.tids.next()
        if not is_valid_record_key(rkey):
            raise invalid_request(f"Invalid record key: {rkey!r}")
        if (
            schema is not None
            and schema.key.startswith("literal:")
            and rkey != schema.key.removeprefix("literal:")
        ):
            literal = schema.key.removeprefix("literal:")
            raise invalid_request(f"{write.collection} records must use the key {literal!r}")
        if write.action == "delete":
            return None, None, rkey
        value = dict(write.value or {})
        declared_type = value.setdefault("$type", write.collection)
        if declared_type != write.collection:
            raise invalid_request(
                f"Record $type {declared_type!r} does not match collection {write.collection!r}"
            )
        try:
            check_data_model(value)
        except LexiconValidationError as exc:
            raise invalid_request(f"Invalid record: {exc}") from exc
        status = "unknown"
        if schema is not None and validate is not False:
            try:
                self.catalog.validate_record(write.collection, value)
            except LexiconValidationError as exc:
                raise invalid_request(f"Invalid {write.collection} record: {exc}") from exc
            status = "valid"
        elif schema is None and validate is True:
            raise invalid_request(
                f"Unknown lexicon {write.collection}; cannot validate (use validate=false)"
            )
        op = repo.WriteOp(write.action, write.collection, rkey, dagcbor.json_to_ipld(value))
        return op, status, rkey

    def apply(
        self,
        account: Account,
        writes: list[RecordWrite],
        validate: bool | None = None,
        swap_commit: str | None = None,
    ) -> CommitOutcome:
        prepared = [self._prepare(w, validate) for w in writes]
        with self.db.transaction() as conn:
            head_cid, _ = self._head(conn, account.did)
            if swap_commit is not None and (head_cid is None or swap_commit != head_cid.encode()):
                raise XrpcError(400, "InvalidSwap", f"Commit was at {head_cid}")
            ops: list[repo.WriteOp] = []
            results: list[WriteResult] = []
            for write, (op, status, rkey) in zip(writes, prepared, strict=True):
                current = self._record_cid(conn, account.did, write.collection, rkey)
                if not isinstance(write.swap_record, _Unset) and write.swap_record != current:
                    raise XrpcError(400, "InvalidSwap", f"Record was at {current}")
                uri = f"at://{account.did}/{write.collection}/{rkey}"
                if write.action == "create" and current is not None:
                    raise invalid_request(f"Record already exists: {uri}")
                if write.action in ("update", "delete") and current is None:
                    if write.action == "delete":
                        raise XrpcError(400, "RecordNotFound", f"Could not locate record: {uri}")
                    op = repo.WriteOp("create", write.collection, rkey, op.value if op else None)
                ops.append(
                    op if op is not None else repo.WriteOp("delete", write.collection, rkey, None)
                )
                results.append(WriteResult(write.action, uri, None, status))
            if not ops:
                raise invalid_request("No writes given")
            rev = self.tids.next()
            result = repo.apply_writes(
                SqliteBlocks(conn, account.did),
                account.did,
                account.signing_key,
                head_cid,
                ops,
                rev,
            )
            self._persist(conn, account.did, result)
            for op in ops:
                self._index(conn, account.did, op, result)
        final = tuple(
            WriteResult(
                r.action,
                r.uri,
                result.record_cids[(o.collection, o.rkey)].encode()
                if o.action != "delete"
                else None,
                r.validation_status,
            )
            for r, o in zip(results, ops, strict=True)
        )
        return CommitOutcome(result.commit_cid.encode(), result.rev, final)

    def _persist(self, conn: sqlite3.Connection, did: str, result: repo.CommitResult) -> None:
        conn.executemany(
            # A block that reappears (a record deleted, then recreated) takes the new rev, so that
            # `since` exports include it.
            "INSERT INTO repo_block (did, cid, content, rev) VALUES (?, ?, ?, ?)"
            " ON CONFLICT(did, cid) DO UPDATE SET rev = excluded.rev",
            [(did, bytes(cid), block, result.rev) for cid, block in result.new_blocks.items()],
        )
        conn.execute(
            "INSERT INTO repo_root (did, commit_cid, rev) VALUES (?, ?, ?)"
            " ON CONFLICT(did) DO UPDATE SET commit_cid = excluded.commit_cid, rev = excluded.rev",
            (did, result.commit_cid.encode(), result.rev),
        )

    def _index(
        self, conn: sqlite3.Connection, did: str, op: repo.WriteOp, result: repo.CommitResult
    ) -> None:
        key = (did, op.collection, op.rkey)
        conn.execute("DELETE FROM record_blob WHERE did = ? AND collection = ? AND rkey = ?", key)
        if op.action == "delete":
            conn.execute("DELETE FROM record WHERE did = ? AND collection = ? AND rkey = ?", key)
            return
        cid = result.record_cids[(op.collection, op.rkey)].encode()
        conn.execute(
            "INSERT INTO record (did, collection, rkey, cid, rev) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT(did, collection, rkey)"
            " DO UPDATE SET cid = excluded.cid, rev = excluded.rev",
            (*key, cid, result.rev),
        )
        for blob_cid in sorted(set(_blob_refs(op.value))):
            if (
                conn.execute(
                    "SELECT 1 FROM blob WHERE did = ? AND cid = ?", (did, blob_cid)
                ).fetchone()
                is None
            ):
                raise invalid_request(f"Could not find blob: {blob_cid}", "BlobNotFound")
            conn.execute(
                "INSERT OR IGNORE INTO record_blob (did, collection, rkey, blob_cid, rev)"
                " VALUES (?, ?, ?, ?, ?)",
                (*key, blob_cid, result.rev),
            )

    # -- reads ------------------------------------------------------------------------------

    @staticmethod
    def _head(conn: sqlite3.Connection, did: str) -> tuple[CID | None, str | None]:
        row = conn.execute("SELECT commit_cid, rev FROM repo_root WHERE did = ?", (did,)).fetchone()
        return (CID.decode(row["commit_cid"]), row["rev"]) if row else (None, None)

    @staticmethod
    def _record_cid(conn: sqlite3.Connection, did: str, collection: str, rkey: str) -> str | None:
        row = conn.execute(
            "SELECT cid FROM record WHERE did = ? AND collection = ? AND rkey = ?",
            (did, collection, rkey),
        ).fetchone()
        return row["cid"] if row else None

    def head(self, did: str) -> tuple[str, str]:
        row = self.db.query_one("SELECT commit_cid, rev FROM repo_root WHERE did = ?", (did,))
        if row is None:
            raise XrpcError(400, "RepoNotFound", f"Could not find repo for DID: {did}")
        return row["commit_cid"], row["rev"]

    def _value(self, conn: sqlite3.Connection, did: str, cid: str) -> dict[str, Any]:
        block = SqliteBlocks(conn, did).get_block(bytes(CID.decode(cid)))
        value: dict[str, Any] = dagcbor.ipld_to_json(dagcbor.decode(block))
        return value

    def get_record(
        self, did: str, collection: str, rkey: str, cid: str | None = None
    ) -> tuple[str, dict[str, Any]] | None:
        with self.db.snapshot() as conn:
            current = self._record_cid(conn, did, collection, rkey)
            if current is None or (cid is not None and cid != current):
                return None
            return current, self._value(conn, did, current)

    def list_records(
        self, did: str, collection: str, limit: int, cursor: str | None, reverse: bool
    ) -> tuple[list[dict[str, Any]], str | None]:
        # Newest first by default: TID keys sort by time, so descending key order.
        if reverse:
            sql = (
                "SELECT rkey, cid FROM record WHERE did = ? AND collection = ? AND rkey > ?"
                " ORDER BY rkey ASC LIMIT ?"
            )
            bound = cursor or ""
        else:
            sql = (
                "SELECT rkey, cid FROM record WHERE did = ? AND collection = ? AND rkey < ?"
                " ORDER BY rkey DESC LIMIT ?"
            )
            bound = cursor or "\U0010ffff"
        with self.db.snapshot() as conn:
            rows = conn.execute(sql, (did, collection, bound, limit + 1)).fetchall()
            records = [
                {
                    "uri": f"at://{did}/{collection}/{r['rkey']}",
                    "cid": r["cid"],
                    "value": self._value(conn, did, r["cid"]),
                }
                for r in rows[:limit]
            ]
        next_cursor = rows[limit - 1]["rkey"] if len(rows) > limit else None
        return records, next_cursor

    def collections(self, did: str) -> list[str]:
        rows = self.db.query(
            "SELECT DISTINCT collection FROM record WHERE did = ? ORDER BY collection", (did,)
        )
        return [r["collection"] for r in rows]

    def export(self, did: str, since: str | None) -> bytes:
        with self.db.snapshot() as conn:
            head_cid, _ = self._head(conn, did)
            if head_cid is None:
                raise XrpcError(400, "RepoNotFound", f"Could not find repo for DID: {did}")

            def rev_of_block(cid: CID) -> str | None:
                row = conn.execute(
                    "SELECT rev FROM repo_block WHERE did = ? AND cid = ?", (did, bytes(cid))
                ).fetchone()
                return row["rev"] if row else None

            return repo.export_car(
                SqliteBlocks(conn, did), head_cid, since_rev=since, rev_of_block=rev_of_block
            )

    def proof(self, did: str, collection: str, rkey: str) -> bytes:
        with self.db.snapshot() as conn:
            head_cid, _ = self._head(conn, did)
            if head_cid is None:
                raise XrpcError(400, "RepoNotFound", f"Could not find repo for DID: {did}")
            return repo.record_proof_car(SqliteBlocks(conn, did), head_cid, collection, rkey)

    def last_rev(self) -> str | None:
        row = self.db.query_one("SELECT MAX(rev) AS rev FROM repo_root")
        return row["rev"] if row and row["rev"] else None
