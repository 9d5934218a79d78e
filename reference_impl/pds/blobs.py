"""Blobs: upload (content-addressed, raw codec), serve, and list those records reference."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..common.errors import XrpcError
from ..common.sqlite import Database
from ..primitives.dagcbor import cid_for_raw
from .accounts import now_iso

MAX_BLOB_BYTES = 50 * 1024 * 1024


@dataclass(frozen=True)
class StoredBlob:
    cid: str
    mime_type: str
    size: int
    content: bytes


class BlobService:
    def __init__(self, db: Database) -> None:
        self.db = db

    def upload(self, did: str, data: bytes, mime_type: str | None) -> dict[str, Any]:
        if len(data) > MAX_BLOB_BYTES:
            raise XrpcError(400, "BlobTooLarge", f"Blob is over {MAX_BLOB_BYTES} bytes")
        cid = cid_for_raw(data).encode()
        mime = mime_type or "application/octet-stream"
        with self.db.transaction() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO blob (did, cid, mime_type, size, content, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (did, cid, mime, len(data), data, now_iso()),
            )
        return {"$type": "blob", "ref": {"$link": cid}, "mimeType": mime, "size": len(data)}

    def get(self, did: str, cid: str) -> StoredBlob | None:
        row = self.db.query_one(
            "SELECT cid, mime_type, size, content FROM blob WHERE did = ? AND cid = ?", (did, cid)
        )
        if row is None:
            return None
        return StoredBlob(row["cid"], row["mime_type"], row["size"], bytes(row["content"]))

    def exists(self, did: str, cid: str) -> bool:
        return (
            self.db.query_one("SELECT 1 FROM blob WHERE did = ? AND cid = ?", (did, cid))
            is not None
        )

    def list_referenced(
        self, did: str, since: str | None, limit: int, cursor: str | None
    ) -> tuple[list[str], str | None]:
        """Blob CIDs that current records reference, in CID order, paginated by CID."""
        rows = self.db.query(
            "SELECT DISTINCT blob_cid FROM record_blob WHERE did = ? AND blob_cid > ? AND rev > ?"
            " ORDER BY blob_cid LIMIT ?",
            (did, cursor or "", since or "", limit + 1),
        )
        cids = [r["blob_cid"] for r in rows]
        next_cursor = cids[limit - 1] if len(cids) > limit else None
        return cids[:limit], next_cursor
