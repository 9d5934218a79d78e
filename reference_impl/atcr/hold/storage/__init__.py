"""Blob storage drivers of the Hold, after the CNCF Distribution storage drivers.

One small protocol, two drivers: ``FilesystemStorage`` (default) and ``S3Storage`` (boto3).
Every method is blocking (callers run it in a worker thread). Driver failures that mean "the
storage cannot be reached or is broken" surface as ``StorageUnavailable`` — the routes answer
503 for it, never a hang or a traceback.

Keys: blobs live at ``blobs/<algorithm>/<hex[0:2]>/<hex>``; staging data for an upload is the
driver's business.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from ...digests import Digest

READ_CHUNK = 64 * 1024
MAX_PART_SIZE = 5 * 1024 * 1024 * 1024  # S3's own per-part limit


class StorageError(Exception):
    """Base class of driver errors."""


class StorageUnavailable(StorageError):
    """The backend cannot be reached or failed (answered as 503 StorageUnavailable)."""


class InvalidPart(StorageError):
    """A part named at completion is missing, its ETag differs, or the backend refused it."""


class DigestMismatch(StorageError):
    """The assembled bytes do not have the expected digest; nothing was stored."""

    def __init__(self, expected: Digest, actual: Digest) -> None:
        super().__init__(f"expected {expected}, got {actual}")
        self.expected = expected
        self.actual = actual


class PartTooLarge(StorageError):
    """A part body over MAX_PART_SIZE."""


@dataclass(frozen=True)
class UploadRef:
    """An upload as the driver knows it: the hold's id plus the driver's own token."""

    upload_id: str
    token: str  # S3 multipart UploadId; empty for the filesystem


@dataclass(frozen=True)
class PartInfo:
    etag: str  # S3 style: the quoted hex MD5 of the part
    size: int


@dataclass(frozen=True)
class PartRef:
    number: int
    etag: str


@dataclass(frozen=True)
class PartUrl:
    url: str
    method: str
    expires_in_s: int


class BlobStorage(Protocol):
    def stat(self, key: str) -> int | None:
        """Size of the blob at ``key``; None when absent."""

    def open_read(self, key: str, start: int, end: int) -> Iterator[bytes]:
        """Bytes ``[start, end)`` of the blob. The backend is contacted before this returns (so
        failures raise here, not mid-response); the iterator streams the rest."""

    def begin(self, upload_id: str) -> str:
        """Prepare staging for a new upload; returns the driver token to store with it."""

    def write_part(self, upload: UploadRef, number: int, chunks: Iterable[bytes]) -> PartInfo:
        """Store one part (replacing an earlier one with the same number), streaming."""

    def part_url(self, upload: UploadRef, number: int) -> PartUrl | None:
        """A presigned URL to send the part to directly; None if parts go through the hold."""

    def assemble(
        self, upload: UploadRef, parts: Sequence[PartRef], dest_key: str, digest: Digest | None
    ) -> int:
        """Join the parts in order into ``dest_key``, hashing while streaming; returns the size.

        With ``digest``, stores only if the bytes match (else DigestMismatch, staging discarded).
        With None (the ``no-digest-verify`` fault) stores without checking.
        """

    def abort(self, upload: UploadRef) -> None:
        """Delete every staged part of the upload; idempotent."""

    def delete(self, key: str) -> None:
        """Delete a blob; idempotent."""


def blob_key(digest: Digest) -> str:
    return f"blobs/{digest.algorithm}/{digest.hex[:2]}/{digest.hex}"


def normalise_etag(etag: str) -> str:
    """ETags compare without quotes and case (S3 returns them quoted)."""
    return etag.strip().strip('"').lower()


def quoted_etag(md5_hex: str) -> str:
    return f'"{md5_hex}"'
