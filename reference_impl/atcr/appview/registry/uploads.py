"""Blob upload sessions spooled to disk (docs/atcr.md: end-4..6, end-13, end-14).

Each session is ``<spool>/<uuid>`` (the bytes so far) plus ``<spool>/<uuid>.json`` (which
repository it belongs to). The file *is* the state: its size is the offset, so a session outlives
the process. The running SHA-256 is kept in memory as a shortcut and recomputed from the file
when absent (after a restart) or when the client names another algorithm (sha512).

Chunks are copied from the request body in bounded buffers and each chunk is all-or-nothing:
on any failure (bad length, disconnect) the file is truncated back and the hash restored, so a
client may retry the chunk at the same offset. Callers hold ``session.lock`` around a sequence
of operations on one session.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import time
import uuid as uuidlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio.to_thread

from ...digests import Digest
from .errors import RegistryError

BUFFER_SIZE = 1 << 20  # bytes held before each write: memory per upload stays about this
_HASH_READ = 1 << 20
_UUID = re.compile(r"^[0-9a-f]{32}$")
_CONTENT_RANGE = re.compile(r"^(?:bytes[ =])?(\d{1,19})-(\d{1,19})(?:/(?:\d{1,19}|\*))?$")


@dataclass
class UploadSession:
    """Mutable state of one upload; only touched under ``lock``."""

    uuid: str
    repository: str
    path: Path
    offset: int
    hasher: Any | None  # hashlib sha256 over bytes [0, offset), or None: recompute from file
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    closed: bool = False

    @property
    def range_header(self) -> str:
        # ``Range: 0-<last byte>``; an empty session reports ``0-0`` as Distribution does.
        return f"0-{max(self.offset - 1, 0)}"


@dataclass(frozen=True)
class ChunkRange:
    """A ``Content-Range: <start>-<end>`` (inclusive) of a PATCH."""

    start: int
    end: int

    @property
    def length(self) -> int:
        return self.end - self.start + 1


def parse_content_range(value: str) -> ChunkRange:
    match = _CONTENT_RANGE.match(value.strip())
    if match is None:
        raise RegistryError(
            "BLOB_UPLOAD_INVALID", f"malformed Content-Range {value[:100]!r}: want <start>-<end>"
        )
    start, end = int(match.group(1)), int(match.group(2))
    if end < start:
        raise RegistryError("BLOB_UPLOAD_INVALID", "Content-Range end is before its start")
    return ChunkRange(start, end)


def parse_content_length(value: str | None) -> int | None:
    if value is None:
        return None
    if not value.strip().isdigit() or len(value.strip()) > 19:
        raise RegistryError("BLOB_UPLOAD_INVALID", "malformed Content-Length")
    return int(value)


class UploadStore:
    """The upload sessions of one app instance, spooled under ``spool_dir``."""

    def __init__(self, spool_dir: Path, clock: Callable[[], float] = time.time) -> None:
        self.spool_dir = spool_dir
        self._clock = clock
        self._sessions: dict[str, UploadSession] = {}
        spool_dir.mkdir(parents=True, exist_ok=True)

    # --- sessions ---------------------------------------------------------------------------

    def create(self, repository: str) -> UploadSession:
        upload_id = uuidlib.uuid4().hex
        path = self.spool_dir / upload_id
        path.write_bytes(b"")
        meta = {"repository": repository, "created": self._clock()}
        self._meta_path(upload_id).write_text(json.dumps(meta), encoding="utf-8")
        session = UploadSession(upload_id, repository, path, 0, hashlib.sha256())
        self._sessions[upload_id] = session
        return session

    def get(self, upload_id: str, repository: str) -> UploadSession:
        """The open session ``upload_id`` of ``repository``; BLOB_UPLOAD_UNKNOWN otherwise
        (also for ids that are not ours: they never reach the filesystem)."""
        unknown = RegistryError("BLOB_UPLOAD_UNKNOWN", "upload session unknown", upload_id[:64])
        if _UUID.match(upload_id) is None:
            raise unknown
        session = self._sessions.get(upload_id) or self._load(upload_id)
        if session is None or session.closed or session.repository != repository:
            raise unknown
        return session

    def _load(self, upload_id: str) -> UploadSession | None:
        path = self.spool_dir / upload_id
        try:
            meta = json.loads(self._meta_path(upload_id).read_text(encoding="utf-8"))
            size = path.stat().st_size
        except (OSError, ValueError):
            return None
        session = UploadSession(upload_id, str(meta.get("repository")), path, size, None)
        return self._sessions.setdefault(upload_id, session)

    def discard(self, session: UploadSession) -> None:
        session.closed = True
        self._sessions.pop(session.uuid, None)
        session.path.unlink(missing_ok=True)
        self._meta_path(session.uuid).unlink(missing_ok=True)

    def _meta_path(self, upload_id: str) -> Path:
        return self.spool_dir / f"{upload_id}.json"

    # --- data -------------------------------------------------------------------------------

    async def append(
        self,
        session: UploadSession,
        chunks: AsyncIterator[bytes],
        *,
        content_range: ChunkRange | None = None,
        content_length: int | None = None,
    ) -> int:
        """Append one chunk from ``chunks``; returns the bytes written. The chunk must start at
        the session's offset (416 otherwise) and match its declared lengths (400)."""
        expected = content_length
        if content_range is not None:
            if content_range.start != session.offset:
                raise RegistryError(
                    "BLOB_UPLOAD_INVALID",
                    f"chunk starts at {content_range.start}, the upload is at {session.offset}",
                    status=416,
                    headers=self.progress_headers(session),
                )
            if content_length is not None and content_length != content_range.length:
                raise RegistryError(
                    "BLOB_UPLOAD_INVALID", "Content-Length does not match Content-Range"
                )
            expected = content_range.length
        hasher: Any = session.hasher
        if hasher is None:
            hasher = await anyio.to_thread.run_sync(_hash_file, session.path, "sha256")
        session.hasher = hasher
        start, saved = session.offset, hasher.copy()
        written = 0
        try:
            with session.path.open("ab") as out:
                buffer = bytearray()
                async for piece in chunks:
                    if expected is not None and written + len(buffer) + len(piece) > expected:
                        raise RegistryError(
                            "BLOB_UPLOAD_INVALID", "chunk is longer than it was declared"
                        )
                    buffer += piece
                    if len(buffer) >= BUFFER_SIZE:
                        await anyio.to_thread.run_sync(_write, out, hasher, bytes(buffer))
                        written += len(buffer)
                        buffer.clear()
                if buffer:
                    await anyio.to_thread.run_sync(_write, out, hasher, bytes(buffer))
                    written += len(buffer)
            if expected is not None and written != expected:
                raise RegistryError(
                    "BLOB_UPLOAD_INVALID", f"chunk has {written} bytes, {expected} declared"
                )
        except BaseException:
            # All-or-nothing: the client may resend this chunk at the same offset.
            with session.path.open("r+b") as out:
                out.truncate(start)
            session.hasher = saved
            raise
        session.offset = start + written
        return written

    async def verify(self, session: UploadSession, digest: Digest) -> bool:
        """Whether the spooled bytes have ``digest``."""
        if digest.algorithm == "sha256" and session.hasher is not None:
            return bool(session.hasher.hexdigest() == digest.hex)
        hasher = await anyio.to_thread.run_sync(_hash_file, session.path, digest.algorithm)
        return bool(hasher.hexdigest() == digest.hex)

    def progress_headers(self, session: UploadSession) -> dict[str, str]:
        return {"Range": session.range_header, "Docker-Upload-UUID": session.uuid}


def _write(out: Any, hasher: Any, data: bytes) -> None:
    out.write(data)
    hasher.update(data)


def _hash_file(path: Path, algorithm: str) -> Any:
    hasher = hashlib.new(algorithm)
    with path.open("rb") as source:
        while block := source.read(_HASH_READ):
            hasher.update(block)
    return hasher
