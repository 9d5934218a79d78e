"""``FilesystemStorage``: blobs as files under the data directory.

Parts are files under ``uploads/<uploadId>/``; assembly concatenates them into a temporary file
while hashing (the digest and each part's MD5), and only an ``os.replace`` makes it the blob, so
a blob file is never partial or unverified.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from ...digests import Digest
from . import (
    MAX_PART_SIZE,
    READ_CHUNK,
    DigestMismatch,
    InvalidPart,
    PartInfo,
    PartRef,
    PartTooLarge,
    PartUrl,
    StorageUnavailable,
    UploadRef,
    normalise_etag,
    quoted_etag,
)


class FilesystemStorage:
    def __init__(self, root: Path) -> None:
        self.root = root

    # -- paths ----------------------------------------------------------------------------------

    def _path(self, key: str) -> Path:
        if key.startswith("/") or ".." in key.split("/"):
            raise ValueError(f"bad storage key {key!r}")
        return self.root / key

    def _upload_dir(self, upload: UploadRef | str) -> Path:
        upload_id = upload.upload_id if isinstance(upload, UploadRef) else upload
        if not upload_id or "/" in upload_id or upload_id.startswith("."):
            raise ValueError("bad upload id")
        return self.root / "uploads" / upload_id

    # -- blobs ------------------------------------------------------------------------------------

    def stat(self, key: str) -> int | None:
        try:
            return self._path(key).stat().st_size
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StorageUnavailable(f"filesystem: {exc.strerror}") from None

    def open_read(self, key: str, start: int, end: int) -> Iterator[bytes]:
        try:
            handle = self._path(key).open("rb")
            handle.seek(start)
        except OSError as exc:
            raise StorageUnavailable(f"filesystem: {exc.strerror}") from None

        def stream() -> Iterator[bytes]:
            with handle:
                remaining = end - start
                while remaining > 0:
                    chunk = handle.read(min(READ_CHUNK, remaining))
                    if not chunk:
                        return
                    remaining -= len(chunk)
                    yield chunk

        return stream()

    def delete(self, key: str) -> None:
        try:
            self._path(key).unlink(missing_ok=True)
        except OSError as exc:
            raise StorageUnavailable(f"filesystem: {exc.strerror}") from None

    # -- uploads ------------------------------------------------------------------------------

    def begin(self, upload_id: str) -> str:
        try:
            self._upload_dir(upload_id).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageUnavailable(f"filesystem: {exc.strerror}") from None
        return ""

    def write_part(self, upload: UploadRef, number: int, chunks: Iterable[bytes]) -> PartInfo:
        folder = self._upload_dir(upload)
        final = folder / f"{number:05d}.part"
        temp = folder / f"{number:05d}.part.tmp"
        md5 = hashlib.md5(usedforsecurity=False)
        size = 0
        try:
            folder.mkdir(parents=True, exist_ok=True)
            with temp.open("wb") as out:
                for chunk in chunks:
                    size += len(chunk)
                    if size > MAX_PART_SIZE:
                        raise PartTooLarge(f"a part may be at most {MAX_PART_SIZE} bytes")
                    md5.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temp, final)
        except OSError as exc:
            temp.unlink(missing_ok=True)
            raise StorageUnavailable(f"filesystem: {exc.strerror}") from None
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        return PartInfo(quoted_etag(md5.hexdigest()), size)

    def part_url(self, upload: UploadRef, number: int) -> PartUrl | None:
        return None  # parts go through the hold's own uploadPart

    def assemble(
        self, upload: UploadRef, parts: Sequence[PartRef], dest_key: str, digest: Digest | None
    ) -> int:
        folder = self._upload_dir(upload)
        temp = folder / "assembled.tmp"
        hasher = digest.hasher() if digest is not None else None
        size = 0
        try:
            with temp.open("wb") as out:
                for part in parts:
                    md5 = hashlib.md5(usedforsecurity=False)
                    try:
                        source = (folder / f"{part.number:05d}.part").open("rb")
                    except FileNotFoundError:
                        raise InvalidPart(f"part {part.number} was never uploaded") from None
                    with source:
                        while chunk := source.read(READ_CHUNK):
                            md5.update(chunk)
                            if hasher is not None:
                                hasher.update(chunk)
                            out.write(chunk)
                            size += len(chunk)
                    if md5.hexdigest() != normalise_etag(part.etag):
                        raise InvalidPart(f"part {part.number}: ETag does not match")
                out.flush()
                os.fsync(out.fileno())
            if hasher is not None and digest is not None and hasher.hexdigest() != digest.hex:
                raise DigestMismatch(digest, Digest(digest.algorithm, hasher.hexdigest()))
            dest = self._path(dest_key)
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.replace(temp, dest)
        except OSError as exc:
            temp.unlink(missing_ok=True)
            raise StorageUnavailable(f"filesystem: {exc.strerror}") from None
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        return size

    def abort(self, upload: UploadRef) -> None:
        try:
            shutil.rmtree(self._upload_dir(upload), ignore_errors=False)
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise StorageUnavailable(f"filesystem: {exc.strerror}") from None
