"""The Hold's own repository: ``io.atcr.hold.captain/self`` and ``io.atcr.hold.crew`` records.

A real MST with signed commits (primitives/repo.py), persisted in hold.sqlite. The records are
written from the settings at startup, idempotently: a restart with the same settings makes no
commit; changed captain settings make one update; each new ``HOLD_CREW`` DID gets one record.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from cbrrr import CID

from lexicons import Catalog

from ...common.repo_blocks import CommittedBlocks
from ...common.sqlite import Database
from ...primitives import dagcbor, repo
from ...primitives.keys import SigningKey
from ...primitives.tid import TidClock

log = logging.getLogger("reference_impl.atcr.hold.repo")

CAPTAIN = "io.atcr.hold.captain"
CREW = "io.atcr.hold.crew"
WRITER_PERMISSIONS = ("blob:read", "blob:write")
# The owner may do everything a crew member may, without needing a crew record.
OWNER_PERMISSIONS = frozenset({"blob:read", "blob:write", "crew:admin"})


@dataclass(frozen=True)
class Captain:
    owner: str
    public: bool
    allow_all_crew: bool


def _now_iso(clock: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(clock))


class HoldRepo:
    def __init__(self, db: Database, did: str, key: SigningKey, catalog: Catalog) -> None:
        self.db = db
        self.did = did
        self.key = key
        self.catalog = catalog
        self.tids = TidClock()
        row = db.query_one("SELECT rev FROM repo_root WHERE id = 1")
        if row is not None:
            self.tids.observe(row["rev"])

    # -- startup ------------------------------------------------------------------------------

    def sync_settings(self, captain: Captain, crew: Iterable[str], now: float) -> None:
        """Make the repo say what the settings say, committing only when something differs."""
        with self.db.transaction() as conn:
            head = self._head(conn)
            if head is not None and repo.read_commit(CommittedBlocks(conn), head).did != self.did:
                # The hold was given another identity (HOLD_DID / public URL changed): its
                # records belonged to the old DID, so this DID starts a fresh repo.
                log.warning("hold DID changed to %s: starting a new repo", self.did)
                for table in ("record", "repo_root", "repo_block"):
                    conn.execute(f"DELETE FROM {table}")  # noqa: S608 - fixed table names
                head = None
            ops: list[repo.WriteOp] = []
            wanted = {
                "$type": CAPTAIN,
                "owner": captain.owner,
                "public": captain.public,
                "allowAllCrew": captain.allow_all_crew,
            }
            current = self._value(conn, CAPTAIN, "self")
            if current is None or any(current.get(k) != v for k, v in wanted.items()):
                record = {**wanted, "deployedAt": _now_iso(now)}
                self.catalog.validate_record(CAPTAIN, record)
                ops.append(
                    repo.WriteOp(
                        "create" if current is None else "update",
                        CAPTAIN,
                        "self",
                        dagcbor.json_to_ipld(record),
                    )
                )
            members = {v.get("member") for _, v in self._records(conn, CREW)}
            for did in crew:
                if did in members:
                    continue
                members.add(did)
                record = {
                    "$type": CREW,
                    "member": did,
                    "role": "writer",
                    "permissions": list(WRITER_PERMISSIONS),
                    "addedAt": _now_iso(now),
                }
                self.catalog.validate_record(CREW, record)
                ops.append(
                    repo.WriteOp("create", CREW, self.tids.next(), dagcbor.json_to_ipld(record))
                )
            if head is not None and not ops:
                return
            result = repo.apply_writes(
                CommittedBlocks(conn), self.did, self.key, head, ops, self.tids.next()
            )
            conn.executemany(
                "INSERT INTO repo_block (cid, content, rev) VALUES (?, ?, ?)"
                " ON CONFLICT(cid) DO UPDATE SET rev = excluded.rev",
                [(bytes(c), b, result.rev) for c, b in result.new_blocks.items()],
            )
            conn.execute(
                "INSERT INTO repo_root (id, commit_cid, rev) VALUES (1, ?, ?)"
                " ON CONFLICT(id) DO UPDATE SET commit_cid = excluded.commit_cid,"
                " rev = excluded.rev",
                (result.commit_cid.encode(), result.rev),
            )
            for (collection, rkey), cid in result.record_cids.items():
                conn.execute(
                    "INSERT INTO record (collection, rkey, cid) VALUES (?, ?, ?)"
                    " ON CONFLICT(collection, rkey) DO UPDATE SET cid = excluded.cid",
                    (collection, rkey, cid.encode()),
                )

    # -- policy inputs ------------------------------------------------------------------------

    def captain(self) -> Captain:
        with self.db.snapshot() as conn:
            value = self._value(conn, CAPTAIN, "self") or {}
        return Captain(
            owner=str(value.get("owner", self.did)),
            public=bool(value.get("public", True)),
            allow_all_crew=bool(value.get("allowAllCrew", False)),
        )

    def permissions(self, did: str) -> frozenset[str]:
        """Union of the permissions of every crew record naming ``did``."""
        with self.db.snapshot() as conn:
            records = self._records(conn, CREW)
        granted: set[str] = set()
        for _, value in records:
            perms = value.get("permissions")
            if value.get("member") == did and isinstance(perms, list):
                granted.update(p for p in perms if isinstance(p, str))
        return frozenset(granted)

    # -- reads (XRPC) ---------------------------------------------------------------------------

    def get_record(self, collection: str, rkey: str) -> tuple[str, dict[str, Any]] | None:
        with self.db.snapshot() as conn:
            row = conn.execute(
                "SELECT cid FROM record WHERE collection = ? AND rkey = ?", (collection, rkey)
            ).fetchone()
            if row is None:
                return None
            return row["cid"], self._decode(conn, row["cid"])

    def list_records(
        self, collection: str, limit: int, cursor: str | None, reverse: bool
    ) -> tuple[list[dict[str, Any]], str | None]:
        # Newest first by default (TID keys sort by time), as PDSes answer.
        if reverse:
            sql = (
                "SELECT rkey, cid FROM record WHERE collection = ? AND rkey > ?"
                " ORDER BY rkey ASC LIMIT ?"
            )
            bound = cursor or ""
        else:
            sql = (
                "SELECT rkey, cid FROM record WHERE collection = ? AND rkey < ?"
                " ORDER BY rkey DESC LIMIT ?"
            )
            bound = cursor or "\U0010ffff"
        with self.db.snapshot() as conn:
            rows = conn.execute(sql, (collection, bound, limit + 1)).fetchall()
            records = [
                {
                    "uri": f"at://{self.did}/{collection}/{r['rkey']}",
                    "cid": r["cid"],
                    "value": self._decode(conn, r["cid"]),
                }
                for r in rows[:limit]
            ]
        return records, (rows[limit - 1]["rkey"] if len(rows) > limit else None)

    def collections(self) -> list[str]:
        rows = self.db.query("SELECT DISTINCT collection FROM record ORDER BY collection")
        return [r["collection"] for r in rows]

    def export(self) -> bytes:
        with self.db.snapshot() as conn:
            head = self._head(conn)
            if head is None:
                raise repo.RepoError("the hold repo has no commit yet")
            return repo.export_car(CommittedBlocks(conn), head)

    # -- helpers ------------------------------------------------------------------------------

    @staticmethod
    def _head(conn: sqlite3.Connection) -> CID | None:
        row = conn.execute("SELECT commit_cid FROM repo_root WHERE id = 1").fetchone()
        return CID.decode(row["commit_cid"]) if row else None

    def _value(self, conn: sqlite3.Connection, collection: str, rkey: str) -> dict[str, Any] | None:
        row = conn.execute(
            "SELECT cid FROM record WHERE collection = ? AND rkey = ?", (collection, rkey)
        ).fetchone()
        return self._decode(conn, row["cid"]) if row else None

    def _records(
        self, conn: sqlite3.Connection, collection: str
    ) -> list[tuple[str, dict[str, Any]]]:
        rows = conn.execute(
            "SELECT rkey, cid FROM record WHERE collection = ? ORDER BY rkey", (collection,)
        ).fetchall()
        return [(r["rkey"], self._decode(conn, r["cid"])) for r in rows]

    @staticmethod
    def _decode(conn: sqlite3.Connection, cid: str) -> dict[str, Any]:
        block = CommittedBlocks(conn).get_block(bytes(CID.decode(cid)))
        value: dict[str, Any] = dagcbor.ipld_to_json(dagcbor.decode(block))
        return value
