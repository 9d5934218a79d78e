"""Which blobs were deleted from which repository (docs/atcr.md, end-10).

Blob bytes live in the owner's hold, which is shared by all of the owner's repositories and
content-addressed, so ``DELETE /v2/<name>/blobs/<digest>`` cannot remove them. Like CNCF
Distribution, which deletes a repository's *link* to a blob and leaves the blob store alone, a
delete here records that ``<digest>`` is unlinked from ``<name>``; reads in that repository then
answer BLOB_UNKNOWN while every other repository (and the hold) still serves the bytes. Pushing
the digest into the repository again (upload or mount) removes the record.

Only the exceptions are stored, not every link: a blob is visible in a repository when the hold
has it and no row says otherwise. Rows are keyed by the owner's DID (not the handle in the URL)
so both spellings of a name agree, and they live in SQLite so a delete survives a restart.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import anyio.to_thread

from ....common.sqlite import Database

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS blob_unlinks (
        owner_did TEXT NOT NULL,
        path TEXT NOT NULL,
        digest TEXT NOT NULL,
        PRIMARY KEY (owner_did, path, digest)
    ) WITHOUT ROWID""",
)


@dataclass(frozen=True)
class BlobLinks:
    """The unlinked (owner DID, repository path, digest) triples. SQLite calls run in worker
    threads: a durable write waits for an fsync, which must not stall the event loop."""

    db: Database

    @classmethod
    def open(cls, path: Path) -> BlobLinks:
        return cls(Database(path, SCHEMA))

    async def unlink(self, owner_did: str, path: str, digest: str) -> None:
        await anyio.to_thread.run_sync(
            self._write,
            "INSERT OR IGNORE INTO blob_unlinks (owner_did, path, digest) VALUES (?, ?, ?)",
            (owner_did, path, digest),
        )

    async def relink(self, owner_did: str, path: str, digest: str) -> None:
        await anyio.to_thread.run_sync(
            self._write,
            "DELETE FROM blob_unlinks WHERE owner_did = ? AND path = ? AND digest = ?",
            (owner_did, path, digest),
        )

    async def is_unlinked(self, owner_did: str, path: str, digest: str) -> bool:
        return bool(await self.unlinked_among(owner_did, path, (digest,)))

    async def unlinked_among(
        self, owner_did: str, path: str, digests: Iterable[str]
    ) -> frozenset[str]:
        """The subset of ``digests`` unlinked from the repository (one query per call)."""
        wanted = sorted(set(digests))
        if not wanted:
            return frozenset()
        return await anyio.to_thread.run_sync(self._unlinked, owner_did, path, wanted)

    def _write(self, sql: str, params: tuple[str, str, str]) -> None:
        with self.db.transaction() as conn:
            conn.execute(sql, params)

    def _unlinked(self, owner_did: str, path: str, digests: list[str]) -> frozenset[str]:
        # The digests travel as one JSON array: no SQL built from strings, and no bound-variable
        # limit however many layers a (4 MiB) manifest names.
        rows = self.db.query(
            "SELECT digest FROM blob_unlinks WHERE owner_did = ? AND path = ?"
            " AND digest IN (SELECT value FROM json_each(?))",
            (owner_did, path, json.dumps(digests)),
        )
        return frozenset(str(row["digest"]) for row in rows)
