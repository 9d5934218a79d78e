"""Multipart blob uploads: state in hold.sqlite, bytes in the storage driver.

An upload belongs to the DID that started it; to anyone else (and once finished, aborted or
expired) it does not exist (404 UploadNotFound). All methods block (SQLite, storage); the
routes run them in worker threads.
"""

from __future__ import annotations

import contextlib
import secrets
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from ...common.errors import XrpcError, invalid_request
from ...common.sqlite import Database
from ..digests import Digest, InvalidDigest, parse_digest
from .storage import (
    BlobStorage,
    DigestMismatch,
    InvalidPart,
    PartInfo,
    PartRef,
    PartTooLarge,
    PartUrl,
    StorageError,
    UploadRef,
    blob_key,
    normalise_etag,
)

UPLOAD_TTL_S = 24 * 3600


@dataclass(frozen=True)
class Upload:
    id: str
    did: str
    digest: str
    ref: UploadRef
    expires_at: float


@dataclass(frozen=True)
class Initiated:
    upload_id: str
    part_size: int
    expires_at: float


@dataclass(frozen=True)
class Completed:
    digest: str
    size: int


def parse_digest_or_400(text: str) -> Digest:
    try:
        return parse_digest(text)
    except InvalidDigest as exc:
        raise invalid_request(str(exc), "InvalidDigest") from None


def not_found() -> XrpcError:
    return XrpcError(404, "UploadNotFound", "No such upload (unknown, finished, or aborted)")


class UploadService:
    def __init__(
        self,
        db: Database,
        storage: BlobStorage,
        part_size: int,
        verify_digests: bool = True,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.db = db
        self.storage = storage
        self.part_size = part_size
        self.verify_digests = verify_digests
        self.clock = clock

    def initiate(
        self, did: str, digest_text: str, size: int | None, media_type: str | None
    ) -> Initiated:
        digest = parse_digest_or_400(digest_text)
        upload_id = secrets.token_urlsafe(24)
        token = self.storage.begin(upload_id)
        now = self.clock()
        expires = now + UPLOAD_TTL_S
        with self.db.transaction() as conn:
            conn.execute(
                "INSERT INTO upload (id, did, digest, storage_token, size, media_type,"
                " created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (upload_id, did, str(digest), token, size, media_type, now, expires),
            )
        return Initiated(upload_id, self.part_size, expires)

    def get(self, did: str, upload_id: str) -> Upload:
        row = self.db.query_one(
            "SELECT id, did, digest, storage_token, expires_at FROM upload WHERE id = ?",
            (upload_id,),
        )
        if row is None or row["did"] != did:
            raise not_found()
        upload = Upload(
            row["id"],
            row["did"],
            row["digest"],
            UploadRef(row["id"], row["storage_token"]),
            row["expires_at"],
        )
        if upload.expires_at <= self.clock():
            self._discard(upload)
            raise not_found()
        return upload

    def part_url(self, did: str, upload_id: str, number: int) -> PartUrl | None:
        return self.storage.part_url(self.get(did, upload_id).ref, number)

    def write_part(self, upload: Upload, number: int, chunks: Iterable[bytes]) -> PartInfo:
        try:
            info = self.storage.write_part(upload.ref, number, chunks)
        except PartTooLarge as exc:
            raise XrpcError(413, "PartTooLarge", str(exc)) from None
        except InvalidPart as exc:
            raise XrpcError(404, "UploadNotFound", str(exc)) from None
        with self.db.transaction() as conn:
            if conn.execute("SELECT 1 FROM upload WHERE id = ?", (upload.id,)).fetchone() is None:
                # Aborted while the part was streaming: do not resurrect it.
                raise not_found()
            conn.execute(
                "INSERT INTO upload_part (upload_id, part_number, etag, size) VALUES (?, ?, ?, ?)"
                " ON CONFLICT(upload_id, part_number) DO UPDATE SET etag = excluded.etag,"
                " size = excluded.size",
                (upload.id, number, info.etag, info.size),
            )
        return info

    def complete(
        self, did: str, upload_id: str, digest_text: str, parts: Sequence[dict[str, Any]]
    ) -> Completed:
        upload = self.get(did, upload_id)
        digest = parse_digest_or_400(digest_text)
        refs = [PartRef(int(p["partNumber"]), str(p["etag"])) for p in parts]
        if not refs:
            raise invalid_request("parts must not be empty", "InvalidPart")
        numbers = [r.number for r in refs]
        if numbers != sorted(set(numbers)):
            raise invalid_request(
                "parts must be in ascending partNumber order, each once", "InvalidPart"
            )
        # Parts that went through the hold are known here: refuse a wrong ETag before any I/O.
        # (Parts sent to presigned URLs are checked by the driver against the storage itself.)
        known = {
            r["part_number"]: r["etag"]
            for r in self.db.query(
                "SELECT part_number, etag FROM upload_part WHERE upload_id = ?", (upload.id,)
            )
        }
        for ref in refs:
            if ref.number in known and normalise_etag(known[ref.number]) != normalise_etag(
                ref.etag
            ):
                raise invalid_request(f"part {ref.number}: ETag does not match", "InvalidPart")
        try:
            size = self.storage.assemble(
                upload.ref, refs, blob_key(digest), digest if self.verify_digests else None
            )
        except InvalidPart as exc:
            raise invalid_request(str(exc), "InvalidPart") from None
        except DigestMismatch as exc:
            # The contract: a mismatch discards the whole upload, nothing is stored.
            self._discard(upload)
            raise invalid_request(
                f"assembled blob has digest {exc.actual}, not {exc.expected}", "DigestMismatch"
            ) from None
        self._forget(upload.id)
        # Staging leftovers only: the blob is already in place, so a failed cleanup is no error.
        with contextlib.suppress(StorageError):
            self.storage.abort(upload.ref)
        return Completed(str(digest), size)

    def abort(self, did: str, upload_id: str) -> None:
        self._discard(self.get(did, upload_id))

    def _discard(self, upload: Upload) -> None:
        self.storage.abort(upload.ref)
        self._forget(upload.id)

    def _forget(self, upload_id: str) -> None:
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM upload WHERE id = ?", (upload_id,))
