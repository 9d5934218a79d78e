"""A repository's committed blocks, read through an open SQLite connection (atmst's
``BlockStore`` interface). Writes go through the owning service's own transaction, never
through this view, so the store refuses them."""

from __future__ import annotations

import sqlite3

from atmst.blockstore import BlockStore


class CommittedBlocks(BlockStore):
    """Rows of ``repo_block(cid BLOB PRIMARY KEY, content BLOB)``."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def get_block(self, key: bytes) -> bytes:
        row = self.conn.execute("SELECT content FROM repo_block WHERE cid = ?", (key,)).fetchone()
        if row is None:
            raise KeyError("no such block")
        return bytes(row[0])

    def put_block(self, key: bytes, value: bytes) -> None:
        raise TypeError("committed blocks are written by the repository's service only")

    def del_block(self, key: bytes) -> None:
        raise TypeError("committed blocks are never deleted in place")
